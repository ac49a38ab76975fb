"""Queries on moderators and their sites."""

from __future__ import annotations

import asyncpg

from moderation.db import Connection


async def create(
    conn: Connection, name: str, role: str, token_hash: bytes, site_ids: list[int]
) -> int:
    moderator_id: int = await conn.fetchval(
        """
        WITH moderator AS (
            INSERT INTO moderators (name, role, token_hash) VALUES ($1, $2, $3) RETURNING id
        ), sites AS (
            INSERT INTO moderator_sites (moderator_id, site_id)
            -- A site named twice (`--site a --site a`) counts once.
            SELECT DISTINCT moderator.id, site_id FROM moderator, unnest($4::bigint[]) AS site_id
        )
        SELECT id FROM moderator
        """,
        name,
        role,
        token_hash,
        site_ids,
    )
    return moderator_id


_MODERATOR = """
    SELECT m.id, m.name, m.role, m.token_hash,
           coalesce(array_agg(ms.site_id) FILTER (WHERE ms.site_id IS NOT NULL), '{}')
               AS site_ids
    FROM moderators AS m LEFT JOIN moderator_sites AS ms ON ms.moderator_id = m.id
"""


async def by_token(conn: Connection, token_hash: bytes) -> asyncpg.Record | None:
    """The moderator holding this token, with their site ids; None if unknown or revoked."""
    return await conn.fetchrow(
        f"{_MODERATOR} WHERE m.token_hash = $1 AND m.revoked_at IS NULL GROUP BY m.id",
        token_hash,
    )


async def start_session(
    conn: Connection, session_hash: bytes, token_hash: bytes, max_age_seconds: int
) -> bool:
    """A desk session for the holder of this token; False if it is unknown or revoked.

    Sessions past their time are cleared on the way: sign-ins are rare, sessions few.
    """
    started: int | None = await conn.fetchval(
        """
        WITH expired AS (DELETE FROM desk_sessions WHERE expires_at < now())
        INSERT INTO desk_sessions (id_hash, moderator_id, token_hash, expires_at)
        SELECT $1, id, token_hash, now() + make_interval(secs => $3)
        FROM moderators WHERE token_hash = $2 AND revoked_at IS NULL
        RETURNING moderator_id
        """,
        session_hash,
        token_hash,
        float(max_age_seconds),
    )
    return started is not None


async def by_session(conn: Connection, session_hash: bytes) -> asyncpg.Record | None:
    """The moderator of a live desk session (not ended, not expired, and signed in with the
    token they still hold), as `by_token` gives it; None otherwise."""
    return await conn.fetchrow(
        f"""
        {_MODERATOR}
        JOIN desk_sessions AS s ON s.moderator_id = m.id AND s.token_hash = m.token_hash
        WHERE s.id_hash = $1 AND s.expires_at > now() AND m.revoked_at IS NULL
        GROUP BY m.id
        """,
        session_hash,
    )


async def end_session(conn: Connection, session_hash: bytes) -> None:
    await conn.execute("DELETE FROM desk_sessions WHERE id_hash = $1", session_hash)


async def revoke(conn: Connection, moderator_id: int) -> bool:
    """Revoke the moderator's token; False if there is no such active moderator."""
    revoked: int | None = await conn.fetchval(
        "UPDATE moderators SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL "
        "RETURNING id",
        moderator_id,
    )
    return revoked is not None


async def list_all(conn: Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT m.id, m.name, m.role, m.created_at, m.revoked_at,
               coalesce(array_agg(s.slug ORDER BY s.slug) FILTER (WHERE s.slug IS NOT NULL),
                        '{}') AS sites
        FROM moderators AS m
        LEFT JOIN moderator_sites AS ms ON ms.moderator_id = m.id
        LEFT JOIN sites AS s ON s.id = ms.site_id
        GROUP BY m.id ORDER BY m.id
        """
    )


async def by_name(conn: Connection, name: str) -> int | None:
    moderator_id: int | None = await conn.fetchval(
        "SELECT id FROM moderators WHERE name = $1 AND revoked_at IS NULL ORDER BY id LIMIT 1",
        name,
    )
    return moderator_id


async def replace_token(conn: Connection, moderator_id: int, token_hash: bytes) -> None:
    await conn.execute(
        "UPDATE moderators SET token_hash = $2 WHERE id = $1", moderator_id, token_hash
    )
