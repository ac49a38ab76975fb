"""The Celery application: broker, queues, reliability settings and the beat schedule.

Every Celery setting lives here. Messages are JSON and carry comment ids only; tasks
are acknowledged after they finish (`acks_late`), so a worker that dies mid-batch has
its message delivered again, and a worker takes one message at a time.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from moderation.config import Settings

SCORE_TASK = "workers.tasks.score_comments"
SCORING_QUEUE = "scoring"
MAINTENANCE_QUEUE = "maintenance"


def create_celery(settings: Settings) -> Celery:
    app = Celery("moderation", broker=settings.broker_url, include=["workers.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=SCORING_QUEUE,
        task_routes={
            "workers.tasks.sweep_pending": {"queue": MAINTENANCE_QUEUE},
            "workers.tasks.retrain_spam": {"queue": MAINTENANCE_QUEUE},
        },
        # Publishing must fail fast when the broker is down: the comment is already safe
        # in PostgreSQL and the sweep will queue it again.
        broker_connection_timeout=2,
        task_publish_retry=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"socket_connect_timeout": 2, "socket_timeout": 5},
        # Our structured logging writes to stderr; Celery's stdout redirection would turn
        # that stderr back into a logger and swallow the pool processes' lines.
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        beat_schedule={
            "sweep-pending": {
                "task": "workers.tasks.sweep_pending",
                "schedule": settings.sweep_interval_seconds,
            },
            "retrain-spam": {
                "task": "workers.tasks.retrain_spam",
                "schedule": settings.retrain_interval_seconds,
            },
        },
    )
    return app


def publisher(app: Celery) -> Callable[[list[int]], None]:
    """A function that sends one scoring wake-up for the given comment ids."""

    def publish(comment_ids: list[int]) -> None:
        app.send_task(SCORE_TASK, args=[comment_ids], queue=SCORING_QUEUE)

    return publish
