"""What every CLI command shares: the settings and a database connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import click

from moderation import db
from moderation.config import Settings
from moderation.errors import ModerationError

T = TypeVar("T")


def database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise click.ClickException(
            "DATABASE_URL is not set (e.g. postgresql://user@host/db); "
            "`moderation dev` starts an embedded database instead"
        )
    return settings.database_url


def with_connection(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` on one connection; our errors become a clean CLI error."""

    async def run() -> T:
        conn = await db.connect(database_url(settings))
        try:
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(run())
    except ModerationError as exc:
        raise click.ClickException(exc.message) from exc
