"""Queries on authors: their record, status changes and open comments."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from moderation.db import Connection

# Whether an author's status is in force: one whose `until` has passed has lapsed back
# to normal, for intake, scoring and what moderators are shown alike.
IN_FORCE = "({a}.status_until IS NULL OR {a}.status_until > now())"
STATUS_IN_FORCE = f"CASE WHEN {IN_FORCE} THEN {{a}}.status ELSE 'normal' END"
UNTIL_IN_FORCE = f"CASE WHEN {IN_FORCE} THEN {{a}}.status_until END"


async def get(conn: Connection, author_id: int) -> asyncpg.Record | None:
    """The author with a count of their comments per status."""
    return await conn.fetchrow(
        f"""
        SELECT au.id, au.site_id, au.external_id, au.name,
               {STATUS_IN_FORCE.format(a="au")} AS status,
               {UNTIL_IN_FORCE.format(a="au")} AS status_until,
               au.created_at,
               count(c.id) FILTER (WHERE c.status = 'approved') AS approved,
               count(c.id) FILTER (WHERE c.status = 'review') AS review,
               count(c.id) FILTER (WHERE c.status = 'pending') AS pending,
               count(c.id) FILTER (WHERE c.status = 'rejected') AS rejected,
               count(c.id) FILTER (WHERE c.status = 'spam') AS spam
        FROM authors AS au LEFT JOIN comments AS c ON c.author_id = au.id
        WHERE au.id = $1
        GROUP BY au.id
        """,
        author_id,
    )


async def recent_comments(conn: Connection, author_id: int, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT c.id, c.status, c.body, c.reasons, c.created_at, a.external_id AS article,
               a.title AS article_title
        FROM comments AS c JOIN articles AS a ON a.id = c.article_id
        WHERE c.author_id = $1 ORDER BY c.id DESC LIMIT $2
        """,
        author_id,
        limit,
    )


async def events(conn: Connection, author_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT e.id, e.from_status, e.to_status, e.until, e.reason, e.created_at,
               e.moderator_id, m.name AS moderator
        FROM author_events AS e LEFT JOIN moderators AS m ON m.id = e.moderator_id
        WHERE e.author_id = $1 ORDER BY e.id
        """,
        author_id,
    )


async def set_status(
    conn: Connection,
    author_id: int,
    status: str,
    until: datetime | None,
    moderator_id: int,
    reason: str,
) -> str:
    """Change the author's status and record who did it; returns the previous status,
    the one in force (a lapsed ban is normal)."""
    previous: str = await conn.fetchval(
        f"""
        WITH before AS (
            -- Not FOR UPDATE: a decision on one of their comments, waited for by a ban
            -- that rejects them, takes KEY SHARE on this row for its webhook event.
            SELECT id, {STATUS_IN_FORCE.format(a="authors")} AS status
              FROM authors WHERE id = $1 FOR NO KEY UPDATE
        ), changed AS (
            UPDATE authors SET status = $2, status_until = $3 FROM before
            WHERE authors.id = before.id
        ), recorded AS (
            INSERT INTO author_events (author_id, moderator_id, from_status, to_status,
                                       until, reason)
            SELECT id, $4, status, $2, $3, $5 FROM before
        )
        SELECT status FROM before
        """,
        author_id,
        status,
        until,
        moderator_id,
        reason,
    )
    return previous


async def open_comments(conn: Connection, author_id: int) -> list[asyncpg.Record]:
    """The author's comments still waiting for a decision (pending or held)."""
    return await conn.fetch(
        "SELECT id, status FROM comments WHERE author_id = $1 AND status IN ('pending', 'review')",
        author_id,
    )


async def notes(conn: Connection, author_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT n.id, n.body, n.created_at, n.moderator_id, m.name AS moderator
        FROM author_notes AS n JOIN moderators AS m ON m.id = n.moderator_id
        WHERE n.author_id = $1 ORDER BY n.id DESC
        """,
        author_id,
    )


async def add_note(
    conn: Connection, author_id: int, moderator_id: int, body: str
) -> asyncpg.Record:
    record = await conn.fetchrow(
        """
        INSERT INTO author_notes (author_id, moderator_id, body) VALUES ($1, $2, $3)
        RETURNING id, created_at
        """,
        author_id,
        moderator_id,
        body,
    )
    assert record is not None
    return record
