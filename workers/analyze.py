"""The worker's analyze server: batches of requests from the broker, answers over NOTIFY.

Every worker process runs one, on a thread of its own beside Celery's task loop, sharing
the process's scorer: the toxicity model serves both, analyze requests first (see
`toxicity.Turns`). The thread consumes the `analyze` queue directly with kombu (Celery's
messaging library; Redis and RabbitMQ alike), because a Celery task takes one message at
a time and this must take many at once: after the first request it takes every request
already waiting and keeps gathering newcomers for `analyze_gather_ms`, until the texts
gathered fill `analyze_batch_tokens`, then scores them as one batch
(`scoring.analyze.score_requests`). Requests that arrive meanwhile wait
on the queue and make the next batch: a lone request is answered alone, a busy minute
gets full batches.

Requests are acknowledged as they are read: one whose worker dies mid-batch is not
delivered again, its client gets a 504, which beats an answer after the deadline. A
request found already past its deadline is dropped unscored. Answers go out by
`pg_notify` on the channel each request names, one statement per batch; so does the
"started" notice that tells the API a worker has it (a 504 rather than a 503 if it then
runs late).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from typing import Any

import asyncpg
import orjson
import structlog
from kombu import Message, Queue

from moderation import db
from moderation.broker import analyze_queue, broker_connection
from moderation.config import Settings
from moderation.db import listen
from moderation.scoring.analyze import AnalyzeRequest, score_requests
from moderation.scoring.scorer import Scorer

log = structlog.get_logger(__name__)

# How long one wait for the first request of a batch lasts: the thread looks at its stop
# flag this often.
_IDLE_SECONDS = 1.0
_RECONNECT_SECONDS = 2.0
# Reading a message known to be waiting takes a round trip to the broker; longer than this
# and another worker has taken it.
_BACKLOG_SECONDS = 0.25
# About four characters per token in English WordPiece: close enough to stop gathering.
_CHARACTERS_PER_TOKEN = 4
# A NOTIFY payload must stay under 8000 bytes; "started" notices list ids in chunks.
_IDS_PER_NOTICE = 100


class AnalyzeServer:
    def __init__(self, settings: Settings, scorer: Scorer) -> None:
        assert settings.broker_url is not None
        assert settings.database_url is not None
        self._settings = settings
        self._scorer = scorer
        self._stop = threading.Event()
        self._received: list[AnalyzeRequest] = []
        self._loop = asyncio.new_event_loop()
        self._db: asyncpg.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="analyze", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=_IDLE_SECONDS * 3)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception as exc:  # a lost broker or database: look again shortly
                log.warning("analyze_server_reconnecting", error=str(exc))
                self._stop.wait(_RECONNECT_SECONDS)
        if self._db is not None:
            self._loop.run_until_complete(self._db.close())
        self._loop.close()

    def _consume(self) -> None:
        assert self._settings.broker_url is not None
        with broker_connection(self._settings.broker_url) as connection:
            queue = analyze_queue()
            # With acknowledgements on, a prefetch limit keeps one worker from taking
            # more than it can score while others stand idle.
            prefetch = max(64, self._scorer.claim_size * 2)
            with connection.Consumer(
                [queue], callbacks=[self._on_message], accept=["json"], prefetch_count=prefetch
            ):
                log.info("analyze_server_ready", queue=queue.name)
                bound = queue.bind(connection.default_channel)
                while not self._stop.is_set():
                    batch = self._gather(connection, bound)
                    if batch:
                        self._answer(batch)

    def _on_message(self, body: dict[str, Any], message: Message) -> None:
        message.ack()
        try:
            self._received.append(AnalyzeRequest.from_message(body))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("analyze_message_unreadable", error=str(exc))

    def _gather(self, connection: Any, queue: Queue) -> list[AnalyzeRequest]:
        """The next batch: the first request; then what already waits on the queue, however
        long reading it takes (a busy worker's backlog makes full batches); then newcomers
        within the gather time. All until the token budget fills: what came beyond it
        waits for the next batch. Requests past their deadline are dropped."""
        if not self._received and not _drain(connection, _IDLE_SECONDS):
            return []
        waiting = _waiting(queue)
        while waiting > 0 and self._room():
            before = len(self._received)
            if not _drain(connection, _BACKLOG_SECONDS):
                break  # another worker took them
            waiting -= len(self._received) - before
        closes = time.monotonic() + self._settings.analyze_gather_ms / 1000
        while self._room():
            left = closes - time.monotonic()
            if left <= 0 or not _drain(connection, left):
                break
        taken = max(1, self._fits(len(self._received)))
        batch, self._received = self._received[:taken], self._received[taken:]
        now = time.time()
        fresh = [request for request in batch if request.deadline > now]
        if len(fresh) < len(batch):
            log.info("analyze_requests_expired", dropped=len(batch) - len(fresh))
        return fresh

    def _room(self) -> bool:
        """Whether every request received so far fits in the batch (so it may take more)."""
        return self._fits(len(self._received)) == len(self._received)

    def _fits(self, available: int) -> int:
        """How many of the first `available` requests received make a batch within the
        count and token limits."""
        budget = self._settings.analyze_batch_tokens * _CHARACTERS_PER_TOKEN
        characters = 0
        for count, request in enumerate(self._received[:available]):
            characters += len(request.text)
            if count == self._scorer.claim_size or characters > budget:
                return count
        return available

    def _answer(self, batch: list[AnalyzeRequest]) -> None:
        started = time.perf_counter()
        self._notify(_started_notices(batch))
        answers = score_requests(self._scorer, batch)
        self._notify(
            [
                (request.reply_to, orjson.dumps(answer.to_message()).decode())
                for request, answer in zip(batch, answers, strict=True)
            ]
        )
        log.info(
            "analyze_batch",
            requests=len(batch),
            seconds=round(time.perf_counter() - started, 4),
        )

    def _notify(self, notices: list[tuple[str, str]]) -> None:
        self._loop.run_until_complete(self._send_notices(notices))

    async def _send_notices(self, notices: list[tuple[str, str]]) -> None:
        if self._db is None or self._db.is_closed():
            assert self._settings.database_url is not None
            self._db = await db.connect(self._settings.database_url)
        await listen.notify(self._db, notices)


def _waiting(queue: Queue) -> int:
    """How many messages wait on the queue (Redis: the list's length), not counting any
    already on their way to this consumer."""
    # kombu returns (name, message_count, consumer_count); its type stubs say str.
    declared: Any = queue.queue_declare()
    return int(declared[1])


def _drain(connection: Any, seconds: float) -> bool:
    """Wait up to `seconds` for messages; False when none came."""
    try:
        connection.drain_events(timeout=seconds)
    except TimeoutError:
        return False
    return True


def _started_notices(batch: list[AnalyzeRequest]) -> list[tuple[str, str]]:
    by_channel: dict[str, list[str]] = defaultdict(list)
    for request in batch:
        by_channel[request.reply_to].append(request.id)
    return [
        (channel, orjson.dumps({"started": ids[start : start + _IDS_PER_NOTICE]}).decode())
        for channel, ids in by_channel.items()
        for start in range(0, len(ids), _IDS_PER_NOTICE)
    ]
