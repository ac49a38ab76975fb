"""Webhooks: a site's other systems hear about comments and authors as things happen.

Events (`EVENTS`) are recorded by triggers in the transaction of the change that
causes them, with one delivery per subscribed webhook (an outbox: an event exists
exactly when its change committed). Workers deliver them (`deliver_due`): a JSON POST
signed like Stripe's (`signing`), to a checked public address (`targets`), without
following redirects (`sender`). A failed attempt is retried with exponential backoff
for up to a day, then the delivery is marked failed; every attempt is logged with the
receiver's status and answer, and any delivery can be replayed (same event id, so a
receiver that de-duplicates on it processes the event once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, NotRequired

import asyncpg
import orjson
import structlog
from typing_extensions import TypedDict

from moderation.config import Settings
from moderation.db import Connection
from moderation.db import webhooks as webhook_queries
from moderation.errors import Conflict, NotFound, ValidationFailed
from moderation.moderators import Moderator
from moderation.sites import Site
from moderation.timestamps import iso
from moderation.webhooks import sender, signing, targets

log = structlog.get_logger(__name__)

EVENTS = ("comment.created", "comment.decided", "comment.reported", "author.status_changed")
# Deliveries one worker claims and sends at once (in threads: one slow receiver does
# not hold up the others), each recorded as soon as its attempt ends.
_CLAIM = 16
# A single wait between attempts is never longer than this, however many failed.
_MAX_BACKOFF = timedelta(hours=4)


class DeliveryCounts(TypedDict):
    pending: int
    delivered: int
    failed: int


class Webhook(TypedDict):
    id: int
    site: str
    url: str
    events: list[str]
    created_at: str
    rotating_until: str | None
    # In the site's list of webhooks only.
    deliveries: NotRequired[DeliveryCounts]


class Attempt(TypedDict):
    attempt: int
    at: str
    duration_ms: int
    status_code: int | None
    response: str


class EventRef(TypedDict):
    id: str
    type: str


class Delivery(TypedDict):
    id: int
    event: EventRef
    state: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: list[Attempt]
    next_attempt_at: str | None
    created_at: str
    finished_at: str | None
    replay_of: int | None


class Webhooks(TypedDict):
    webhooks: list[Webhook]


class WebhookLog(TypedDict):
    webhook: Webhook
    deliveries: list[Delivery]


class Replayed(TypedDict):
    delivery: int


@dataclass(frozen=True, slots=True)
class Created:
    webhook: Webhook
    secret: str  # shown once


def describe(record: asyncpg.Record) -> Webhook:
    data: Webhook = {
        "id": record["id"],
        "site": record["site"],
        "url": record["url"],
        "events": list(record["events"]),
        "created_at": iso(record["created_at"]),
        "rotating_until": iso(record["previous_secret_until"]),
    }
    if "pending" in record:
        data["deliveries"] = {
            "pending": record["pending"],
            "delivered": record["delivered"],
            "failed": record["failed"],
        }
    return data


def parse_events(events: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(e.strip() for e in events if e.strip()))
    unknown = [e for e in wanted if e not in EVENTS]
    if unknown or not wanted:
        raise ValidationFailed(
            f"events must be some of {', '.join(EVENTS)}"
            + (f"; not {', '.join(unknown)}" if unknown else ""),
            field="events",
        )
    return wanted


async def add(
    conn: Connection, site: Site, url: str, events: Sequence[str], settings: Settings
) -> Created:
    """Subscribe `url` to the site's `events`; the signing secret is returned this once."""
    wanted = parse_events(events)
    target = targets.parse(url)
    await asyncio.to_thread(targets.addresses, target, settings.webhook_allow_private)
    secret = signing.new_secret()
    record = await webhook_queries.create(conn, site.id, target.url, wanted, secret)
    if record is None:
        existing = await webhook_queries.live_for_url(conn, site.id, target.url)
        raise Conflict(
            f"webhook {existing} already sends {site.slug}'s events to {target.url}; "
            "remove it first to subscribe that address to other events",
            field="url",
            code="webhook_exists",
        )
    return Created(describe(record), secret)


async def remove(conn: Connection, webhook_id: int) -> None:
    if not await webhook_queries.remove(conn, webhook_id):
        raise NotFound(f"no webhook {webhook_id} in use", field="webhook")


async def rotate(conn: Connection, webhook_id: int, grace: timedelta) -> str:
    """A new secret; the old one still signs (a second `v1`) for `grace`."""
    secret = signing.new_secret()
    if not await webhook_queries.rotate(conn, webhook_id, secret, grace.total_seconds()):
        raise NotFound(f"no webhook {webhook_id} in use", field="webhook")
    return secret


async def reach(conn: Connection, webhook_id: int, moderator: Moderator) -> asyncpg.Record:
    """The webhook, if it is on one of the moderator's sites (404) and they are admin (403)."""
    record = await webhook_queries.get(conn, webhook_id)
    moderator.require_site(record["site_id"] if record else None, "webhook")
    moderator.require_admin()
    assert record is not None
    return record


async def delivery_log(
    conn: Connection, webhook_id: int, before: int | None, limit: int
) -> list[Delivery]:
    rows = await webhook_queries.deliveries(conn, webhook_id, before, limit)
    return [
        {
            "id": row["id"],
            "event": {"id": str(row["event_id"]), "type": row["type"]},
            "state": row["state"],
            "attempts": row["attempt_log"],
            "next_attempt_at": iso(row["next_attempt_at"]) if row["state"] == "pending" else None,
            "created_at": iso(row["created_at"]),
            "finished_at": iso(row["finished_at"]),
            "replay_of": row["replay_of"],
        }
        for row in rows
    ]


async def replay(conn: Connection, delivery_id: int, moderator: Moderator | None = None) -> int:
    """Send a delivery's event again (a new delivery, due now); its id."""
    found = await webhook_queries.delivery_site(conn, delivery_id)
    if moderator is not None:
        moderator.require_site(found["site_id"] if found else None, "delivery")
        moderator.require_admin()
    if found is None:
        raise NotFound(f"no delivery {delivery_id}", field="delivery")
    if found["removed_at"] is not None:
        raise NotFound(f"delivery {delivery_id}'s webhook was removed", field="delivery")
    return await webhook_queries.replay(conn, delivery_id)


def body(delivery: asyncpg.Record) -> bytes:
    """The request body: the event's envelope around its payload, the same every attempt."""
    return orjson.dumps(
        {
            "id": str(delivery["event_id"]),
            "type": delivery["type"],
            "created_at": delivery["event_created_at"],
            "site": delivery["site"],
            "data": delivery["payload"],
        }
    )


def backoff(attempt: int, base_seconds: float) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1, 2, ...)."""
    return min(timedelta(seconds=base_seconds * 2 ** (attempt - 1)), _MAX_BACKOFF)


def _send(delivery: asyncpg.Record, settings: Settings) -> sender.Answer:
    payload = body(delivery)
    now = int(datetime.now(UTC).timestamp())
    secrets = [delivery["secret"], *filter(None, [delivery["previous_secret"]])]
    headers = {
        signing.HEADER: signing.header(secrets, now, payload),
        "Moderation-Event-Id": str(delivery["event_id"]),
        "Moderation-Event-Type": delivery["type"],
        "Moderation-Delivery": f"{delivery['id']}/{delivery['attempts']}",
    }
    return sender.post(
        delivery["url"],
        payload,
        headers,
        settings.webhook_timeout_seconds,
        settings.webhook_allow_private,
    )


async def deliver_due(pool: asyncpg.Pool, settings: Settings) -> int:
    """Send every delivery that is due, a batch at a time; how many attempts were made."""
    # An attempt ends by its deadline (the timeout); the lease leaves room to record it.
    lease = settings.webhook_timeout_seconds * 2 + 30
    made = 0
    while True:
        async with pool.acquire() as conn:
            claimed = await webhook_queries.claim_due(conn, _CLAIM, lease)
        if not claimed:
            return made
        # A thread for each delivery, new for each batch: a deadline runs from the send's
        # start, not from a wait for a thread that a hung name lookup of an earlier batch
        # (the one thing a send cannot cut off) still holds.
        threads = ThreadPoolExecutor(len(claimed), thread_name_prefix="webhook")
        try:
            async with asyncio.TaskGroup() as group:
                for delivery in claimed:
                    group.create_task(_attempt(pool, threads, delivery, settings))
        finally:
            threads.shutdown(wait=False)
        made += len(claimed)


async def _attempt(
    pool: asyncpg.Pool, threads: Executor, delivery: asyncpg.Record, settings: Settings
) -> None:
    """One attempt at `delivery`, recorded as soon as it ends."""
    started = datetime.now(UTC)
    timeout = settings.webhook_timeout_seconds
    try:
        # The sender cuts its connection at the deadline, but not a name lookup.
        async with asyncio.timeout(timeout):
            answer = await asyncio.get_running_loop().run_in_executor(
                threads, _send, delivery, settings
            )
    except TimeoutError:
        answer = sender.timed_out(timeout)
    async with pool.acquire() as conn:
        await _record(conn, delivery, answer, started, settings)


async def _record(
    conn: Connection,
    delivery: asyncpg.Record,
    answer: sender.Answer,
    started: datetime,
    settings: Settings,
) -> None:
    attempt = delivery["attempts"]
    next_at = None
    if answer.delivered:
        state = "delivered"
    else:
        next_at = datetime.now(UTC) + backoff(attempt, settings.webhook_retry_base_seconds)
        give_up = delivery["created_at"] + timedelta(seconds=settings.webhook_retry_for_seconds)
        state = "failed" if next_at > give_up else "pending"
        log.warning(
            "webhook_attempt_failed",
            delivery=delivery["id"],
            attempt=attempt,
            status=answer.status_code,
            answer=answer.response[:200],
            final=state == "failed",
        )
    await webhook_queries.record_attempt(
        conn,
        delivery["id"],
        attempt,
        started,
        answer.duration_ms,
        answer.status_code,
        answer.response,
        state,
        next_at,
    )


async def forget_old(conn: Connection, settings: Settings) -> int:
    return await webhook_queries.forget_old(conn, settings.webhook_log_days)
