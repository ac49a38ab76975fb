"""Queries on comments: intake, lookups, and the one statement that changes a status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from moderation.db import Connection


async def intake_context(
    conn: Connection,
    *,
    site_id: int,
    article: str,
    author_external_id: str | None,
    author_name: str,
    parent_id: int | None,
    client_addr: str | None,
    idempotency_key: str | None,
    window_seconds: int,
) -> asyncpg.Record:
    """Everything intake checks before it inserts, in one round trip.

    Creates the article and the author on first sight (and keeps the author's display
    name current). Under READ COMMITTED the fall-back SELECTs cannot see a row that a
    concurrent first comment inserted after this statement began, so `article_id` (or
    `author_id`) can come back NULL; the caller runs the statement again.
    """
    record = await conn.fetchrow(
        """
        WITH found_article AS (
            SELECT id, is_open FROM articles WHERE site_id = $1 AND external_id = $2
        ), new_article AS (
            INSERT INTO articles (site_id, external_id)
            SELECT $1, $2 WHERE NOT EXISTS (SELECT FROM found_article)
            ON CONFLICT (site_id, external_id) DO NOTHING
            RETURNING id, is_open
        ), article AS (
            SELECT id, is_open FROM found_article
            UNION ALL
            SELECT id, is_open FROM new_article
            LIMIT 1
        ), found_author AS (
            SELECT id, name, status, status_until FROM authors
            WHERE site_id = $1 AND external_id = $3
        ), touched_author AS (
            -- Only a new author or a changed name writes: the upsert locks the row it
            -- meets, which made every comment a write transaction of its own.
            INSERT INTO authors (site_id, external_id, name)
            SELECT $1, $3, $4
            WHERE $3::text IS NOT NULL AND NOT EXISTS (SELECT FROM found_author WHERE name = $4)
            ON CONFLICT (site_id, external_id) DO UPDATE SET name = EXCLUDED.name
                WHERE authors.name IS DISTINCT FROM EXCLUDED.name
            RETURNING id, status, status_until
        ), author AS (
            SELECT id, status, status_until FROM touched_author
            UNION ALL
            SELECT id, status, status_until FROM found_author
            LIMIT 1
        ), window_start AS (
            SELECT now() - make_interval(secs => $8) AS at
        )
        SELECT
            article.id AS article_id,
            article.is_open AS article_open,
            author.id AS author_id,
            author.status AS author_status,
            author.status_until AS author_status_until,
            parent.article_id AS parent_article_id,
            coalesce(parent.root_id, parent.id) AS parent_root_id,
            by_author.n AS author_recent,
            by_author.oldest AS author_oldest,
            by_address.n AS address_recent,
            by_address.oldest AS address_oldest,
            earlier.id AS earlier_id,
            earlier.article_id AS earlier_article_id,
            earlier.body AS earlier_body,
            now() AS now
        FROM (SELECT 1) AS one
        LEFT JOIN article ON true
        LEFT JOIN author ON true
        LEFT JOIN comments AS parent ON parent.id = $5 AND parent.site_id = $1
        LEFT JOIN comments AS earlier ON earlier.site_id = $1 AND earlier.idempotency_key = $7
        LEFT JOIN LATERAL (
            SELECT count(*) AS n, min(c.created_at) AS oldest FROM comments AS c, window_start
            WHERE c.author_id = author.id AND c.created_at > window_start.at
        ) AS by_author ON true
        LEFT JOIN LATERAL (
            SELECT count(*) AS n, min(c.created_at) AS oldest FROM comments AS c, window_start
            WHERE c.site_id = $1 AND c.client_addr = $6::inet AND c.created_at > window_start.at
        ) AS by_address ON true
        """,
        site_id,
        article,
        author_external_id,
        author_name,
        parent_id,
        client_addr,
        idempotency_key,
        float(window_seconds),
    )
    assert record is not None
    return record


async def insert(
    conn: Connection,
    *,
    site_id: int,
    article_id: int,
    parent_id: int | None,
    root_id: int | None,
    author_id: int | None,
    author_name: str,
    body: str,
    client_addr: str | None,
    user_agent: str | None,
    idempotency_key: str | None,
) -> int | None:
    """Store a pending comment; None when its idempotency key was taken meanwhile."""
    comment_id: int | None = await conn.fetchval(
        """
        INSERT INTO comments (site_id, article_id, parent_id, root_id, author_id, author_name,
                              body, client_addr, user_agent, idempotency_key)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8::inet, $9, $10)
        ON CONFLICT (site_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id
        """,
        site_id,
        article_id,
        parent_id,
        root_id,
        author_id,
        author_name,
        body,
        client_addr,
        user_agent,
        idempotency_key,
    )
    return comment_id


async def get_by_idempotency_key(conn: Connection, site_id: int, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, article_id, body FROM comments WHERE site_id = $1 AND idempotency_key = $2",
        site_id,
        key,
    )


async def get_status(conn: Connection, site_id: int, comment_id: int) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM comments WHERE id = $1 AND site_id = $2", comment_id, site_id
    )
    return status


@dataclass(frozen=True, slots=True)
class Change:
    """One status change: applied only if the comment is still in `expected`."""

    comment_id: int
    expected: str
    to: str
    reason: str
    reasons: Sequence[str] = ()
    moderator_id: int | None = None


async def transition(conn: Connection, changes: Sequence[Change]) -> list[asyncpg.Record]:
    """Apply status changes and write their audit rows, in one statement.

    A change whose comment is no longer in its expected status is skipped (and absent
    from the result): a redelivered task or a moderator's stale view changes nothing.
    """
    rows = await conn.fetch(
        """
        WITH change AS (
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],
                                 $5::jsonb[], $6::bigint[])
                AS c(comment_id, expected, to_status, reason, reasons, moderator_id)
        ), updated AS (
            UPDATE comments SET
                status = change.to_status,
                reasons = CASE WHEN change.reasons IS NULL THEN comments.reasons
                               ELSE ARRAY(SELECT jsonb_array_elements_text(change.reasons))
                          END,
                decided_at = now(),
                claimed_until = NULL,
                version = comments.version + 1
            FROM change
            WHERE comments.id = change.comment_id AND comments.status = change.expected
            RETURNING comments.id, comments.site_id, comments.article_id, comments.status,
                      comments.version, change.expected AS from_status, change.reason,
                      change.moderator_id
        ), audit AS (
            INSERT INTO comment_events (comment_id, actor, moderator_id, from_status,
                                        to_status, reason)
            SELECT id, CASE WHEN moderator_id IS NULL THEN 'system' ELSE 'moderator' END,
                   moderator_id, from_status, status, reason
            FROM updated
        )
        SELECT id, site_id, article_id, status, from_status, version FROM updated
        """,
        [c.comment_id for c in changes],
        [c.expected for c in changes],
        [c.to for c in changes],
        [c.reason for c in changes],
        # Arrays of arrays must not be ragged in Postgres, so each change's reasons travel
        # as one JSON array; NULL keeps the reasons already stored.
        [list(c.reasons) if c.reasons else None for c in changes],
        [c.moderator_id for c in changes],
    )
    return list(rows)
