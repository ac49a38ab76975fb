"""`moderation worker` and `moderation beat`: the Celery side of the service."""

from __future__ import annotations

import click

from moderation.cli.common import broker_url, database_url
from moderation.config import get_settings
from moderation.errors import Unavailable


@click.command()
@click.option("--concurrency", default=1, show_default=True, help="Worker processes.")
@click.option("--queues", default="scoring,maintenance,webhooks", show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int, queues: str, loglevel: str) -> None:
    """Score comments: a Celery worker that loads the models once per process."""
    from workers.runtime import check_models

    settings = get_settings()
    database_url(settings)
    broker_url(settings)
    try:
        check_models(settings)
    except Unavailable as exc:  # no weights, or no such device: one line, no traceback
        raise click.ClickException(exc.message) from exc
    from workers.tasks import app

    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={queues}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Send the periodic tasks: the sweep of overdue comments and spam retraining."""
    settings = get_settings()
    database_url(settings)
    broker_url(settings)
    from workers.tasks import app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    schedule = settings.data_dir / "celerybeat-schedule"
    app.start(["beat", f"--schedule={schedule}", f"--loglevel={loglevel}"])


commands = [worker, beat]
