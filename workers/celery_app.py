"""The workers' Celery application: queues, reliability settings and the beat schedule.

It builds on the sender's app (`moderation.broker.celery_app`: broker, JSON, fast
failure) with everything a worker and beat need. Tasks are acknowledged after they
finish (`acks_late`), so a worker that dies mid-batch has its message delivered again,
and a worker takes one message at a time. A task that meets a PostgreSQL outage fails as
expected (`WorkerTask`) and is acknowledged: the sweep queues its comments again later.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task

from moderation.broker import (
    DELIVER_WEBHOOKS_TASK,
    MAINTENANCE_QUEUE,
    RETENTION_TASK,
    RETRAIN_TASK,
    SWEEP_TASK,
    WEBHOOKS_QUEUE,
    celery_app,
)
from moderation.config import Settings
from moderation.errors import DatabaseUnavailable


class WorkerTask(Task[Any, Any]):
    """Base of the workers' tasks. Celery logs an error of `throws` in one INFO line, with
    no traceback: the process's runtime has already logged the outage, once."""

    throws = (DatabaseUnavailable,)


def create_celery(settings: Settings) -> Celery:
    app = celery_app(settings, task_cls=WorkerTask)
    app.conf.update(
        include=["workers.tasks"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_routes={
            SWEEP_TASK: {"queue": MAINTENANCE_QUEUE},
            RETRAIN_TASK: {"queue": MAINTENANCE_QUEUE},
            RETENTION_TASK: {"queue": MAINTENANCE_QUEUE},
            DELIVER_WEBHOOKS_TASK: {"queue": WEBHOOKS_QUEUE},
        },
        # Our structured logging writes to stderr; Celery's stdout redirection would turn
        # that stderr back into a logger and swallow the pool processes' lines.
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        beat_schedule={
            "sweep-pending": {
                "task": SWEEP_TASK,
                "schedule": settings.sweep_interval_seconds,
            },
            "retrain-spam": {
                "task": RETRAIN_TASK,
                "schedule": settings.retrain_interval_seconds,
            },
            "apply-retention": {
                "task": RETENTION_TASK,
                "schedule": settings.retention_interval_seconds,
            },
            # Deliveries are recorded with their change (an outbox); this finds them once
            # committed, and finds retries once their backoff is over.
            "deliver-webhooks": {
                "task": DELIVER_WEBHOOKS_TASK,
                "schedule": settings.webhook_poll_seconds,
                # A tick that waited longer than the next one is not worth sending.
                "options": {"expires": settings.webhook_poll_seconds},
            },
        },
    )
    return app
