"""The query layer: every SQL statement lives in this package.

Functions are named for what they do, take the connection first, and use plain
parameterised SQL. Callers own the transaction.
"""

from __future__ import annotations

import asyncpg
import orjson

from moderation.config import Settings
from moderation.errors import Unavailable

# Query functions take either a plain connection or one borrowed from the pool.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release a connection to the pool without asyncpg's reset query.

    The default reset (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`)
    costs a round trip on every release, that is on every request. asyncpg still rolls
    back a transaction left open and drops listeners; request code never leaves SET,
    LISTEN, advisory locks or cursors behind on a pooled connection (LISTEN and the
    migration lock use connections of their own).
    """


async def create_pool(settings: Settings) -> asyncpg.Pool:
    """Open the process's pool; the caller (a lifespan or a worker process) closes it."""
    if settings.database_url is None:
        raise Unavailable("DATABASE_URL is not set", field="DATABASE_URL")
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        init=_init_connection,
        reset=_keep_session,
    )
    return pool


async def connect(database_url: str) -> asyncpg.Connection:
    """One connection with the service's codecs, for the CLI and scripts."""
    conn: asyncpg.Connection = await asyncpg.connect(database_url)
    await _init_connection(conn)
    return conn
