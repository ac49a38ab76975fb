"""Queries on reader reports."""

from __future__ import annotations

from moderation.db import Connection


async def add(
    conn: Connection, site_id: int, comment_id: int, reason: str, client_addr: str | None
) -> bool | None:
    """Record a report on a visible comment of the site.

    None when no such approved comment exists; False when this address already has an
    open report on it (one reader cannot pile reports up); True when recorded.
    """
    record = await conn.fetchrow(
        """
        WITH target AS (
            SELECT id FROM comments WHERE id = $2 AND site_id = $1 AND status = 'approved'
        ), added AS (
            INSERT INTO reports (comment_id, reason, client_addr)
            SELECT id, $3, $4::inet FROM target
            ON CONFLICT (comment_id, client_addr) WHERE dismissed_at IS NULL DO NOTHING
            RETURNING id
        )
        SELECT EXISTS (SELECT 1 FROM target) AS found, EXISTS (SELECT 1 FROM added) AS added
        """,
        site_id,
        comment_id,
        reason,
        client_addr,
    )
    assert record is not None
    if not record["found"]:
        return None
    added: bool = record["added"]
    return added
