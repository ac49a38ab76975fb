"""Queries on sites."""

from __future__ import annotations

from typing import Any

import asyncpg

from moderation.db import Connection

_COLUMNS = (
    "id, slug, name, widget_key, allowed_origins, settings, reader_secret, "
    "reader_secret_previous, reader_secret_previous_until"
)


async def get_by_slug(conn: Connection, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM sites WHERE slug = $1", slug)


async def lock_by_slug(conn: Connection, slug: str) -> asyncpg.Record | None:
    """The site, locked until the transaction ends: a change written over what was read
    waits for another's to commit, and reads it. NO KEY UPDATE (no key column changes):
    rows that refer to the site (an article, a comment) take KEY SHARE on it, which FOR
    UPDATE would make them wait for."""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM sites WHERE slug = $1 FOR NO KEY UPDATE", slug
    )


async def create(
    conn: Connection,
    slug: str,
    name: str,
    widget_key: str,
    allowed_origins: list[str],
    settings: dict[str, Any],
) -> asyncpg.Record | None:
    """Insert a site; None when the slug is taken."""
    return await conn.fetchrow(
        f"""
        INSERT INTO sites (slug, name, widget_key, allowed_origins, settings)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (slug) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        slug,
        name,
        widget_key,
        allowed_origins,
        settings,
    )


async def list_all(conn: Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {_COLUMNS}, created_at FROM sites ORDER BY slug")


async def replace_widget_key(conn: Connection, slug: str, widget_key: str) -> asyncpg.Record | None:
    """Give the site a new widget key; the site (and its `old_key`), or None if no such site."""
    return await conn.fetchrow(
        """
        WITH old AS (SELECT id, widget_key FROM sites WHERE slug = $1 FOR UPDATE)
        UPDATE sites SET widget_key = $2, updated_at = now()
        FROM old WHERE sites.id = old.id
        RETURNING sites.id, sites.slug, sites.name, sites.widget_key, sites.allowed_origins,
                  sites.settings, sites.reader_secret, sites.reader_secret_previous,
                  sites.reader_secret_previous_until, old.widget_key AS old_key
        """,
        slug,
        widget_key,
    )


async def set_reader_secret(
    conn: Connection, slug: str, reader_secret: str | None, keep_previous_seconds: float
) -> asyncpg.Record | None:
    """Replace (or with None remove) the site's reader secret, the one it replaces valid
    `keep_previous_seconds` longer (none with 0); the site, or None."""
    return await conn.fetchrow(
        f"""
        UPDATE sites
           SET reader_secret = $2,
               reader_secret_previous = CASE WHEN $3::float8 > 0 THEN reader_secret END,
               reader_secret_previous_until =
                   CASE WHEN $3 > 0 AND reader_secret IS NOT NULL
                        THEN now() + make_interval(secs => $3) END,
               updated_at = now()
         WHERE slug = $1
        RETURNING {_COLUMNS}
        """,
        slug,
        reader_secret,
        float(keep_previous_seconds),
    )


async def update_settings(
    conn: Connection,
    site_id: int,
    allowed_origins: list[str],
    settings: dict[str, Any],
) -> asyncpg.Record:
    record = await conn.fetchrow(
        f"""
        UPDATE sites SET allowed_origins = $2, settings = $3, updated_at = now()
        WHERE id = $1
        RETURNING {_COLUMNS}
        """,
        site_id,
        allowed_origins,
        settings,
    )
    assert record is not None
    return record


async def record_event(
    conn: Connection,
    site_id: int,
    moderator_id: int | None,
    change: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO site_events (site_id, moderator_id, change, before, after)
        VALUES ($1, $2, $3, $4, $5)
        """,
        site_id,
        moderator_id,
        change,
        before,
        after,
    )


async def names(conn: Connection, site_ids: list[int]) -> list[asyncpg.Record]:
    """Slug and name of each of these sites, by name: a moderator's list of sites."""
    return await conn.fetch(
        "SELECT id, slug, name FROM sites WHERE id = ANY($1::bigint[]) ORDER BY name, slug",
        site_ids,
    )
