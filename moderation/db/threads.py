"""Queries behind the reader thread: articles, thread pages, counts."""

from __future__ import annotations

import asyncpg

from moderation.db import Connection


async def get_article(conn: Connection, site_id: int, article: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT id, external_id, is_open, approved_count, version
        FROM articles WHERE site_id = $1 AND external_id = $2
        """,
        site_id,
        article,
    )


async def roots_page(
    conn: Connection, article_id: int, *, after: int | None, newest_first: bool, limit: int
) -> list[asyncpg.Record]:
    """Top-level comments a reader can see: approved, or removed with an approved reply.

    Keyset pagination on the id: a page never skips or repeats a thread because of
    comments inserted or decided while a reader pages.
    """
    order, compare = ("DESC", "<") if newest_first else ("ASC", ">")
    return await conn.fetch(
        f"""
        SELECT c.id, c.parent_id, c.status, c.author_name, c.created_at,
               CASE WHEN c.status = 'approved' THEN c.body END AS body
        FROM comments AS c
        WHERE c.article_id = $1 AND c.parent_id IS NULL
          AND ($2::bigint IS NULL OR c.id {compare} $2)
          AND (c.status = 'approved' OR EXISTS (
                SELECT 1 FROM comments AS r WHERE r.root_id = c.id AND r.status = 'approved'))
        ORDER BY c.id {order}
        LIMIT $3
        """,
        article_id,
        after,
        limit,
    )


async def thread_replies(conn: Connection, root_ids: list[int]) -> list[asyncpg.Record]:
    """Every reply under the given threads, oldest first; only approved ones carry text."""
    return await conn.fetch(
        """
        SELECT id, parent_id, status, author_name, created_at,
               CASE WHEN status = 'approved' THEN body END AS body
        FROM comments
        WHERE root_id = ANY($1::bigint[])
        ORDER BY id
        """,
        root_ids,
    )


async def approved_counts(conn: Connection, site_id: int, articles: list[str]) -> dict[str, int]:
    rows = await conn.fetch(
        """
        SELECT external_id, approved_count FROM articles
        WHERE site_id = $1 AND external_id = ANY($2::text[])
        """,
        site_id,
        articles,
    )
    return {row["external_id"]: row["approved_count"] for row in rows}
