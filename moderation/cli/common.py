"""What every CLI command shares: the settings and a database connection."""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
import click

from moderation import db
from moderation.config import Settings
from moderation.errors import ModerationError
from moderation.payloads import MAX_ID, clean_line

T = TypeVar("T")


def required(value: str | None, variable: str, example: str) -> str:
    """`value`, or a CLI error naming the unset variable and what it looks like."""
    if value is None:
        raise click.ClickException(
            f"{variable} is not set (e.g. {example}); "
            "`moderation dev` starts embedded services instead"
        )
    return value


def require_extra(extra: str, *modules: str) -> None:
    """A CLI error naming the extra to install unless every module is installed.

    The base install serves the API; scoring (`worker`) and the embedded services
    (`dev`) come with extras, and a command that needs one says which.
    """
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise click.ClickException(
            f"this command needs the {extra!r} extra ({', '.join(missing)} not installed): "
            f"pip install 'moderation[{extra}]' (in a checkout: pip install -e '.[{extra}]')"
        )


_DATABASE_URL_EXAMPLE = "postgresql://user@host/db"


def one_line(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: a name as the API takes one (no control characters, one line)."""
    if value is None:
        return None
    try:
        return clean_line(value)
    except ValueError as exc:
        raise click.ClickException(f"--{param.name}: {exc}") from exc


def database_url(settings: Settings) -> str:
    return required(settings.database_url, "DATABASE_URL", _DATABASE_URL_EXAMPLE)


def broker_url(settings: Settings) -> str:
    return required(
        settings.broker_url,
        "BROKER_URL",
        "redis://localhost:6379/0 or amqp://guest:guest@localhost:5672//",
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """What `api` and `dev` tell uvicorn alike: our logging, not its, and the keep-alive."""
    return {
        "timeout_keep_alive": settings.api_keepalive_seconds,
        "log_config": None,
        "access_log": False,
    }


async def _connect(url: str) -> asyncpg.Connection:
    """A connection to `url`, or a one-line CLI error naming DATABASE_URL and the problem."""
    try:
        return await db.connect(url)
    # asyncpg says ValueError for some URLs it cannot parse (a port that is no number),
    # and OverflowError, from the socket, for a port over 65535.
    except (asyncpg.ClientConfigurationError, ValueError, OverflowError) as exc:
        raise click.ClickException(
            f"DATABASE_URL is not a usable PostgreSQL URL ({exc}; e.g. {_DATABASE_URL_EXAMPLE})"
        ) from exc
    except db.OUTAGE as exc:
        raise click.ClickException(
            f"cannot reach the database in DATABASE_URL ({type(exc).__name__}: {exc})"
        ) from exc


def with_connection(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` on one connection; our errors become a clean CLI error."""

    async def run() -> T:
        conn = await _connect(database_url(settings))
        try:
            return await work(conn)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError) as exc:
            raise click.ClickException(
                f"the database in DATABASE_URL is not migrated to this release ({exc}); "
                "run `moderation migrate`"
            ) from exc
        finally:
            await conn.close()

    with clean_errors():
        return asyncio.run(run())


@contextmanager
def clean_errors() -> Iterator[None]:
    """Our errors end the command with their message, not a traceback."""
    try:
        yield
    except ModerationError as exc:
        raise click.ClickException(exc.message) from exc


def share_metrics_between_processes() -> None:
    """Let the processes this command starts report their metrics together.

    prometheus-client picks where a process keeps its counts when it is first imported:
    the folder must be set before that, in the process that starts the others. A folder
    the operator set (PROMETHEUS_MULTIPROC_DIR) is used as it is; otherwise each start
    gets a fresh one, so counts start from zero as a restarted process's would.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess folder was set")
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = tempfile.mkdtemp(prefix="moderation-metrics-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


# A row's id, as the database holds it: a bigger number is no id, not a crash.
ROW_ID = click.IntRange(1, MAX_ID)
# How long a replaced secret may stay valid beside its successor: 30 days.
MAX_KEEP_PREVIOUS_SECONDS = 30 * 86400.0
MAX_GRACE_HOURS = 30 * 24.0


class Duration(click.FloatRange):
    """A number of seconds or hours from 0 to `most`: not "nan", which compares with no
    bound, nor one so large that it overflows as a date."""

    name = "duration"

    def __init__(self, most: float) -> None:
        super().__init__(min=0, max=most)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number
