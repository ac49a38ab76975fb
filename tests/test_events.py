"""The moderators' live feed, served by a real API process and fed by LISTEN/NOTIFY.

Changes are made through another app instance (a second API process, as far as
PostgreSQL can tell), so an event only arrives if NOTIFY carried it across.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from moderation import db, moderators
from moderation.db import transitions
from moderation.sites import Site
from tests.factories import Poster, desk_csrf, desk_sign_in, moderator_token
from tests.workers import Process, free_port, live_api, wait_until, worker_env


@dataclass
class Event:
    kind: str
    id: str
    data: dict[str, object] = field(default_factory=dict)


@pytest.fixture
def api_process(tmp_path: Path, database_url: str) -> Iterator[str]:
    port = free_port()
    env = worker_env(database_url, "redis://127.0.0.1:9/0", tmp_path)
    process = Process(["api", "--port", str(port)], env, tmp_path / "api.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


class Feed:
    """An open SSE connection, read event by event."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    async def next(self, seconds: float = 15) -> Event:
        async with asyncio.timeout(seconds):
            kind, event_id, data = "message", "", ""
            async for line in self._lines:
                if line.startswith(":"):
                    continue
                if not line:
                    if data:
                        return Event(kind, event_id, orjson.loads(data))
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    kind = value
                elif name == "id":
                    event_id = value
                elif name == "data":
                    data += value
        raise AssertionError("the feed ended")

    async def until(self, kind: str, seconds: float = 15) -> Event:
        while True:
            event = await self.next(seconds)
            if event.kind == kind:
                return event


def open_feed(
    client: httpx.AsyncClient, base: str, site: Site, token: str, last_id: str | None = None
) -> AsyncGenerator[Feed]:
    """The API's feed of `site` for the holder of `token`."""
    headers = {"Authorization": f"Bearer {token}"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    return stream_feed(client, f"{base}/v1/moderation/events?site={site.slug}", headers)


async def stream_feed(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncGenerator[Feed]:
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Feed(response.aiter_lines())


async def wait_ready(base: str) -> None:
    async def ready() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{base}/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    await wait_until(ready, 60, "the API process")


async def hold(poster: Poster, conn: asyncpg.Connection, body: str) -> int:
    comment = await poster.comment(body=body)
    change = transitions.Change(comment, "pending", "review", "insult 0.60 ≥ 0.50")
    await transitions.transition(conn, [change])
    return comment


async def test_the_feed_of_one_process_receives_changes_made_by_another(
    api_process: str, poster: Poster, conn: asyncpg.Connection
) -> None:
    await wait_ready(api_process)
    _, token = await moderators.create(conn, "Desk", "moderator", [poster.site.id])
    async with httpx.AsyncClient(timeout=30) as client:
        feeds = open_feed(client, api_process, poster.site, token)
        feed = await anext(feeds)
        first = await feed.next()
        assert first.kind == "counts"

        comment = await hold(poster, conn, "Held while the desk watches")
        held = await feed.until("held")
        assert held.data["comment_id"] == comment
        counts = await feed.until("counts")
        assert counts.data["counts"]["review"] == 1  # type: ignore[index]

        # Another moderator, through another app instance, decides it.
        _, other = await moderators.create(conn, "Other", "moderator", [poster.site.id])
        response = await poster.client.post(
            f"/v1/moderation/comments/{comment}/decision",
            json={"action": "approve", "expected_status": "review"},
            headers={"Authorization": f"Bearer {other}"},
        )
        assert response.status_code == 200
        decided = await feed.until("decided")
        assert decided.data["comment_id"] == comment
        assert decided.data["to"] == "approved"
        assert decided.data["moderator"]["name"] == "Other"  # type: ignore[index]

        reported = poster.client.post(
            f"/v1/sites/{poster.site.slug}/comments/{comment}/reports",
            json={"reason": "insulting"},
            headers={"X-Site-Key": poster.site.widget_key},
        )
        assert (await reported).status_code == 202
        report = await feed.until("reported")
        assert report.data == {
            "comment_id": comment,
            "reason": "insulting",
            "at": report.data["at"],
        }
        await feeds.aclose()


async def test_a_reconnecting_feed_resumes_after_its_last_event(
    api_process: str, poster: Poster, conn: asyncpg.Connection
) -> None:
    await wait_ready(api_process)
    _, token = await moderators.create(conn, "Desk", "moderator", [poster.site.id])
    async with httpx.AsyncClient(timeout=30) as client:
        feeds = open_feed(client, api_process, poster.site, token)
        feed = await anext(feeds)
        await feed.next()
        first = await hold(poster, conn, "before the drop")
        seen = await feed.until("held")
        assert seen.data["comment_id"] == first
        await feeds.aclose()

        # While the desk is offline, two more comments are held.
        missed = [await hold(poster, conn, f"while offline {i}") for i in range(2)]

        feeds = open_feed(client, api_process, poster.site, token, last_id=seen.id)
        feed = await anext(feeds)
        resumed = [await feed.until("held") for _ in missed]
        assert [e.data["comment_id"] for e in resumed] == missed
        await feeds.aclose()


async def test_a_change_committed_after_a_later_one_still_reaches_the_feed(
    api_process: str, poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    # Ids are taken at insert, rows appear at commit: a worker's claim that commits a
    # moment after a moderator's decision has the lower id.
    await wait_ready(api_process)
    _, token = await moderators.create(conn, "Desk", "moderator", [poster.site.id])
    slow = await poster.comment(article="story-1", body="slow to commit")
    quick = await poster.comment(
        article="story-2", author={"id": "u2", "name": "Bo"}, body="quick to commit"
    )
    worker = await db.connect(database_url)
    async with httpx.AsyncClient(timeout=30) as client:
        feeds = open_feed(client, api_process, poster.site, token)
        feed = await anext(feeds)
        await feed.next()
        claim = worker.transaction()
        await claim.start()
        await transitions.transition(worker, [transitions.Change(slow, "pending", "review", "")])
        await transitions.transition(conn, [transitions.Change(quick, "pending", "review", "")])
        first = await feed.until("held")
        assert first.data["comment_id"] == quick

        await claim.commit()
        late = await feed.until("held")
        assert late.data["comment_id"] == slow
        # Last-Event-ID stays after both: a reconnect repeats neither.
        assert late.id == first.id
        await feeds.aclose()
    await worker.close()


@pytest.mark.parametrize("change", ["revoked", "site_removed"])
async def test_a_feed_ends_when_its_moderator_loses_access(
    api_process: str, poster: Poster, conn: asyncpg.Connection, change: str
) -> None:
    await wait_ready(api_process)
    moderator_id, token = await moderators.create(conn, "Desk", "moderator", [poster.site.id])
    async with httpx.AsyncClient(timeout=30) as client:
        feeds = open_feed(client, api_process, poster.site, token)
        feed = await anext(feeds)
        await feed.next()
        if change == "revoked":
            await conn.execute(
                "UPDATE moderators SET revoked_at = now() WHERE id = $1", moderator_id
            )
        else:
            await conn.execute("DELETE FROM moderator_sites WHERE moderator_id = $1", moderator_id)
        await hold(poster, conn, "held after access ended")
        with pytest.raises(AssertionError, match="the feed ended"):
            await feed.until("held")
        await feeds.aclose()

        reconnect = await client.get(
            f"{api_process}/v1/moderation/events?site={poster.site.slug}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reconnect.status_code == (401 if change == "revoked" else 404)


@pytest.mark.parametrize("ending", ["signed_out", "expired"])
async def test_a_desk_feed_ends_with_its_session_while_the_token_feed_goes_on(
    tmp_path: Path, database_url: str, poster: Poster, conn: asyncpg.Connection, ending: str
) -> None:
    token = await moderator_token(conn, poster.site)
    with live_api(tmp_path, database_url) as (base, _):
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as desk,
            httpx.AsyncClient(base_url=base, timeout=30) as copy,
        ):
            await desk_sign_in(desk, token)
            copy.cookies.update(dict(desk.cookies))
            url = f"/desk/api/sites/{poster.site.slug}/events"
            desk_feeds = stream_feed(copy, url)
            desk_feed = await anext(desk_feeds)
            await desk_feed.next()
            api_feeds = open_feed(copy, base, poster.site, token)
            api_feed = await anext(api_feeds)
            await api_feed.next()

            if ending == "signed_out":
                csrf = await desk_csrf(desk, poster.site)
                assert (await desk.post("/desk/signout", data={"csrf_token": csrf})).is_redirect
            else:
                await conn.execute("UPDATE desk_sessions SET expires_at = now()")
            comment = await hold(poster, conn, "held after the session ended")
            assert (await api_feed.until("held")).data["comment_id"] == comment
            with pytest.raises(AssertionError, match="the feed ended"):
                await desk_feed.until("held")
            await desk_feeds.aclose()
            await api_feeds.aclose()
            assert (await copy.get(url)).status_code == 401


async def test_a_feed_shows_only_its_own_site(
    api_process: str,
    poster: Poster,
    conn: asyncpg.Connection,
    app_client: httpx.AsyncClient,
    make_site: object,
) -> None:
    await wait_ready(api_process)
    assert callable(make_site)
    other_site: Site = await make_site()
    other = Poster(app_client, other_site)
    _, token = await moderators.create(conn, "Desk", "moderator", [poster.site.id])
    async with httpx.AsyncClient(timeout=30) as client:
        feeds = open_feed(client, api_process, poster.site, token)
        feed = await anext(feeds)
        await feed.next()
        await hold(other, conn, "on the other site")
        mine = await hold(poster, conn, "on my site")
        held = await feed.until("held")
        assert held.data["comment_id"] == mine
        await feeds.aclose()


async def test_a_malformed_last_event_id_is_400(
    app_client: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    _, token = await moderators.create(conn, "Desk", "moderator", [site.id])
    response = await app_client.get(
        f"/v1/moderation/events?site={site.slug}",
        headers={"Authorization": f"Bearer {token}", "Last-Event-ID": "yesterday"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Last-Event-ID"
