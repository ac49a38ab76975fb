"""Running the service: `migrate`, `api`, and `dev` for a local instance."""

from __future__ import annotations

import contextlib
import signal

import asyncpg
import click
import uvicorn

from moderation.cli.common import database_url, with_connection
from moderation.config import Settings, get_settings
from moderation.db import migrations
from moderation.db import sites as site_queries
from moderation.sites import Site, create_site


@click.command()
def migrate() -> None:
    """Apply the migrations this release ships that the database has not run."""
    settings = get_settings()
    applied = with_connection(
        settings, lambda conn: migrations.migrate(conn, settings.migrations_dir)
    )
    click.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, help="API processes.")
def api(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (production: several workers behind a proxy)."""
    database_url(get_settings())
    uvicorn.run(
        "moderation.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def dev(host: str, port: int) -> None:
    """Run a local instance: embedded services when none are configured, a demo site."""
    with contextlib.ExitStack() as services:
        settings = _dev_services(get_settings(), services)
        _serve_dev(settings, host, port)


def _dev_services(settings: Settings, services: contextlib.ExitStack) -> Settings:
    """Start an embedded database for whatever the environment does not configure."""
    from moderation.embedded import EmbeddedPostgres

    if settings.database_url is None:
        click.echo(f"starting embedded PostgreSQL in {settings.data_dir / 'postgres'}")
        postgres = EmbeddedPostgres(settings.data_dir)
        services.callback(postgres.stop)
        settings = settings.model_copy(update={"database_url": postgres.url})
    return settings


def _serve_dev(settings: Settings, host: str, port: int) -> None:
    demo = with_connection(settings, lambda conn: _prepare_demo(conn, settings, host, port))
    base = f"http://{host}:{port}"
    click.echo(
        f"\nAPI:       {base}\n"
        f"demo site: {demo.slug}  widget key: {demo.widget_key}\n"
        f"try:       curl -X POST {base}/v1/sites/{demo.slug}/articles/hello/comments "
        f"-H 'Content-Type: application/json' -H 'X-Site-Key: {demo.widget_key}' "
        '-d \'{"author": {"name": "Ann"}, "body": "Hello"}\'\n'
        "Ctrl-C stops it; data stays for the next start.\n"
    )
    from moderation.app import create_app

    _exit_cleanly_on_signals()
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)


def _exit_cleanly_on_signals() -> None:
    # uvicorn re-raises the signal that stopped it once it has shut down; exiting through
    # SystemExit instead of the default handler lets the embedded services stop at exit.
    def leave(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGINT, leave)
    signal.signal(signal.SIGTERM, leave)


async def _prepare_demo(conn: asyncpg.Connection, settings: Settings, host: str, port: int) -> Site:
    await migrations.migrate(conn, settings.migrations_dir)
    record = await site_queries.get_by_slug(conn, "demo")
    if record is not None:
        return Site.from_record(record)
    origins = [f"http://{host}:{port}", f"http://localhost:{port}"]
    return await create_site(conn, "demo", origins, "Demo News")


commands = [migrate, api, dev]
