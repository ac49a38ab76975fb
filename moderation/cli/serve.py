"""Running the service: `migrate` and `api`."""

from __future__ import annotations

import asyncpg
import click
import uvicorn
from starlette.applications import Starlette

from moderation import logs
from moderation.cli.common import (
    server_options,
    share_metrics_between_processes,
    with_connection,
)
from moderation.config import get_settings
from moderation.db import migrations


@click.command()
def migrate() -> None:
    """Apply the migrations this release ships that the database has not run."""
    settings = get_settings()
    applied = with_connection(
        settings, lambda conn: migrations.migrate(conn, settings.migrations_dir)
    )
    click.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")


async def _reached(conn: asyncpg.Connection) -> None:
    """Nothing: connecting was the check."""


def worker_app() -> Starlette:
    """The app as each uvicorn worker process builds it.

    Workers are fresh processes: the logging the CLI set up in the supervisor is not
    theirs, and without this they logged in structlog's default format at every level.
    """
    from moderation.app import create_app

    settings = get_settings()
    logs.configure(settings)
    return create_app(settings)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, help="API processes.")
def api(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (production: several workers behind a proxy)."""
    settings = get_settings()
    # One line, not the lifespan's traceback, when the database cannot be reached.
    with_connection(settings, _reached)
    if workers > 1:
        share_metrics_between_processes()
    uvicorn.run(
        "moderation.cli.serve:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **server_options(settings),
    )


commands = [migrate, api]
