"""Queries behind webhooks: subscribers, the outbox's deliveries, and their attempts.

Events and their deliveries are written by triggers (migration 0009) in the
transaction of the change that causes them; workers claim due deliveries here with a
lease and SKIP LOCKED, send them outside any transaction, and record each attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from moderation.db import Connection

_COLUMNS = """w.id, w.site_id, s.slug AS site, w.url, w.events, w.created_at,
              w.previous_secret_until, w.removed_at"""


async def create(
    conn: Connection, site_id: int, url: str, events: Sequence[str], secret: str
) -> asyncpg.Record | None:
    """The new webhook; None when the site has a live one for `url` already."""
    return await conn.fetchrow(
        f"""
        WITH w AS (
            INSERT INTO webhooks (site_id, url, events, secret) VALUES ($1, $2, $3, $4)
            ON CONFLICT (site_id, url) WHERE removed_at IS NULL DO NOTHING
            RETURNING *
        )
        SELECT {_COLUMNS} FROM w JOIN sites AS s ON s.id = w.site_id
        """,
        site_id,
        url,
        list(events),
        secret,
    )


async def live_for_url(conn: Connection, site_id: int, url: str) -> int | None:
    """The id of the site's webhook (not removed) that sends to `url`."""
    webhook_id: int | None = await conn.fetchval(
        "SELECT id FROM webhooks WHERE site_id = $1 AND url = $2 AND removed_at IS NULL",
        site_id,
        url,
    )
    return webhook_id


async def get(conn: Connection, webhook_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM webhooks AS w JOIN sites AS s ON s.id = w.site_id WHERE w.id = $1",
        webhook_id,
    )


async def list_for_site(conn: Connection, site_id: int) -> list[asyncpg.Record]:
    """The site's webhooks in use, with how their deliveries stand."""
    return await conn.fetch(
        f"""
        SELECT {_COLUMNS},
               count(d.id) FILTER (WHERE d.state = 'pending') AS pending,
               count(d.id) FILTER (WHERE d.state = 'delivered') AS delivered,
               count(d.id) FILTER (WHERE d.state = 'failed') AS failed
          FROM webhooks AS w JOIN sites AS s ON s.id = w.site_id
          LEFT JOIN webhook_deliveries AS d ON d.webhook_id = w.id
         WHERE w.site_id = $1 AND w.removed_at IS NULL
         GROUP BY w.id, s.slug
         ORDER BY w.id
        """,
        site_id,
    )


async def remove(conn: Connection, webhook_id: int) -> bool:
    """Stop a webhook; its pending deliveries are cancelled, its log kept. False if none."""
    removed: bool = await conn.fetchval(
        """
        WITH removed AS (
            UPDATE webhooks SET removed_at = now()
             WHERE id = $1 AND removed_at IS NULL RETURNING id
        ), cancelled AS (
            UPDATE webhook_deliveries SET state = 'cancelled', finished_at = now()
              FROM removed WHERE webhook_id = removed.id AND state = 'pending'
        )
        SELECT EXISTS (SELECT 1 FROM removed)
        """,
        webhook_id,
    )
    return removed


async def rotate(conn: Connection, webhook_id: int, secret: str, grace_seconds: float) -> bool:
    """A new signing secret; the current one keeps signing too for `grace_seconds`."""
    rotated: bool = await conn.fetchval(
        """
        WITH rotated AS (
            UPDATE webhooks
               SET previous_secret = secret, secret = $2,
                   previous_secret_until = now() + make_interval(secs => $3)
             WHERE id = $1 AND removed_at IS NULL RETURNING id
        )
        SELECT EXISTS (SELECT 1 FROM rotated)
        """,
        webhook_id,
        secret,
        grace_seconds,
    )
    return rotated


async def claim_due(conn: Connection, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Lease up to `limit` deliveries that are due, counting the attempt about to be made.

    Each comes with what sending it needs: the target, the secrets that sign now, and
    the event. The lease outlives one attempt's timeout; a worker that dies mid-send
    leaves the delivery to be claimed again once it lapses.
    """
    return await conn.fetch(
        """
        WITH due AS (
            SELECT d.id FROM webhook_deliveries AS d
              JOIN webhooks AS w ON w.id = d.webhook_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= now()
               AND (d.claimed_until IS NULL OR d.claimed_until < now())
               AND w.removed_at IS NULL
             ORDER BY d.next_attempt_at
             LIMIT $1
               FOR UPDATE OF d SKIP LOCKED
        ), claimed AS (
            UPDATE webhook_deliveries AS d
               SET claimed_until = now() + make_interval(secs => $2), attempts = attempts + 1
              FROM due WHERE d.id = due.id
            RETURNING d.id, d.webhook_id, d.event_id, d.attempts, d.created_at
        )
        SELECT c.id, c.attempts, c.created_at, w.url, w.secret,
               CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END
                   AS previous_secret,
               e.event_id, e.type, e.payload, e.created_at AS event_created_at, s.slug AS site
          FROM claimed AS c
          JOIN webhooks AS w ON w.id = c.webhook_id
          JOIN webhook_events AS e ON e.id = c.event_id
          JOIN sites AS s ON s.id = e.site_id
         ORDER BY c.id
        """,
        limit,
        lease_seconds,
    )


async def record_attempt(
    conn: Connection,
    delivery_id: int,
    attempt: int,
    started_at: datetime,
    duration_ms: int,
    status_code: int | None,
    response: str,
    state: str,
    next_attempt_at: datetime | None,
) -> None:
    """Log one attempt and move its delivery on: delivered, failed, or due again later.

    Only while the attempt's claim holds: a delivery cancelled meanwhile (its webhook
    removed while the attempt was in flight) stays cancelled, as pending it would never
    be claimed nor its event forgotten; and one claimed again after this claim's lease
    lapsed (its `attempts` counted the new claim) is the new claim's to record.
    """
    await conn.execute(
        """
        WITH logged AS (
            INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms,
                                          status_code, response)
            VALUES ($1, $2, $3, $4, $5, $6)
        )
        UPDATE webhook_deliveries
           SET state = $7, next_attempt_at = coalesce($8, next_attempt_at),
               claimed_until = NULL,
               finished_at = CASE WHEN $7 = 'pending' THEN NULL ELSE now() END
         WHERE id = $1 AND state = 'pending' AND attempts = $2
        """,
        delivery_id,
        attempt,
        started_at,
        duration_ms,
        status_code,
        response,
        state,
        next_attempt_at,
    )


async def deliveries(
    conn: Connection, webhook_id: int, before: int | None, limit: int
) -> list[asyncpg.Record]:
    """The webhook's deliveries, newest first, each with its event and every attempt."""
    return await conn.fetch(
        """
        SELECT d.id, d.state, d.attempts, d.next_attempt_at, d.created_at, d.finished_at,
               d.replay_of, e.event_id, e.type,
               (SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'attempt', a.attempt, 'at', a.started_at,
                           'duration_ms', a.duration_ms, 'status_code', a.status_code,
                           'response', a.response) ORDER BY a.id), '[]'::jsonb)
                  FROM webhook_attempts AS a WHERE a.delivery_id = d.id) AS attempt_log
          FROM webhook_deliveries AS d JOIN webhook_events AS e ON e.id = d.event_id
         WHERE d.webhook_id = $1 AND ($2::bigint IS NULL OR d.id < $2)
         ORDER BY d.id DESC
         LIMIT $3
        """,
        webhook_id,
        before,
        limit,
    )


async def delivery_site(conn: Connection, delivery_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT d.id, d.webhook_id, w.site_id, w.removed_at
          FROM webhook_deliveries AS d JOIN webhooks AS w ON w.id = d.webhook_id
         WHERE d.id = $1
        """,
        delivery_id,
    )


async def replay(conn: Connection, delivery_id: int) -> int:
    """A new delivery of the same event to the same webhook, due now; its id."""
    new_id: int = await conn.fetchval(
        """
        INSERT INTO webhook_deliveries (webhook_id, event_id, replay_of)
        SELECT webhook_id, event_id, id FROM webhook_deliveries WHERE id = $1
        RETURNING id
        """,
        delivery_id,
    )
    return new_id


async def forget_old(conn: Connection, days: int) -> int:
    """Delete events older than `days` whose deliveries are all finished; how many."""
    deleted: int = await conn.fetchval(
        """
        WITH gone AS (
            DELETE FROM webhook_events AS e
             WHERE e.created_at < now() - make_interval(days => $1)
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d
                                WHERE d.event_id = e.id AND d.state = 'pending')
            RETURNING 1
        )
        SELECT count(*) FROM gone
        """,
        days,
    )
    return deleted
