"""Queries on reader reports."""

from __future__ import annotations

from collections.abc import Sequence

from moderation.db import Connection
from moderation.db.threads import VISIBLE


async def add(
    conn: Connection,
    site_id: int,
    comment_id: int,
    reason: str,
    client_addr: str | None,
    hide_at: int,
) -> bool | None:
    """Record a report on a visible comment of the site, hiding it at `hide_at` open reports.

    None when no such approved comment exists; False when this address already has an
    open report on it (one reader cannot pile reports up); True when recorded. `hide_at`
    0 never hides.
    """
    record = await conn.fetchrow(
        f"""
        WITH target AS (
            SELECT id FROM comments
            WHERE id = $2 AND site_id = $1 AND {VISIBLE.format(c="comments")}
        ), added AS (
            INSERT INTO reports (comment_id, reason, client_addr)
            SELECT id, $3, $4::inet FROM target
            ON CONFLICT (comment_id, client_addr) WHERE dismissed_at IS NULL DO NOTHING
            RETURNING comment_id
        ), hidden AS (
            -- This statement cannot see its own new report, hence the + 1.
            UPDATE comments SET hidden_at = now()
            FROM added
            WHERE comments.id = added.comment_id AND $5 > 0
              AND (SELECT count(*) FROM reports AS r
                   WHERE r.comment_id = added.comment_id AND r.dismissed_at IS NULL) + 1 >= $5
            RETURNING comments.id
        )
        SELECT EXISTS (SELECT 1 FROM target) AS found, EXISTS (SELECT 1 FROM added) AS added
        """,
        site_id,
        comment_id,
        reason,
        client_addr,
        hide_at,
    )
    assert record is not None
    if not record["found"]:
        return None
    added: bool = record["added"]
    return added


async def resolve(conn: Connection, comment_ids: Sequence[int]) -> None:
    """A moderator decided these comments: close their reports and show them if approved."""
    await conn.execute(
        """
        WITH closed AS (
            UPDATE reports SET dismissed_at = now()
            WHERE comment_id = ANY($1::bigint[]) AND dismissed_at IS NULL
        )
        UPDATE comments SET hidden_at = NULL
        WHERE id = ANY($1::bigint[]) AND hidden_at IS NOT NULL
        """,
        list(comment_ids),
    )
