"""Queries behind the moderators' live feed: what happened on a site after a position."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from moderation.db import Connection

# Enough to catch a reconnecting desk up; a desk further behind reloads its queues.
CATCH_UP_LIMIT = 500


async def comment_events_after(
    conn: Connection, site_id: int, after: int, sent: Sequence[int]
) -> list[asyncpg.Record]:
    """The site's comment events after id `after`, but for the ids in `sent`."""
    return await conn.fetch(
        """
        SELECT e.id, e.comment_id, e.actor, e.moderator_id, m.name AS moderator,
               e.from_status, e.to_status, e.reason, e.created_at, e.kind
        FROM comment_events AS e
        JOIN comments AS c ON c.id = e.comment_id
        LEFT JOIN moderators AS m ON m.id = e.moderator_id
        WHERE c.site_id = $1 AND e.id > $2 AND e.id <> ALL($3::bigint[])
        ORDER BY e.id
        LIMIT $4
        """,
        site_id,
        after,
        sent,
        CATCH_UP_LIMIT,
    )


async def reports_after(
    conn: Connection, site_id: int, after: int, sent: Sequence[int]
) -> list[asyncpg.Record]:
    """The site's reports after id `after`, but for the ids in `sent`."""
    return await conn.fetch(
        """
        SELECT r.id, r.comment_id, r.reason, r.created_at
        FROM reports AS r JOIN comments AS c ON c.id = r.comment_id
        WHERE c.site_id = $1 AND r.id > $2 AND r.id <> ALL($3::bigint[])
        ORDER BY r.id
        LIMIT $4
        """,
        site_id,
        after,
        sent,
        CATCH_UP_LIMIT,
    )


async def positions(conn: Connection) -> tuple[int, int]:
    """The newest comment event and report ids: where a feed that starts now begins."""
    record = await conn.fetchrow(
        """
        SELECT (SELECT coalesce(max(id), 0) FROM comment_events) AS events,
               (SELECT coalesce(max(id), 0) FROM reports) AS reports
        """
    )
    assert record is not None
    return record["events"], record["reports"]
