"""Queries behind exports: a site's articles, authors and comments, streamed.

Callers run these inside one repeatable-read transaction, so the three reads see the
same moment, and iterate them with a cursor, so a site of any size streams through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from moderation.db import Connection

_PREFETCH = 2000


async def articles(
    conn: Connection, site_id: int, since: datetime | None
) -> AsyncIterator[asyncpg.Record]:
    """The site's articles; with `since`, those with comments posted since then."""
    query = """
        SELECT a.external_id, a.title, a.url, a.is_open, a.created_at FROM articles AS a
         WHERE a.site_id = $1
           AND ($2::timestamptz IS NULL OR EXISTS (
                SELECT 1 FROM comments AS c WHERE c.article_id = a.id AND c.created_at >= $2))
         ORDER BY a.id
    """
    async for record in conn.cursor(query, site_id, since, prefetch=_PREFETCH):
        yield record


async def authors(
    conn: Connection, site_id: int, since: datetime | None
) -> AsyncIterator[asyncpg.Record]:
    """The site's authors; with `since`, those who commented since then."""
    query = """
        SELECT au.external_id, au.name, au.status, au.status_until, au.created_at,
               au.erased_at, au.erased_by
          FROM authors AS au
         WHERE au.site_id = $1
           AND ($2::timestamptz IS NULL OR EXISTS (
                SELECT 1 FROM comments AS c WHERE c.author_id = au.id AND c.created_at >= $2))
         ORDER BY au.id
    """
    async for record in conn.cursor(query, site_id, since, prefetch=_PREFETCH):
        yield record


async def comments(
    conn: Connection, site_id: int, since: datetime | None
) -> AsyncIterator[asyncpg.Record]:
    """The site's comments by id (parents before replies), with their audit history."""
    query = """
        SELECT c.id, c.source_id, a.external_id AS article, c.parent_id,
               p.source_id AS parent_source_id, au.external_id AS author, c.author_name,
               c.body, c.status, c.reasons, c.language, c.scores, c.model, c.created_at,
               c.decided_at, c.hidden_at IS NOT NULL AS hidden, c.featured_at,
               host(c.client_addr) AS client_addr, c.user_agent,
               (SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'from', e.from_status, 'to', e.to_status, 'reason', e.reason,
                           'actor', e.actor, 'moderator_id', e.moderator_id,
                           'at', e.created_at) ORDER BY e.id), '[]'::jsonb)
                  FROM comment_events AS e WHERE e.comment_id = c.id) AS history
          FROM comments AS c
          JOIN articles AS a ON a.id = c.article_id
          LEFT JOIN comments AS p ON p.id = c.parent_id
          LEFT JOIN authors AS au ON au.id = c.author_id
         WHERE c.site_id = $1 AND ($2::timestamptz IS NULL OR c.created_at >= $2)
         ORDER BY c.id
    """
    async for record in conn.cursor(query, site_id, since, prefetch=_PREFETCH):
        yield record
