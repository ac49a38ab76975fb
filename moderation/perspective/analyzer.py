"""Asking the workers to score a text and waiting for the answer, in the API process.

A request goes onto the broker's `analyze` queue (its own queue: it never waits behind
comment-scoring wake-ups), as a transient message that expires with its deadline. The
answer comes back on a PostgreSQL channel of this process's own (LISTEN/NOTIFY: about
a millisecond, whatever the broker). Nothing waits longer than `analyze_timeout_seconds`:
then the request is a 503 when no worker took it (none running, or all far behind) and a
504 when one did but did not finish in time.

Messages are published from one thread at a time, in bursts: whatever requests arrived
while the previous burst was being sent go out together.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import orjson
import structlog
from kombu import Connection

from moderation.broker import ANALYZE_QUEUE, analyze_queue, broker_connection
from moderation.db.listen import Listener
from moderation.errors import DeadlineExceeded, Unavailable
from moderation.scoring.analyze import AnalyzeAnswer, AnalyzeRequest

log = structlog.get_logger(__name__)


@dataclass
class _Waiter:
    future: asyncio.Future[AnalyzeAnswer]
    started: bool = False


@dataclass
class Analyzer:
    broker_url: str | None
    timeout: float
    # This process's answer channel.
    channel: str = field(default_factory=lambda: "analyze_" + secrets.token_hex(8))
    _waiting: dict[str, _Waiter] = field(default_factory=dict)
    _outbox: list[AnalyzeRequest] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _listening: asyncio.Event = field(default_factory=asyncio.Event)
    # Used by one thread at a time (`_send` runs one burst after the other).
    _connection: Connection | None = None

    def attach(self, listener: Listener) -> None:
        listener.listen(
            self.channel,
            self._notified,
            connected=self._listening.set,
            disconnected=self._listening.clear,
        )

    async def analyze(self, text: str, language: str | None) -> AnalyzeAnswer:
        """The workers' answer for `text`; `Unavailable` or `DeadlineExceeded` instead of
        waiting longer than the timeout."""
        if self.broker_url is None:
            raise Unavailable("no broker is configured (BROKER_URL): no worker can score")
        deadline = time.monotonic() + self.timeout
        if not self._listening.is_set():
            # Just started, or the database connection is being reopened.
            try:
                await asyncio.wait_for(self._listening.wait(), self.timeout)
            except TimeoutError:
                raise Unavailable(
                    "this API process cannot hear answers: the database is not reachable"
                ) from None
        request = AnalyzeRequest(
            id=uuid.uuid4().hex,
            text=text,
            language=language,
            reply_to=self.channel,
            deadline=time.time() + (deadline - time.monotonic()),
        )
        waiter = _Waiter(asyncio.get_running_loop().create_future())
        self._waiting[request.id] = waiter
        self._outbox.append(request)
        self._wake.set()
        try:
            answer = await asyncio.wait_for(waiter.future, deadline - time.monotonic())
        except TimeoutError:
            if waiter.started:
                raise DeadlineExceeded(
                    f"a worker took the request but did not answer within {self.timeout:g} s"
                ) from None
            raise Unavailable(
                f"no scoring worker took the request within {self.timeout:g} s "
                "(none running, or all of them busy)"
            ) from None
        finally:
            self._waiting.pop(request.id, None)
        if answer.error is not None:
            raise Unavailable(answer.error)
        return answer

    async def run(self) -> None:
        """Send requests until cancelled; runs for the life of the API process."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                burst, self._outbox = self._outbox, []
                if burst:
                    await self._send(burst)
        finally:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.release()

    async def _send(self, burst: list[AnalyzeRequest]) -> None:
        try:
            await anyio.to_thread.run_sync(self._publish, burst)
        except Exception as exc:  # the broker's errors are many; all mean "not sent"
            self._connection = None
            log.warning("analyze_enqueue_failed", requests=len(burst), error=str(exc))
            for request in burst:
                waiter = self._waiting.get(request.id)
                if waiter is not None and not waiter.future.done():
                    waiter.future.set_exception(Unavailable(f"the broker is not reachable: {exc}"))

    def _publish(self, burst: list[AnalyzeRequest]) -> None:
        assert self.broker_url is not None
        if self._connection is None:
            self._connection = broker_connection(self.broker_url)
        producer = self._connection.Producer(serializer="json")
        queue = analyze_queue()
        for request in burst:
            producer.publish(
                request.to_message(),
                exchange=queue.exchange,
                routing_key=ANALYZE_QUEUE,
                declare=[queue],
                delivery_mode=1,  # transient: never written to disk
                expiration=max(request.deadline - time.time(), 0.001),
                retry=False,
            )

    def _notified(self, payload: str) -> None:
        message: dict[str, Any] = orjson.loads(payload)
        if "started" in message:
            for request_id in message["started"]:
                waiter = self._waiting.get(request_id)
                if waiter is not None:
                    waiter.started = True
            return
        answer = AnalyzeAnswer.from_message(message)
        waiter = self._waiting.get(answer.id)
        if waiter is not None and not waiter.future.done():
            waiter.future.set_result(answer)
