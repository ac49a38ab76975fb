"""Every mistake a client can make is a 4xx in the error shape, never a 500: control
characters anywhere (PostgreSQL's text cannot hold NUL), forged or stale cursors of every
kind, absurd numbers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import asyncpg
import httpx
import pytest

from moderation import moderators
from moderation.sites import Site
from tests.factories import Poster, set_status


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"}
    if field is not None:
        assert error["field"] == field, error
    code: str = error["code"]
    return code


@pytest.fixture
async def token(conn: asyncpg.Connection, site: Site) -> dict[str, str]:
    _, token = await moderators.create(conn, "Admin", "admin", [site.id])
    return {"Authorization": f"Bearer {token}"}


# --- control characters ------------------------------------------------------------------


@pytest.mark.parametrize("character", ["%00", "%01", "%0A", "%7F", "%C2%85"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/sites/{site}/articles/a{c}b/comments"),
        ("POST", "/v1/sites/{site}/articles/a{c}b/comments"),
        ("GET", "/v1/sites/{site}{c}/counts?article=a"),
        ("POST", "/v1/sites/{site}/comments/1{c}/reports"),
        ("GET", "/v1/moderation/queues/review{c}?site={site}"),
        ("GET", "/v1/moderation/sites/{site}{c}/settings"),
        ("PUT", "/v1/moderation/sites/{site}/articles/a{c}"),
        ("GET", "/desk/api/sites/{site}{c}/queues/review"),
    ],
)
async def test_a_control_character_in_the_path_is_a_400(
    app_client: httpx.AsyncClient,
    site: Site,
    token: dict[str, str],
    method: str,
    path: str,
    character: str,
) -> None:
    url = path.format(site=site.slug, c=character)
    headers = {**token, "X-Site-Key": site.widget_key}
    response = await app_client.request(method, url, headers=headers, json={})
    assert assert_error(response, 400, "path") == "invalid_character"


@pytest.mark.parametrize(
    "query",
    [
        "/v1/sites/{site}/counts?article=a%00",
        "/v1/sites/{site}/counts?article%00=a",
        "/v1/sites/{site}/articles/a/comments?cursor=%00",
        "/v1/moderation/queues/review?site={site}&article=%00",
        "/v1/moderation/queues/review?site={site}&reason=a%00b",
        "/v1/moderation/queues/review?site={site}&language=%00",
        "/v1/moderation/stats?site={site}%00",
        "/v1/moderation/events?site={site}&last_event_id=%00",
    ],
)
async def test_a_control_character_in_the_query_is_a_400_naming_the_parameter(
    app_client: httpx.AsyncClient, site: Site, token: dict[str, str], query: str
) -> None:
    response = await app_client.get(query.format(site=site.slug), headers=token)
    assert assert_error(response, 400) == "invalid_character"
    assert response.json()["error"]["field"].strip("\x00") in query.replace("%00", "")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"author": {"name": "A\u0000"}, "body": "hello"}, "author.name"),
        ({"author": {"id": "u\u0000", "name": "A"}, "body": "hello"}, "author.id"),
        ({"author": {"name": "A"}, "body": "hel\u0000lo"}, "body"),
    ],
)
async def test_nul_in_a_posted_comment_is_a_422(
    poster: Poster, payload: dict[str, Any], field: str
) -> None:
    response = await poster.client.post(
        f"/v1/sites/{poster.site.slug}/articles/a/comments",
        json=payload,
        headers={"X-Site-Key": poster.site.widget_key},
    )
    assert_error(response, 422, field)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("banned_words", ["ok", "bad\u0000word"]),
        ("suspect_words", ["\u0000"]),
        ("allowed_origins", ["https://a\u0000b.example"]),
        ("rate_per_author", 10**30),
        ("rate_per_address", 1e29),
        ("trusted_after", 2**31),
        ("report_threshold", -1),
        ("analyze_requests_per_minute", 10**12),
        # JSON's own types, not their look-alikes.
        ("analyze_keep_text", 0),
        ("comments_open", "false"),
        ("rate_per_author", "5"),
        ("rate_window_seconds", 60.0),
    ],
)
async def test_settings_a_database_cannot_hold_are_a_422(
    app_client: httpx.AsyncClient, site: Site, token: dict[str, str], setting: str, value: Any
) -> None:
    url = f"/v1/moderation/sites/{site.slug}/settings"
    response = await app_client.put(url, json={setting: value}, headers=token)
    assert_error(response, 422)
    assert response.json()["error"]["field"].startswith(setting)
    # And nothing was stored: the site still posts and reads.
    assert (await app_client.get(url, headers=token)).status_code == 200


async def test_nul_in_a_report_or_a_decision_reason_is_a_422(
    poster: Poster, conn: asyncpg.Connection, token: dict[str, str]
) -> None:
    comment_id = await poster.comment()
    await set_status(conn, [comment_id], "approved")
    report = await poster.client.post(
        f"/v1/sites/{poster.site.slug}/comments/{comment_id}/reports",
        json={"reason": "spam\u0000"},
        headers={"X-Site-Key": poster.site.widget_key},
    )
    assert_error(report, 422, "reason")
    decision = await poster.client.post(
        f"/v1/moderation/comments/{comment_id}/decision",
        json={"action": "reject", "expected_status": "approved", "reason": "\u0000"},
        headers=token,
    )
    assert_error(decision, 422, "reason")


@pytest.mark.parametrize("until", [0, 1700000000, True, "tomorrow", "2020-01-01T00:00:00Z"])
async def test_a_suspension_until_anything_but_a_time_is_a_422(
    poster: Poster, conn: asyncpg.Connection, token: dict[str, str], until: Any
) -> None:
    """Lax datetimes read numbers as Unix times: `0` would suspend an author to 1970. A
    time already past would store a status that has ended as it is set."""
    await poster.comment(author={"id": "sus", "name": "S"})
    author_id = await conn.fetchval(
        "SELECT id FROM authors WHERE site_id = $1 AND external_id = 'sus'", poster.site.id
    )
    response = await poster.client.post(
        f"/v1/moderation/authors/{author_id}/status",
        json={"status": "premod", "until": until},
        headers=token,
    )
    assert_error(response, 422, "until")


async def test_an_article_id_too_long_to_index_is_a_400(
    app_client: httpx.AsyncClient, site: Site, token: dict[str, str]
) -> None:
    url = f"/v1/moderation/sites/{site.slug}/articles/{'a' * 5000}"
    response = await app_client.put(url, json={"open": False}, headers=token)
    assert_error(response, 400, "article")


# --- forged and stale cursors -------------------------------------------------------------


def forged(position: Any) -> str:
    # As the API encodes cursors, but with the standard json module: orjson refuses
    # integers beyond 64 bits, which a forger is free to send.
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        forged({"s": "oldest", "a": 2**63}),
        forged({"s": "oldest", "a": -1}),
        forged({"s": "oldest", "a": True}),
        forged({"s": "oldest", "a": 1.5}),
        forged({"s": "oldest", "a": "1"}),
        forged({"s": "newest", "a": 1}),
        forged({"s": "oldest"}),
        forged([1, 2]),
        forged("text"),
        "%%%",
        "a" * 3000,
        "😀",
    ],
)
async def test_a_forged_thread_cursor_is_a_400(poster: Poster, cursor: str) -> None:
    await poster.comment()
    response = await poster.thread(cursor=cursor, sort="oldest")
    assert_error(response, 400, "cursor")


@pytest.mark.parametrize(
    ("queue", "sort", "key"),
    [
        ("review", "priority", [0.5]),
        ("review", "priority", [0.5, 1, 2]),
        ("review", "priority", [0.5, 2**64]),
        ("review", "priority", [0.5, -1]),
        ("review", "priority", [True, 1]),
        ("review", "priority", ["0.5", 1]),
        ("review", "priority", [0.5, 1.5]),
        ("review", "priority", [None, 1]),
        ("review", "oldest", [2**63]),
        ("review", "newest", {"id": 1}),
        ("reported", "priority", [1, 0.5]),
        ("reported", "priority", [2**70, 0.5, 1]),
        ("reported", "priority", [1.5, 0.5, 1]),
    ],
)
async def test_a_forged_queue_cursor_is_a_400(
    app_client: httpx.AsyncClient,
    site: Site,
    token: dict[str, str],
    queue: str,
    sort: str,
    key: Any,
) -> None:
    cursor = forged({"q": queue, "s": sort, "k": key})
    url = f"/v1/moderation/queues/{queue}?site={site.slug}&sort={sort}&cursor={cursor}"
    response = await app_client.get(url, headers=token)
    assert_error(response, 400, "cursor")


async def test_a_queue_cursor_for_another_queue_or_sort_is_a_400(
    app_client: httpx.AsyncClient, site: Site, token: dict[str, str]
) -> None:
    stale = forged({"q": "review", "s": "priority", "k": [0.5, 1]})
    for url in (
        f"/v1/moderation/queues/spam?site={site.slug}&cursor={stale}",
        f"/v1/moderation/queues/review?site={site.slug}&sort=oldest&cursor={stale}",
    ):
        assert_error(await app_client.get(url, headers=token), 400, "cursor")


async def test_a_valid_queue_cursor_still_pages(
    poster: Poster, conn: asyncpg.Connection, token: dict[str, str]
) -> None:
    ids = [await poster.comment(body=f"comment {n}") for n in range(3)]
    await set_status(conn, ids, "review")
    url = f"/v1/moderation/queues/review?site={poster.site.slug}&limit=2"
    first = (await poster.client.get(url, headers=token)).json()
    second = await poster.client.get(f"{url}&cursor={first['next_cursor']}", headers=token)
    assert second.status_code == 200
    seen = [item["id"] for item in first["items"] + second.json()["items"]]
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize(
    "last_event_id",
    ["99999999999999999999-0", "9223372036854775808-0", "0-9999999999999999999", "1", "a-b"],
)
async def test_a_forged_last_event_id_is_a_400(
    app_client: httpx.AsyncClient, site: Site, token: dict[str, str], last_event_id: str
) -> None:
    url = f"/v1/moderation/events?site={site.slug}"
    by_header = await app_client.get(url, headers={**token, "Last-Event-ID": last_event_id})
    assert_error(by_header, 400, "Last-Event-ID")
    by_query = await app_client.get(f"{url}&last_event_id={last_event_id}", headers=token)
    assert_error(by_query, 400, "Last-Event-ID")


# --- absurd numbers -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "101", "1.5", "", "1e3", str(10**30), "²"])
async def test_an_absurd_limit_is_a_400(poster: Poster, token: dict[str, str], value: str) -> None:
    thread = await poster.thread(limit=value)
    assert_error(thread, 400, "limit")
    queue = await poster.client.get(
        f"/v1/moderation/queues/review?site={poster.site.slug}&limit={value}", headers=token
    )
    assert_error(queue, 400, "limit")


@pytest.mark.parametrize(
    "url",
    [
        "/v1/moderation/stats?site={site}&days=" + str(10**30),
        "/v1/moderation/queues/review?site={site}&author=" + str(2**63),
        "/v1/moderation/comments/" + str(2**63),
        "/v1/moderation/authors/" + str(10**30),
        "/v1/moderation/comments/0",
        # Ids no article can have, as its own routes refuse them.
        "/v1/sites/{site}/counts?article=",
        "/v1/sites/{site}/counts?article=a&article=" + "x" * 201,
    ],
)
async def test_absurd_ids_and_counts_are_a_400(
    app_client: httpx.AsyncClient, site: Site, token: dict[str, str], url: str
) -> None:
    response = await app_client.get(url.format(site=site.slug), headers=token)
    assert_error(response, 400)
