"""What bench/scoring_bench.py measures against the running service: a burst of POSTs
until every comment is decided, POST-to-decision times at a steady arrival rate, and what
the database's backends are doing meanwhile.

Times come from PostgreSQL (`created_at` is stamped by the INSERT, `decided_at` by the
transaction that writes the decision) and from this process's clock, the same machine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from moderation import db
from moderation.db import migrations
from moderation.sites import Site, SiteSettings, create_site

ROOT = Path(__file__).resolve().parent.parent
_POLL_SECONDS = 0.2
_SAMPLE_SECONDS = 0.02


async def prepare(url: str) -> Site:
    """Migrate the scratch database and create the bench's site."""
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn, ROOT / "migrations")
        # No rate limits: the burst posts hundreds of comments in a second or two. Long
        # comments are allowed: the tail of lengths is the point.
        settings = SiteSettings(rate_per_author=0, rate_per_address=0, max_length=20_000)
        return await create_site(
            conn, "scoring-bench", ["https://bench.example"], "Bench", settings=settings
        )
    finally:
        await conn.close()


def address(number: int) -> str:
    """The client address of a bench comment's reader: one per comment number, the same
    in every run (a backlog's comment n comes from where the burst's comment n did)."""
    return f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"


@dataclass(frozen=True, slots=True)
class Widget:
    """Where a site's widget posts, and as which site: plain values, which poster
    processes are sent."""

    base: str
    slug: str
    key: str


@dataclass
class Poster:
    """Posts comments as a site's widget does, each from a reader and address of its own
    (X-Forwarded-For, which uvicorn trusts from 127.0.0.1), so that the spam signals see
    ordinary readers rather than one address posting hundreds of comments."""

    client: httpx.AsyncClient
    widget: Widget
    run: str
    # Processes that share a burst's POSTs (None: this one posts them all). One Python
    # process spends about 3 ms of CPU on a POST through httpx, so alone it tops out near
    # 300 POSTs a second, under what the API takes in on a machine with cores to spare.
    posters: Posters | None = None

    async def post(self, article: str, number: int, body: str) -> int:
        response = await self.client.post(
            f"/v1/sites/{self.widget.slug}/articles/{article}/comments",
            json={
                "author": {"id": f"{self.run}-{number}", "name": f"Reader {number}"},
                "body": body,
            },
            headers={"X-Site-Key": self.widget.key, "X-Forwarded-For": address(number)},
        )
        if response.status_code != 202:
            raise RuntimeError(f"POST answered {response.status_code}: {response.text[:300]}")
        comment_id: int = response.json()["id"]
        return comment_id


class Posters:
    """Processes that POST a burst's comments between them, started (and their imports
    done) before any burst is timed."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))
        # Each submission that finds no idle process starts one: `count` at once start all.
        list(self.pool.map(time.sleep, [0.5] * count))

    def close(self) -> None:
        self.pool.shutdown()


@dataclass(frozen=True, slots=True)
class Posted:
    ids: list[int]
    cpu_seconds: float  # of the processes that posted


@dataclass
class Burst:
    ids: list[int]
    seconds: float  # from the first POST to the last decision
    posting_seconds: float  # from the first POST to the last 202
    posting_cpu: float  # CPU seconds of the processes that posted
    decided: bool  # False: the wait timed out with comments still pending


@dataclass
class Steady:
    rate: float
    seconds: float
    latencies: list[float]  # POST (created_at) to decision, seconds, in posting order
    pending: int  # still pending when the wait gave up
    post_ms: list[float] = field(default_factory=list)  # the POSTs' own response times
    claims: list[int] = field(default_factory=list)  # comments per batch the worker scored

    def percentile(self, share: float) -> float:
        return percentile(self.latencies, share)


async def burst(
    poster: Poster,
    conn: asyncpg.Connection,
    article: str,
    texts: Sequence[str],
    connections: int,
    give_up_after: float,
) -> Burst:
    """POST every text at once, then wait for decisions."""
    started = time.time()
    posted = await post_all(poster, article, texts, connections)
    posting = time.time() - started
    last = await wait_decided(conn, posted.ids, give_up_after)
    end = last.timestamp() if last else time.time()
    return Burst(posted.ids, end - started, posting, posted.cpu_seconds, last is not None)


async def post_all(poster: Poster, article: str, texts: Sequence[str], connections: int) -> Posted:
    """POST every text at once, at most `connections` in flight (across the poster
    processes, if any); the comments' ids, in the order of `texts`."""
    numbered = list(enumerate(texts))
    if poster.posters is None:
        started = time.process_time()
        ids = await _post_numbered(poster, article, numbered, connections)
        return Posted(ids, time.process_time() - started)
    count = poster.posters.count
    loop = asyncio.get_running_loop()
    shares = await asyncio.gather(
        *(
            loop.run_in_executor(
                poster.posters.pool,
                _post_share,
                poster.widget,
                poster.run,
                article,
                numbered[i::count],
                -(-connections // count),
            )
            for i in range(count)
        )
    )
    ids = [0] * len(texts)
    for i, (share_ids, _) in enumerate(shares):
        ids[i::count] = share_ids
    return Posted(ids, sum(cpu for _, cpu in shares))


async def _post_numbered(
    poster: Poster, article: str, numbered: Sequence[tuple[int, str]], connections: int
) -> list[int]:
    gate = asyncio.Semaphore(connections)

    async def one(number: int, text: str) -> int:
        async with gate:
            return await poster.post(article, number, text)

    return list(await asyncio.gather(*(one(number, text) for number, text in numbered)))


def _post_share(
    widget: Widget, run: str, article: str, numbered: list[tuple[int, str]], connections: int
) -> tuple[list[int], float]:
    """A poster process's share of a burst: its comments' ids and the CPU it took."""
    started = time.process_time()

    async def post() -> list[int]:
        async with client(widget, connections) as http:
            return await _post_numbered(Poster(http, widget, run), article, numbered, connections)

    return asyncio.run(post()), time.process_time() - started


def client(widget: Widget, connections: int) -> httpx.AsyncClient:
    """An HTTP client for the widget's API with a connection for each POST in flight."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=widget.base, limits=limits, timeout=60)


async def steady(
    poster: Poster,
    conn: asyncpg.Connection,
    article: str,
    texts: Sequence[str],
    rate: float,
    give_up_after: float,
) -> tuple[Steady, list[int]]:
    """POST text i at i / rate seconds (on schedule, however slow an answer), then wait."""
    post_ms: list[float] = []

    async def one(number: int, text: str) -> int:
        sent = time.perf_counter()
        comment_id = await poster.post(article, number, text)
        post_ms.append((time.perf_counter() - sent) * 1000)
        return comment_id

    started = time.monotonic()
    tasks: list[asyncio.Task[int]] = []
    for number, text in enumerate(texts):
        await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(number, text)))
    ids = list(await asyncio.gather(*tasks))
    seconds = time.monotonic() - started
    await wait_decided(conn, ids, give_up_after)
    rows = await conn.fetch(
        "SELECT id, extract(epoch FROM decided_at - created_at)::float8 AS latency "
        "FROM comments WHERE id = ANY($1::bigint[]) AND status <> 'pending' ORDER BY id",
        ids,
    )
    latencies = [row["latency"] for row in rows]
    return Steady(rate, seconds, latencies, len(ids) - len(rows), post_ms), ids


async def wait_decided(
    conn: asyncpg.Connection, ids: Sequence[int], give_up_after: float
) -> datetime | None:
    """When the last of `ids` was decided; None if any is pending after `give_up_after` s."""
    deadline = time.monotonic() + give_up_after
    while True:
        waiting, last = await progress(conn, ids)
        if waiting == 0:
            return last
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(_POLL_SECONDS)


async def progress(conn: asyncpg.Connection, ids: Sequence[int]) -> tuple[int, datetime | None]:
    """How many of `ids` are still pending, and when the last decided one was decided."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, "
        "max(decided_at) AS last FROM comments WHERE id = ANY($1::bigint[])",
        list(ids),
    )
    assert row is not None
    return row["pending"], row["last"]


async def stored(conn: asyncpg.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """What the worker wrote for each comment, in the order of `ids`."""
    rows = await conn.fetch(
        "SELECT id, status, language, model, scores FROM comments WHERE id = ANY($1::bigint[])",
        list(ids),
    )
    by_id = {row["id"]: dict(row) for row in rows}
    return [by_id[i] for i in ids]


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: a value that was measured, not an interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Activity:
    """What the database's active backends were doing, sampled every 20 ms: for each
    statement (its first words) and what it waited on ("CPU": nothing), the mean number
    of backends found so; the sums say where the database's time went."""

    samples: Counter[tuple[str, str]] = field(default_factory=Counter)
    ticks: int = 0

    def top(self, count: int) -> list[tuple[str, str, float]]:
        return [
            (statement, wait, seen / max(self.ticks, 1))
            for (statement, wait), seen in self.samples.most_common(count)
        ]


@contextlib.asynccontextmanager
async def sampled(admin_url: str, database: str) -> AsyncIterator[Activity]:
    """Sample `database`'s active backends from a connection to another database (`admin_url`),
    so that the sampling is not counted in the scratch database's CPU."""
    conn = await asyncpg.connect(admin_url)
    activity = Activity()

    async def sample() -> None:
        while True:
            rows = await conn.fetch(
                "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS statement, "
                "coalesce(wait_event_type || ':' || wait_event, 'CPU') AS wait "
                "FROM pg_stat_activity WHERE datname = $1 AND state = 'active'",
                database,
            )
            activity.ticks += 1
            activity.samples.update((row["statement"].strip(), row["wait"]) for row in rows)
            await asyncio.sleep(_SAMPLE_SECONDS)

    task = asyncio.create_task(sample())
    try:
        yield activity
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.close()
