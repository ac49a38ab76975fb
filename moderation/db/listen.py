"""One PostgreSQL LISTEN connection per API process, shared by whoever needs notifications.

The live feed (`events.EventHub`) and the analyze answers (`perspective.analyzer`) each
register a channel before `start`. A lost connection is reopened every couple of
seconds; each registrant hears when the connection comes up (to look at what it may
have missed) and when it goes down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import structlog

from moderation.db import Connection

log = structlog.get_logger(__name__)

_RECONNECT_SECONDS = 2.0

Notified = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class _Channel:
    name: str
    notified: Notified
    connected: Callable[[], None]
    disconnected: Callable[[], None]


def _nothing() -> None:
    return None


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
        while True:
            try:
                conn = await asyncpg.connect(self._database_url)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("listener_unavailable", error=str(exc))
                await asyncio.sleep(_RECONNECT_SECONDS)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _, lost=lost: lost.set())
            try:
                for channel in self._channels:
                    await conn.add_listener(channel.name, _dispatch(channel.notified))
                for channel in self._channels:
                    channel.connected()
                await lost.wait()
            finally:
                for channel in self._channels:
                    channel.disconnected()
                await conn.close()
            log.warning("listener_reconnecting")


def _dispatch(notified: Notified) -> Callable[[Connection, int, str, object], None]:
    def callback(conn: Connection, pid: int, channel: str, payload: object) -> None:
        notified(str(payload))

    return callback
