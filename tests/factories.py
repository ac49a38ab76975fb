"""Small helpers tests share: a widget-like poster, status changes as the scorer makes
them, moderators, and a desk session over HTTP."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from moderation import db, moderators
from moderation.db import transitions
from moderation.sites import Site
from moderation.statuses import Status


class Poster:
    """Posts comments to one site through the API, as a widget would."""

    def __init__(self, client: httpx.AsyncClient, site: Site) -> None:
        self.client = client
        self.site = site

    async def post(
        self,
        article: str = "story-1",
        body: str = "A thoughtful comment.",
        author: dict[str, Any] | None = None,
        parent_id: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        payload: dict[str, Any] = {"author": author or {"id": "u1", "name": "Ann"}, "body": body}
        if parent_id is not None:
            payload["parent_id"] = parent_id
        return await self.client.post(
            f"/v1/sites/{self.site.slug}/articles/{article}/comments",
            json=payload,
            headers={"X-Site-Key": self.site.widget_key, **(headers or {})},
        )

    async def edit(self, comment_id: int, secret: str, body: str) -> httpx.Response:
        """Its poster's edit, which sends the comment back to be scored."""
        return await self.client.put(
            f"/v1/sites/{self.site.slug}/comments/{comment_id}",
            json={"body": body},
            headers={"X-Site-Key": self.site.widget_key, "X-Comment-Secret": secret},
        )

    async def comment(self, **kwargs: Any) -> int:
        response = await self.post(**kwargs)
        assert response.status_code == 202, response.text
        comment_id: int = response.json()["id"]
        return comment_id

    async def thread(
        self, article: str = "story-1", headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        return await self.client.get(
            f"/v1/sites/{self.site.slug}/articles/{article}/comments",
            params=params,
            headers=headers,
        )


async def article_state(conn: asyncpg.Connection, site: Site, article: str) -> dict[str, Any]:
    """The site's article as stored: title, url, is_open and version."""
    row = await conn.fetchrow(
        "SELECT title, url, is_open, version FROM articles WHERE site_id = $1 AND external_id = $2",
        site.id,
        article,
    )
    assert row is not None
    return dict(row)


async def set_status(
    conn: asyncpg.Connection, ids: list[int], to: Status, frm: Status = "pending"
) -> None:
    """Move comments between statuses the way the scorer and moderators do."""
    changes = [transitions.Change(i, frm, to, f"test: {to}") for i in ids]
    changed = await transitions.transition(conn, changes)
    assert len(changed) == len(ids)


async def posted_ago(conn: asyncpg.Connection, comment_id: int, seconds: float) -> None:
    """Make a comment as if it had been posted (and become pending) `seconds` ago."""
    await conn.execute(
        "UPDATE comments SET created_at = now() - make_interval(secs => $2),"
        " pending_since = now() - make_interval(secs => $2) WHERE id = $1",
        comment_id,
        seconds,
    )


async def moderator_token(
    conn: asyncpg.Connection, *sites: Site, role: str = "moderator", name: str = "Mo"
) -> str:
    """The token of a new moderator of `sites` with `role`."""
    _, token = await moderators.create(conn, name, role, [s.id for s in sites])  # type: ignore[arg-type]
    return token


async def moderator_headers(
    conn: asyncpg.Connection, *sites: Site, role: str = "moderator", name: str = "Mo"
) -> dict[str, str]:
    """Authorization headers of a new moderator of `sites` with `role`."""
    return {"Authorization": f"Bearer {await moderator_token(conn, *sites, role=role, name=name)}"}


_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


async def desk_sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """Sends the desk's sign-in form with `token`, as a browser does; the answer."""
    form = await client.get("/desk/signin")
    match = _CSRF_FIELD.search(form.text)
    assert match, form.text
    return await client.post("/desk/signin", data={"csrf_token": match.group(1), "token": token})


async def desk_csrf(client: httpx.AsyncClient, site: Site) -> str:
    """The CSRF token of `client`'s desk session, as its pages carry it."""
    page = await client.get(f"/desk/sites/{site.slug}/queues/review")
    assert page.status_code == 200, page.text
    match = _CSRF_META.search(page.text)
    assert match, page.text
    return match.group(1)


async def waits_on_lock(conn: asyncpg.Connection, other: asyncpg.Connection) -> bool:
    """Whether `other`'s statement waits on a row or table lock now."""
    waiting: bool | None = await conn.fetchval(
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
        other.get_server_pid(),
    )
    return bool(waiting)


async def waiting_on_lock(conn: asyncpg.Connection, other: asyncpg.Connection) -> None:
    """Return once `other`'s statement waits on a row or table lock (10 s at most)."""
    deadline = time.monotonic() + 10
    while not await waits_on_lock(conn, other):
        if time.monotonic() > deadline:
            raise AssertionError(f"backend {other.get_server_pid()} never waited on a lock")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def article_locked(database_url: str, comment_id: int) -> AsyncIterator[None]:
    """Hold the row of the comment's article until the block ends. A change in what its
    readers see (an approval, a withdrawal, an approved comment's new text) then stalls
    at the article's trigger, holding the comment it changed but no more: where
    concurrent writers meet when they lock in different orders."""
    holder = await db.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT FROM articles WHERE id = (SELECT article_id FROM comments WHERE id = $1)"
                " FOR UPDATE",
                comment_id,
            )
            yield
    finally:
        await holder.close()


@asynccontextmanager
async def comment_locked(database_url: str, comment_id: int) -> AsyncIterator[None]:
    """Hold the comment's row until the block ends, as an edit or an erasure under way
    does: a statement changing it stalls there, holding the rows it took before it."""
    holder = await db.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT FROM comments WHERE id = $1 FOR UPDATE", comment_id)
            yield
    finally:
        await holder.close()


async def as_in_production(conn: asyncpg.Connection, comment_id: int, filler: int = 2000) -> None:
    """Give the comments table enough rows (rejected, beside `comment_id`) and fresh
    statistics for PostgreSQL to plan a status change as on a live site: each comment
    found by its id, in the order the change names them, rather than one scan of a table
    small enough to read whole."""
    await conn.execute(
        """
        INSERT INTO comments (site_id, article_id, author_name, body, status, source_id)
        SELECT site_id, article_id, '', '', 'rejected', 'filler-' || id || '-' || n
          FROM comments, generate_series(1, $2) AS n
         WHERE id = $1
        """,
        comment_id,
        filler,
    )
    await conn.execute("ANALYZE comments")
