"""Queries behind the reader thread: articles, thread pages, counts."""

from __future__ import annotations

import asyncpg

from moderation.db import Connection

# What a reader may see: approved, and not hidden by reader reports awaiting a moderator.
VISIBLE = "({c}.status = 'approved' AND {c}.hidden_at IS NULL)"


async def get_article(conn: Connection, site_id: int, article: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        SELECT a.id, a.external_id, a.is_open, a.title, a.url, a.approved_count, a.version,
               (SELECT count(*) FROM comments AS c
                 WHERE c.article_id = a.id AND c.featured_at IS NOT NULL
                   AND {VISIBLE.format(c="c")}) AS featured_count
        FROM articles AS a WHERE a.site_id = $1 AND a.external_id = $2
        """,
        site_id,
        article,
    )


async def visible_article(conn: Connection, site_id: int, comment_id: int) -> str | None:
    """The article of the site's comment `comment_id`, if readers can see it."""
    article: str | None = await conn.fetchval(
        f"""
        SELECT a.external_id FROM comments AS c JOIN articles AS a ON a.id = c.article_id
        WHERE c.id = $1 AND c.site_id = $2 AND {VISIBLE.format(c="c")}
        """,
        comment_id,
        site_id,
    )
    return article


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
        SELECT c.id, c.parent_id, c.author_name, c.created_at,
               {VISIBLE.format(c="c")} AS visible,
               CASE WHEN {VISIBLE.format(c="c")} THEN c.body END AS body
        FROM comments AS c
        WHERE c.article_id = $1 AND c.parent_id IS NULL
          AND ($2::bigint IS NULL OR c.id {compare} $2)
          AND ({VISIBLE.format(c="c")} OR EXISTS (
                SELECT 1 FROM comments AS r
                WHERE r.root_id = c.id AND {VISIBLE.format(c="r")}))
        ORDER BY c.id {order}
        LIMIT $3
        """,
        article_id,
        after,
        limit,
    )


async def thread_replies(conn: Connection, root_ids: list[int]) -> list[asyncpg.Record]:
    """Every reply under the given threads, oldest first; only visible ones carry text."""
    return await conn.fetch(
        f"""
        SELECT id, parent_id, author_name, created_at,
               {VISIBLE.format(c="comments")} AS visible,
               CASE WHEN {VISIBLE.format(c="comments")} THEN body END AS body
        FROM comments
        WHERE root_id = ANY($1::bigint[])
        ORDER BY id
        """,
        root_ids,
    )


async def featured(conn: Connection, article_id: int, limit: int) -> list[asyncpg.Record]:
    """Visible comments of the article that moderators featured, latest featured first."""
    return await conn.fetch(
        f"""
        SELECT c.id, c.parent_id, c.author_name, c.body, c.created_at
        FROM comments AS c
        WHERE c.article_id = $1 AND c.featured_at IS NOT NULL AND {VISIBLE.format(c="c")}
        ORDER BY c.featured_at DESC, c.id DESC
        LIMIT $2
        """,
        article_id,
        limit,
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


async def change_article(
    conn: Connection,
    site_id: int,
    article: str,
    is_open: bool | None,
    title: str | None,
    url: str | None,
) -> asyncpg.Record:
    """Set what is not None of an article's state, creating it if no comment has yet;
    the state before (`was_open`, `was_title`, `was_url`: NULL for a new article) and
    after (`is_open`, `title`, `url`).

    Opening or closing bumps the version: readers see the flag, not the title or address.
    """
    record = await conn.fetchrow(
        """
        WITH before AS (
            SELECT is_open, title, url FROM articles WHERE site_id = $1 AND external_id = $2
        ), upserted AS (
            INSERT INTO articles (site_id, external_id, is_open, title, url)
            VALUES ($1, $2, coalesce($3, true), $4, $5)
            ON CONFLICT (site_id, external_id) DO UPDATE
                SET is_open = coalesce($3, articles.is_open),
                    title = coalesce($4, articles.title),
                    url = coalesce($5, articles.url),
                    version = articles.version + CASE WHEN $3 IS NULL THEN 0 ELSE 1 END
            RETURNING is_open, title, url
        )
        SELECT before.is_open AS was_open, before.title AS was_title, before.url AS was_url,
               upserted.*
        FROM upserted LEFT JOIN before ON true
        """,
        site_id,
        article,
        is_open,
        title,
        url,
    )
    assert record is not None
    return record
