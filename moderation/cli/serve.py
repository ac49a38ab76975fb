"""Running the service: `migrate`, `api`, and `dev` for a local instance."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys

import asyncpg
import click
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette

from moderation import logs, moderators
from moderation.cli.common import database_url, with_connection
from moderation.config import Settings, get_settings
from moderation.db import migrations
from moderation.db import moderators as moderator_queries
from moderation.db import sites as site_queries
from moderation.errors import ModelMissing
from moderation.sites import Site, SiteDocument, create_site, replace_settings


@click.command()
def migrate() -> None:
    """Apply the migrations this release ships that the database has not run."""
    settings = get_settings()
    applied = with_connection(
        settings, lambda conn: migrations.migrate(conn, settings.migrations_dir)
    )
    click.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")


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
    database_url(get_settings())
    uvicorn.run(
        "moderation.cli.serve:worker_app",
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
        settings = _dev_session(_dev_services(get_settings(), services))
        demo, token = with_connection(
            settings, lambda conn: _prepare_demo(conn, settings, host, port)
        )
        _dev_workers(settings, services)
        _serve_dev(settings, demo, token, host, port)


def _dev_services(settings: Settings, services: contextlib.ExitStack) -> Settings:
    """Start embedded PostgreSQL and Redis for whatever the environment does not configure."""
    from moderation.embedded import EmbeddedPostgres, EmbeddedRedis

    if settings.database_url is None:
        click.echo(f"starting embedded PostgreSQL in {settings.data_dir / 'postgres'}")
        postgres = EmbeddedPostgres(settings.data_dir)
        services.callback(postgres.stop)
        settings = settings.model_copy(update={"database_url": postgres.url})
    if settings.broker_url is None:
        click.echo(f"starting embedded Redis (broker) in {settings.data_dir / 'redis'}")
        redis = EmbeddedRedis(settings.data_dir)
        services.callback(redis.stop)
        settings = settings.model_copy(update={"broker_url": redis.url})
    return settings


def _dev_session(settings: Settings) -> Settings:
    """The desk's session secret, kept in the data dir unless configured; plain-http cookies.

    Kept across restarts so moderators stay signed in. The local instance serves plain
    http, where a browser would never send back a Secure cookie.
    """
    from moderation.web.desk.sessions import stored_secret

    secret = settings.session_secret or SecretStr(
        stored_secret(settings.data_dir / "session-secret")
    )
    return settings.model_copy(update={"session_secret": secret, "session_cookie_secure": False})


def _dev_workers(settings: Settings, services: contextlib.ExitStack) -> None:
    """A scoring worker and beat beside the API, with the dev scorer if weights are absent."""
    from workers.runtime import check_models

    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "BROKER_URL": str(settings.broker_url),
        "MODERATION_DATA_DIR": str(settings.data_dir),
    }
    # A developer's webhook receiver runs on this machine.
    env.setdefault("MODERATION_WEBHOOK_ALLOW_PRIVATE", "true")
    try:
        check_models(settings)
    except ModelMissing as exc:
        click.secho(
            f"\n*** {exc.message}\n*** Using the DEVELOPMENT keyword scorer instead of detoxify: "
            "decisions are for trying the service only. ***\n",
            fg="yellow",
        )
        env["MODERATION_DEV_SCORER"] = "true"
    for command in ("worker", "beat"):
        process = subprocess.Popen([sys.executable, "-m", "moderation", command], env=env)
        services.callback(_stop_process, process)


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _serve_dev(settings: Settings, demo: Site, token: str, host: str, port: int) -> None:
    from moderation.app import create_app
    from moderation.web.demo import by_port, create_demo_app

    api = f"http://{host}:{port}"
    demo_page = f"http://{host}:{port + 1}/demo/"
    click.echo(
        f"\nAPI:        {api}\n"
        f"demo page:  {demo_page}\n"
        f"desk:       {api}/desk/  (sign in with the token below)\n"
        f"demo site:  {demo.slug}  widget key: {demo.widget_key}\n"
        f"moderator:  demo (admin)  token: {token}\n"
        f"try:        curl -X POST {api}/v1/sites/{demo.slug}/articles/hello/comments "
        f"-H 'Content-Type: application/json' -H 'X-Site-Key: {demo.widget_key}' "
        '-d \'{"author": {"name": "Ann"}, "body": "Hello"}\'\n'
        f"            curl -H 'Authorization: Bearer {token}' "
        f"'{api}/v1/moderation/queues?site={demo.slug}'\n"
        "Ctrl-C stops it; data stays for the next start.\n"
    )
    app = by_port(create_app(settings), create_demo_app(api, demo.slug, demo.widget_key), port + 1)
    sockets = [_listen(host, port), _listen(host, port + 1)]
    _exit_cleanly_on_signals()
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=sockets)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _exit_cleanly_on_signals() -> None:
    # uvicorn re-raises the signal that stopped it once it has shut down; exiting through
    # SystemExit instead of the default handler lets the embedded services stop at exit.
    def leave(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGINT, leave)
    signal.signal(signal.SIGTERM, leave)


async def _prepare_demo(
    conn: asyncpg.Connection, settings: Settings, host: str, port: int
) -> tuple[Site, str]:
    """The demo site and a fresh token for its demo admin (tokens are never stored)."""
    await migrations.migrate(conn, settings.migrations_dir)
    record = await site_queries.get_by_slug(conn, "demo")
    # The demo page is served one port above the API, on its own origin.
    origins = [f"http://{host}:{port + 1}", f"http://localhost:{port + 1}"]
    if record is None:
        site = await create_site(conn, "demo", origins, "Demo News")
    else:
        site = Site.from_record(record)
        if not set(origins) <= set(site.allowed_origins):
            merged = [*site.allowed_origins, *(o for o in origins if o not in site.allowed_origins)]
            document = SiteDocument.of(site).model_copy(update={"allowed_origins": tuple(merged)})
            site = await replace_settings(conn, site, document, moderator_id=None)
    moderator_id = await moderator_queries.by_name(conn, "demo")
    if moderator_id is None:
        _, token = await moderators.create(conn, "demo", "admin", [site.id])
    else:
        token = await moderators.issue_token(conn, moderator_id)
    return site, token


commands = [migrate, api, dev]
