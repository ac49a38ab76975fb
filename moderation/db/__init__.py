"""The query layer: every SQL statement lives in this package.

Functions are named for what they do, take the connection first, and use plain
parameterised SQL. Callers own the transaction.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
import structlog

from moderation.config import Settings
from moderation.errors import Unavailable

log = structlog.get_logger(__name__)

# Query functions take either a plain connection or one borrowed from the pool.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# What PostgreSQL stopped, restarting or saturated looks like to a client: the socket is
# refused or dropped (OSError, class 08, and asyncpg's InterfaceError for a connection
# already closed), the server is starting or shutting down (57P01-57P03), has no
# connection slot left (53300), no connection came within the bound (TimeoutError), or
# a new connection is refused its database or role (3D000, 28000: dropped or changed).
# InternalClientError too: a pooled connection whose server sent its farewell while it
# sat idle is lent before its socket is seen closed, and the next statement finds the
# protocol still consuming that error ("another operation (2) is in progress").
OUTAGE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
)


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


class Outage:
    """Logs a dependency's outage once when it begins and once when it ends, however
    many requests meet it meanwhile (each of them is answered, not logged)."""

    # While a server shuts down or starts, some connections still work and others fail:
    # an outage ends only with a success this long after its last failure.
    SETTLE_SECONDS = 1.0

    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        self._last_failure = 0.0

    def began(self, error: BaseException | str) -> None:
        self._last_failure = time.monotonic()
        if not self.down:
            self.down = True
            log.warning(f"{self.name}_unavailable", error=str(error) or type(error).__name__)

    def ended(self) -> None:
        if self.down and time.monotonic() - self._last_failure >= self.SETTLE_SECONDS:
            self.down = False
            log.info(f"{self.name}_available")


class Database:
    """The API process's pool, lending connections for a bounded time.

    Every request borrows its connection here, so PostgreSQL's outages surface in this
    one place: an error of `OUTAGE` while acquiring or using a connection leaves as
    `Unavailable` (503 with Retry-After). asyncpg replaces dead connections on the next
    acquire, so the service recovers by itself once the server is back.
    """

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float) -> None:
        self.pool = pool
        self._acquire_timeout = acquire_timeout
        self._outage = Outage("database")

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        try:
            async with self.pool.acquire(timeout=self._acquire_timeout) as conn:
                yield conn
        except OUTAGE as exc:
            self._outage.began(exc)
            raise Unavailable(
                f"the database is not reachable ({type(exc).__name__}); retry shortly"
            ) from exc
        self._outage.ended()

    async def close(self) -> None:
        await self.pool.close()


async def open_database(settings: Settings) -> Database:
    """The API's `Database`; the caller (the lifespan) closes it."""
    return Database(await create_pool(settings), settings.db_acquire_timeout_seconds)


async def connect(database_url: str) -> asyncpg.Connection:
    """One connection with the service's codecs, for the CLI and scripts."""
    conn: asyncpg.Connection = await asyncpg.connect(database_url)
    await _init_connection(conn)
    return conn
