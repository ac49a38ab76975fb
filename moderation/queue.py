"""Handing stored comments to scoring, after they are committed.

Scoring tasks are wake-ups: a worker claims whatever is pending, so one message can
serve many comments. Each API process sends at most one message per `interval`,
carrying the ids it saw, which keeps the broker quiet during a traffic spike while a
lone comment still goes out at once. A message that cannot be sent is dropped with a
warning: the comment is safe in PostgreSQL and the periodic sweep queues it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio.to_thread
import structlog

log = structlog.get_logger(__name__)

Publish = Callable[[list[int]], None]


class ScoringQueue:
    def __init__(self, publish: Publish | None, interval: float = 0.05) -> None:
        self._publish = publish
        self._interval = interval
        self._ids: list[int] = []
        self._wake = asyncio.Event()

    def notify(self, comment_id: int) -> None:
        """Ask for `comment_id` to be scored; returns at once."""
        if self._publish is None:
            return
        self._ids.append(comment_id)
        self._wake.set()

    async def run(self) -> None:
        """Send wake-ups until cancelled; runs for the life of the API process."""
        try:
            while True:
                await self._wake.wait()
                await self._flush()
                await asyncio.sleep(self._interval)
        finally:
            with anyio.CancelScope(shield=True):
                await self._flush()

    async def _flush(self) -> None:
        self._wake.clear()
        ids, self._ids = self._ids, []
        if not ids or self._publish is None:
            return
        try:
            await anyio.to_thread.run_sync(self._publish, ids)
        except Exception as exc:  # the broker's errors are many; all mean "not sent"
            log.warning("scoring_enqueue_failed", comments=len(ids), error=str(exc))
