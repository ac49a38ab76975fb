"""The broker as the API sees it: scoring wake-ups sent after a comment is committed.

Scoring tasks are wake-ups: a worker claims whatever is pending, so one message can
serve many comments. Each API process sends at most one message per `interval`,
carrying the ids it saw, which keeps the broker quiet during a traffic spike while a
lone comment still goes out at once. A message that cannot be sent is dropped with a
warning: the comment is safe in PostgreSQL and the periodic sweep queues it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import structlog
from celery import Celery, Task
from kombu import Connection, Exchange, Queue

from moderation.config import Settings

log = structlog.get_logger(__name__)

# The names senders and workers agree on; `workers.celery_app` consumes what is sent here.
SCORE_TASK = "workers.tasks.score_comments"
SCORING_QUEUE = "scoring"
MAINTENANCE_QUEUE = "maintenance"
# Scoring clients' requests (`perspective.analyzer`), read by the workers' analyze server.
ANALYZE_QUEUE = "analyze"
# Every connection to the broker fails fast when it is down.
TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
# Webhook deliveries have a queue of their own: a slow receiver never delays scoring.
WEBHOOKS_QUEUE = "webhooks"
DELIVER_WEBHOOKS_TASK = "workers.tasks.deliver_webhooks"
# Beat's periodic upkeep, on the maintenance queue.
SWEEP_TASK = "workers.tasks.sweep_pending"
RETRAIN_TASK = "workers.tasks.retrain_spam"
RETENTION_TASK = "workers.tasks.apply_retention"

Publish = Callable[[list[int]], None]


def celery_app(settings: Settings, task_cls: type[Task[Any, Any]] | None = None) -> Celery:
    """A Celery app with what every sender needs: the broker, JSON, and fast failure.

    The API sends with it as it is; the workers build on it (`workers.celery_app`), giving
    their tasks' base class.
    """
    app = Celery("moderation", broker=settings.broker_url, task_cls=task_cls)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=SCORING_QUEUE,
        # Publishing must fail fast when the broker is down: the comment is already safe
        # in PostgreSQL and the sweep will queue it again.
        broker_connection_timeout=2,
        task_publish_retry=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=TRANSPORT_OPTIONS,
    )
    return app


def broker_connection(broker_url: str) -> Connection:
    """A plain kombu connection, for the analyze queue (which Celery does not serve)."""
    return Connection(broker_url, connect_timeout=2, transport_options=TRANSPORT_OPTIONS)


def analyze_queue() -> Queue:
    """The queue both sides declare: not durable, its messages transient (a request is
    worthless once its client stopped waiting, so nothing of it is kept on disk)."""
    exchange = Exchange(ANALYZE_QUEUE, type="direct", durable=False)
    return Queue(ANALYZE_QUEUE, exchange, routing_key=ANALYZE_QUEUE, durable=False)


def publisher(app: Celery) -> Publish:
    """A function that sends one scoring wake-up for the given comment ids."""

    def publish(comment_ids: list[int]) -> None:
        app.send_task(SCORE_TASK, args=[comment_ids], queue=SCORING_QUEUE)

    return publish


class ScoringWakeups:
    """Coalesces the comments an API process stores into few wake-up messages."""

    def __init__(self, publish: Publish | None, interval: float = 0.05) -> None:
        self._publish = publish
        self._interval = interval
        self._ids: list[int] = []
        self._wake = asyncio.Event()

    def notify(self, comment_id: int) -> None:
        """Ask for `comment_id` to be scored; returns at once."""
        if self._publish is None:
            return
        self._ids.append(comment_id)
        self._wake.set()

    async def run(self) -> None:
        """Send wake-ups until cancelled; runs for the life of the API process."""
        try:
            while True:
                await self._wake.wait()
                await self._flush()
                await asyncio.sleep(self._interval)
        finally:
            with anyio.CancelScope(shield=True):
                await self._flush()

    async def _flush(self) -> None:
        self._wake.clear()
        ids, self._ids = self._ids, []
        if not ids or self._publish is None:
            return
        try:
            await anyio.to_thread.run_sync(self._publish, ids)
        except Exception as exc:  # the broker's errors are many; all mean "not sent"
            log.warning("scoring_enqueue_failed", comments=len(ids), error=str(exc))
