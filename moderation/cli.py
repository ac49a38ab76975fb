"""The `moderation` command: run the service and manage sites."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import click
import uvicorn

from moderation import db, logs
from moderation.config import Settings, get_settings
from moderation.db import migrations
from moderation.db import sites as site_queries
from moderation.errors import ModerationError
from moderation.sites import Site, create_site

T = TypeVar("T")


def _database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise click.ClickException(
            "DATABASE_URL is not set (e.g. postgresql://user@host/db); "
            "`moderation dev` starts an embedded database instead"
        )
    return settings.database_url


def _with_connection(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    async def run() -> T:
        conn = await db.connect(_database_url(settings))
        try:
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(run())
    except ModerationError as exc:
        raise click.ClickException(exc.message) from exc


@click.group()
def main() -> None:
    """Comment moderation service for news sites."""
    logs.configure(get_settings())


@main.command()
def migrate() -> None:
    """Apply the migrations this release ships that the database has not run."""
    settings = get_settings()
    applied = _with_connection(
        settings, lambda conn: migrations.migrate(conn, settings.migrations_dir)
    )
    click.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, help="API processes.")
def api(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (production: several workers behind a proxy)."""
    _database_url(get_settings())
    uvicorn.run(
        "moderation.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


@main.group()
def site() -> None:
    """Manage sites and their widget keys."""


@site.command("create")
@click.argument("slug")
@click.option("--origin", "origins", multiple=True, help="An allowed browser origin (repeat).")
@click.option("--name", default=None, help="Display name; defaults to the slug.")
@click.option("--json", "as_json", is_flag=True, help="Print {site, key} as JSON.")
def site_create(slug: str, origins: tuple[str, ...], name: str | None, as_json: bool) -> None:
    """Create site SLUG and print its widget key."""
    created = _with_connection(
        get_settings(), lambda conn: create_site(conn, slug, list(origins), name)
    )
    if as_json:
        click.echo(json.dumps({"site": created.slug, "key": created.widget_key}))
    else:
        click.echo(f"site {created.slug} created; widget key: {created.widget_key}")


@main.command()
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
    demo = _with_connection(settings, lambda conn: _prepare_demo(conn, settings, host, port))
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


async def _prepare_demo(
    conn: asyncpg.Connection, settings: Settings, host: str, port: int
) -> Site:
    await migrations.migrate(conn, settings.migrations_dir)
    record = await site_queries.get_by_slug(conn, "demo")
    if record is not None:
        return Site.from_record(record)
    origins = [f"http://{host}:{port}", f"http://localhost:{port}"]
    return await create_site(conn, "demo", origins, "Demo News")
