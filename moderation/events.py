"""Live updates for moderators, fed by PostgreSQL LISTEN/NOTIFY.

Every audit row and every reader report is announced on the `moderation` channel by a
trigger, whichever API process or worker wrote it. Each API process's LISTEN
connection (`db.listen.Listener`) feeds the `EventHub`, which wakes the SSE streams of
the site concerned; a stream then reads what is new from the database itself, after its
own position, so a stream never misses or repeats an event, and one that reconnects
with `Last-Event-ID` resumes where it stopped. The position is two ids, `<comment event>-<report>`.

Ids are taken when a row is written and rows appear when their transaction commits, so a
decision that commits a moment after another's can have the lower id: each read also
looks back `_LATE_SECONDS` for ids the stream has yet to send (`_Sent`). Not a horizon
of open transactions (`pg_snapshot_xmin`): that spans the whole server, and any long
transaction, an import of a million comments or another database's work, would hold
every desk's feed for as long as it ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import asyncpg
import orjson
import structlog
from sse_starlette import ServerSentEvent
from typing_extensions import TypedDict

from moderation import moderators
from moderation.db import Connection, Database
from moderation.db import events as event_queries
from moderation.db import review as review_queries
from moderation.db.listen import Listener
from moderation.errors import Unavailable
from moderation.payloads import MAX_ID

log = structlog.get_logger(__name__)

CHANNEL = "moderation"
# A stream gathers what a burst of notifications announces for this long before it
# reads: a bulk decision of 200 comments is one read and one counts event, not 200.
_GATHER_SECONDS = 0.25
# An idle stream still looks this often whether its moderator may go on watching.
_RECHECK_SECONDS = 15.0
# How long after a stream has gone past an id it still sends that id's row should its
# transaction commit: decisions and a worker's claims commit within a second or two.
_LATE_SECONDS = 10.0

# Whether a feed's moderator may go on watching, asked with the stream's connection. The
# caller supplies it: it knows what let the moderator in (a token, a desk session).
StillAllowed = Callable[[Connection], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Position:
    comment_event: int
    report: int

    def encode(self) -> str:
        return f"{self.comment_event}-{self.report}"

    @classmethod
    def decode(cls, text: str) -> Position | None:
        first, _, second = text.partition("-")
        if not all(
            part.isascii() and part.isdigit() and len(part) <= 19 for part in (first, second)
        ):
            return None
        position = cls(int(first), int(second))
        # Ids are bigints: a larger number is no position this feed gave out.
        return position if max(position.comment_event, position.report) <= MAX_ID else None


@dataclass(slots=True)
class _Sent:
    """What a stream has sent of one kind of row (comment events or reports): the
    highest id, and for `_LATE_SECONDS` the ids sent and where each read that sent some
    started, so that the next read also finds rows committed after a later one."""

    position: int
    starts: deque[tuple[float, int]] = field(default_factory=deque)  # (when, position)
    ids: set[int] = field(default_factory=set)

    def floor(self) -> tuple[int, list[int]]:
        """Where to read after, and the ids above it already sent."""
        now = time.monotonic()
        while self.starts and self.starts[0][0] < now - _LATE_SECONDS:
            self.starts.popleft()
        floor = self.starts[0][1] if self.starts else self.position
        self.ids = {sent for sent in self.ids if sent > floor}
        return floor, list(self.ids)

    def record(self, ids: Sequence[int]) -> None:
        """Note the ids one read sent."""
        if ids:
            self.starts.append((time.monotonic(), self.position))
            self.ids.update(ids)
            self.position = max(self.position, *ids)


class EventHub:
    """Wakes the streams subscribed to a site when the `moderation` channel mentions it."""

    def __init__(self, listener: Listener) -> None:
        self._subscribers: dict[int, set[asyncio.Event]] = defaultdict(set)
        # Whatever happened while the connection was down is in the database: every
        # stream looks again once it is back. And when it goes down, at once: a stream
        # that finds the database unreachable ends, and its client's reconnect gets 503.
        listener.listen(
            CHANNEL, self._notified, connected=self._wake_all, disconnected=self._wake_all
        )

    @contextlib.contextmanager
    def subscription(self, site_id: int) -> Iterator[asyncio.Event]:
        wake = asyncio.Event()
        self._subscribers[site_id].add(wake)
        try:
            yield wake
        finally:
            self._subscribers[site_id].discard(wake)

    def _notified(self, payload: str) -> None:
        site_id = orjson.loads(payload).get("site_id")
        for wake in self._subscribers.get(site_id, ()):
            wake.set()

    def _wake_all(self) -> None:
        for subscribers in self._subscribers.values():
            for wake in subscribers:
                wake.set()


async def stream(
    pool: Database,
    hub: EventHub,
    moderator: moderators.Moderator,
    site_id: int,
    start: Position | None,
    still_allowed: StillAllowed,
) -> AsyncIterator[ServerSentEvent]:
    """The site's feed from `start` (or from now): counts first, then events as they come.

    It ends once `still_allowed` says no (the token revoked, the desk session ended, the
    site no longer theirs), asked before every read; the client's reconnect then gets the
    401 or 404. It also ends when the database becomes unreachable (logged once by the
    pool): the reconnect gets a 503 with Retry-After until it is back, then resumes from
    its Last-Event-ID.
    """
    with contextlib.suppress(Unavailable), hub.subscription(site_id) as wake:
        async with pool.acquire() as conn:
            position = start or Position(*await event_queries.positions(conn))
            yield await _counts(conn, site_id, position)
        sent = (_Sent(position.comment_event), _Sent(position.report))
        while True:
            async with pool.acquire() as conn:
                if not await still_allowed(conn):
                    log.info("feed_closed", moderator=moderator.id, reason="access ended")
                    return
                events, more = await _after(conn, site_id, *sent)
                for event in events:
                    yield event
                if events:
                    position = Position(sent[0].position, sent[1].position)
                    yield await _counts(conn, site_id, position)
            if not more:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_RECHECK_SECONDS):
                        await wake.wait()
                wake.clear()
                await asyncio.sleep(_GATHER_SECONDS)


async def _after(
    conn: Connection, site_id: int, comments: _Sent, reports: _Sent
) -> tuple[list[ServerSentEvent], bool]:
    """Events the stream has yet to send, and whether more are waiting; notes them as
    sent. Each carries the position after it: the highest ids sent, never lower, so
    that Last-Event-ID resumes after all of them."""
    comment_rows = await event_queries.comment_events_after(conn, site_id, *comments.floor())
    report_rows = await event_queries.reports_after(conn, site_id, *reports.floor())
    more = event_queries.CATCH_UP_LIMIT in (len(comment_rows), len(report_rows))
    events: list[ServerSentEvent] = []
    position = Position(comments.position, reports.position)
    for row in comment_rows:
        position = Position(max(position.comment_event, row["id"]), position.report)
        events.append(_event(_comment_kind(row), _comment_data(row), position))
    for row in report_rows:
        position = Position(position.comment_event, max(position.report, row["id"]))
        data = {
            "comment_id": row["comment_id"],
            "reason": row["reason"],
            "at": row["created_at"].isoformat(),
        }
        events.append(_event("reported", data, position))
    comments.record([row["id"] for row in comment_rows])
    reports.record([row["id"] for row in report_rows])
    return events, more


def _comment_kind(row: asyncpg.Record) -> EventKind:
    # "held": a new item for the review queue; "decided": an item leaves a queue; events
    # that change no status go by their own kind ("featured", "unfeatured", "edited").
    if row["kind"] != "status":
        return cast(EventKind, row["kind"])
    return "held" if row["to_status"] == "review" else "decided"


def _comment_data(row: asyncpg.Record) -> dict[str, Any]:
    moderator = None
    if row["moderator_id"] is not None:
        moderator = {"id": row["moderator_id"], "name": row["moderator"]}
    return {
        "comment_id": row["comment_id"],
        "from": row["from_status"],
        "to": row["to_status"],
        "actor": row["actor"],
        "moderator": moderator,
        "reason": row["reason"],
        "at": row["created_at"].isoformat(),
    }


async def _counts(conn: Connection, site_id: int, position: Position) -> ServerSentEvent:
    counts = await review_queries.counts(conn, site_id)
    return _event("counts", {"counts": counts}, position)


EventKind = Literal["counts", "held", "decided", "reported", "featured", "unfeatured", "edited"]


class FeedEvent(TypedDict):
    """An event of the feed as it goes on the wire: its kind, its position (what
    Last-Event-ID resumes after) and its data, a JSON object."""

    event: EventKind
    id: str
    data: str


def _event(kind: EventKind, data: dict[str, Any], position: Position) -> ServerSentEvent:
    wire: FeedEvent = {"event": kind, "id": position.encode(), "data": orjson.dumps(data).decode()}
    return ServerSentEvent(**wire)
