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
    async with conn.transaction():
        # Lock the comment in a statement of its own, so that the count, a later statement,
        # sees the reports and decisions committed meanwhile: counted in one statement,
        # reports arriving together each missed the others and a report racing a
        # dismissal counted the dismissed ones. The lock re-checks a decided comment.
        locked = await conn.fetchval(
            f"""
            SELECT id FROM comments
            WHERE id = $2 AND site_id = $1 AND {VISIBLE.format(c="comments")}
            FOR NO KEY UPDATE
            """,
            site_id,
            comment_id,
        )
        if locked is None:
            return None
        added: bool = await conn.fetchval(
            """
            WITH added AS (
                INSERT INTO reports (comment_id, reason, client_addr)
                VALUES ($1, $2, $3::inet)
                ON CONFLICT (comment_id, client_addr) WHERE dismissed_at IS NULL DO NOTHING
                RETURNING comment_id
            ), hidden AS (
                -- This statement cannot see its own new report, hence the + 1.
                UPDATE comments SET hidden_at = now()
                FROM added
                WHERE comments.id = added.comment_id AND $4 > 0
                  AND (SELECT count(*) FROM reports AS r
                       WHERE r.comment_id = added.comment_id AND r.dismissed_at IS NULL) + 1
                      >= $4
            )
            SELECT EXISTS (SELECT 1 FROM added)
            """,
            comment_id,
            reason,
            client_addr,
            hide_at,
        )
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
