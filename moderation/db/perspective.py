"""Queries for the Perspective drop-in and Coral's phase: keys, quota, records, labels,
Coral's signing secrets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from moderation.db import Connection


async def create_key(conn: Connection, site_id: int, name: str, key_hash: bytes) -> int:
    key_id: int = await conn.fetchval(
        "INSERT INTO api_keys (site_id, name, key_hash) VALUES ($1, $2, $3) RETURNING id",
        site_id,
        name,
        key_hash,
    )
    return key_id


async def key_by_hash(conn: Connection, key_hash: bytes) -> asyncpg.Record | None:
    """The active key with this hash and its site's slug; None if unknown or revoked."""
    return await conn.fetchrow(
        """
        SELECT k.id, k.site_id, s.slug
          FROM api_keys AS k JOIN sites AS s ON s.id = k.site_id
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL
        """,
        key_hash,
    )


async def take_quota(conn: Connection, key_id: int, per_minute: int) -> bool:
    """Take one request from the key's bucket (`per_minute` deep, refilled at `per_minute`
    a minute); False when it is empty.

    The refill is computed from the row itself in both SET and WHERE: concurrent requests
    on one key queue on its row lock and each sees the bucket its predecessor left.
    """
    taken = await conn.fetchval(
        """
        UPDATE api_keys
           SET quota_tokens = least($2::float8, coalesce(
                   quota_tokens + extract(epoch FROM now() - quota_at) * $2 / 60.0, $2)) - 1,
               quota_at = now()
         WHERE id = $1
           AND least($2::float8, coalesce(
                   quota_tokens + extract(epoch FROM now() - quota_at) * $2 / 60.0, $2)) >= 1
        RETURNING id
        """,
        key_id,
        per_minute,
    )
    return taken is not None


async def revoke_key(conn: Connection, key_id: int) -> bool:
    revoked = await conn.fetchval(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id",
        key_id,
    )
    return revoked is not None


async def list_keys(conn: Connection, site_id: int | None) -> list[asyncpg.Record]:
    """Keys (of one site, or all) with how many scoring records and labels each left."""
    return await conn.fetch(
        """
        SELECT k.id, k.name, s.slug AS site, k.created_at, k.revoked_at,
               (SELECT count(*) FROM analyses AS a WHERE a.api_key_id = k.id) AS analyses,
               (SELECT count(*) FROM analysis_labels AS l WHERE l.api_key_id = k.id) AS labels
          FROM api_keys AS k JOIN sites AS s ON s.id = k.site_id
         WHERE $1::bigint IS NULL OR k.site_id = $1
         ORDER BY k.id
        """,
        site_id,
    )


async def record_analysis(
    conn: Connection,
    site_id: int,
    api_key_id: int | None,
    source: str,
    model: str | None,
    language: str | None,
    scores: dict[str, float],
    latency_ms: float,
    body: str | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO analyses (site_id, api_key_id, source, model, language, scores,
                              latency_ms, body)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        site_id,
        api_key_id,
        source,
        model,
        language,
        scores,
        latency_ms,
        body,
    )


async def add_labels(
    conn: Connection,
    site_id: int,
    api_key_id: int,
    labels: Sequence[tuple[str, float]],
    body: str,
    language: str | None,
    client_token: str | None,
    community_id: str | None,
) -> None:
    """One row per (attribute, value) the client suggested for this text."""
    await conn.execute(
        """
        INSERT INTO analysis_labels (site_id, api_key_id, attribute, value, body, language,
                                     client_token, community_id)
        SELECT $1, $2, attribute, value, $5, $6, $7, $8
          FROM unnest($3::text[], $4::real[]) AS l(attribute, value)
        """,
        site_id,
        api_key_id,
        [attribute for attribute, _ in labels],
        [value for _, value in labels],
        body,
        language,
        client_token,
        community_id,
    )


async def rotate_coral_secret(
    conn: Connection, site_id: int, secret: str, keep_previous_seconds: float
) -> datetime | None:
    """Make `secret` the site's current one; every earlier secret stays valid for at most
    `keep_previous_seconds` more (one due sooner keeps its own expiry), so a rotation with
    no grace revokes them all. Returns when the last earlier one expires (None if none)."""
    async with conn.transaction():
        expires: datetime | None = await conn.fetchval(
            """
            WITH cut AS (
                UPDATE coral_secrets
                   SET expires_at = least(expires_at, now() + make_interval(secs => $2))
                 WHERE site_id = $1 AND (expires_at IS NULL OR expires_at > now())
                RETURNING expires_at
            )
            SELECT max(expires_at) FROM cut
            """,
            site_id,
            keep_previous_seconds,
        )
        await conn.execute(
            "INSERT INTO coral_secrets (site_id, secret) VALUES ($1, $2)", site_id, secret
        )
    return expires


async def coral_secrets(conn: Connection, site_id: int) -> list[str]:
    """The site's secrets a signature may be made with now: the current and unexpired ones."""
    rows = await conn.fetch(
        """
        SELECT secret FROM coral_secrets
         WHERE site_id = $1 AND (expires_at IS NULL OR expires_at > now())
         ORDER BY id DESC
        """,
        site_id,
    )
    return [row["secret"] for row in rows]
