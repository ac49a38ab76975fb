"""PostgreSQL notifications: `notify` sends a batch of them; one LISTEN connection per API
process, shared by whoever needs them, hears them.

The live feed (`events.EventHub`) and the analyze answers (`perspective.analyzer`) each
register a channel before `start`. A lost connection is reopened every couple of
seconds; each registrant hears when the connection comes up (to look at what it may
have missed) and when it goes down. An outage is logged once, not at every attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import structlog

from moderation.db import OUTAGE, Connection, Outage

log = structlog.get_logger(__name__)

_RECONNECT_SECONDS = 2.0
_LISTEN_ERRORS: tuple[type[Exception], ...] = (*OUTAGE, asyncpg.PostgresError)

Notified = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class _Channel:
    name: str
    notified: Notified
    connected: Callable[[], None]
    disconnected: Callable[[], None]


def _nothing() -> None:
    return None


async def notify(conn: Connection, notices: list[tuple[str, str]]) -> None:
    """Send each (channel, payload) in one statement."""
    await conn.execute(
        "SELECT pg_notify(channel, payload) FROM unnest($1::text[], $2::text[]) "
        "AS n(channel, payload)",
        [channel for channel, _ in notices],
        [payload for _, payload in notices],
    )


class Listener:
    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._channels: list[_Channel] = []
        self._task: asyncio.Task[None] | None = None

    def listen(
        self,
        channel: str,
        notified: Notified,
        connected: Callable[[], None] = _nothing,
        disconnected: Callable[[], None] = _nothing,
    ) -> None:
        """Call `notified(payload)` for each notification on `channel`; before `start`."""
        self._channels.append(_Channel(channel, notified, connected, disconnected))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        outage = Outage("listener")
        while True:
            try:
                conn = await asyncpg.connect(self._database_url)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _, lost=lost: lost.set())
                try:
                    for channel in self._channels:
                        await conn.add_listener(channel.name, _dispatch(channel.notified))
                    outage.ended()
                    for channel in self._channels:
                        channel.connected()
                    await lost.wait()
                finally:
                    for channel in self._channels:
                        channel.disconnected()
                    await conn.close()
                outage.began("the LISTEN connection was lost")
                continue
            # Whatever refuses or ends the connection (a server stopping or starting, one
            # failing mid-LISTEN), it is tried again: the task must outlive any outage.
            except _LISTEN_ERRORS as exc:
                outage.began(exc)
            await asyncio.sleep(_RECONNECT_SECONDS)


def _dispatch(notified: Notified) -> Callable[[Connection, int, str, object], None]:
    def callback(conn: Connection, pid: int, channel: str, payload: object) -> None:
        notified(str(payload))

    return callback
