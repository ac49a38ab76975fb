"""Scoring end to end with real processes: the API, a broker, Celery workers and beat,
PostgreSQL, and the tiny detoxify checkpoint loaded through the real Detoxify code."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from celery import Celery

from moderation import db
from moderation.app import create_app
from moderation.broker import SCORE_TASK, SCORING_QUEUE
from moderation.config import Settings
from moderation.sites import Site, SiteSettings, create_site
from tests.factories import Poster
from tests.tiny_model import PLANTED_WORD
from tests.workers import Process, statuses, wait_until, worker_env
from workers.celery_app import create_celery

REPO = Path(__file__).resolve().parent.parent
DEAD_BROKER = "redis://127.0.0.1:9/0"  # the discard port: nothing answers there

ARMENIAN = "Սա շատ լավ և մտածված հոդված է, շնորհակալություն հեղինակին"  # noqa: RUF001
SPAM = (
    "CHECK OUT MY CHANNEL!!! subscribe now http://bit.ly/free-money "
    "http://bit.ly/free-money2 earn $500 a day from home, whatsapp me"
)


BROKERS = ["redis", "rabbitmq"]


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    if request.param == "redis":
        return redis_url
    url: str = request.getfixturevalue("rabbitmq_url")
    return url


@pytest.fixture
async def worker_db(make_migrated_database: Callable[[], Awaitable[str]]) -> str:
    """A database of its own: a worker claims every pending comment it can see."""
    return await make_migrated_database()


@pytest.fixture
async def wconn(worker_db: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await db.connect(worker_db)
    try:
        yield conn
    finally:
        await conn.close()


class Stack:
    """Starts worker and beat processes for one test and stops them after it."""

    def __init__(self, tmp_path: Path, database_url: str, broker_url: str, models: Path) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.broker_url = broker_url
        self.models = models
        self.processes: list[Process] = []

    def env(self, **extra: str) -> dict[str, str]:
        return worker_env(
            self.database_url,
            self.broker_url,
            self.models,
            MODERATION_DATA_DIR=str(self.tmp_path / "data"),
            MODERATION_SWEEP_AFTER_SECONDS="1",
            MODERATION_SWEEP_INTERVAL_SECONDS="1",
            **extra,
        )

    def start(self, command: str, *args: str, **extra: str) -> Process:
        log = self.tmp_path / f"{command}-{len(self.processes)}.log"
        process = Process([command, *args], self.env(**extra), log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def stack(tmp_path: Path, worker_db: str, broker_url: str, models_dir: Path) -> Iterator[Stack]:
    purge(broker_url)
    started = Stack(tmp_path, worker_db, broker_url, models_dir)
    try:
        yield started
    finally:
        started.stop()


def purge(broker_url: str) -> None:
    """Drop wake-ups other tests left behind: each test counts its own."""
    app = create_celery(Settings(database_url="unused", broker_url=broker_url))
    with app.connection_for_write() as connection:
        app.amqp.queues[SCORING_QUEUE].bind(connection).declare()
        app.amqp.queues[SCORING_QUEUE].bind(connection).purge()


@pytest.fixture
async def api(worker_db: str, broker_url: str) -> AsyncIterator[Callable[..., Any]]:
    """An API client factory: `await api(site, broker=...)` gives a Poster."""
    managers: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []

    async def make(site: Site, broker: str = broker_url) -> Poster:
        settings = Settings(
            database_url=worker_db, broker_url=broker, site_cache_seconds=0, access_log=False
        )
        manager = LifespanManager(create_app(settings))
        await manager.__aenter__()
        managers.append(manager)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://api.test"
        )
        clients.append(client)
        return Poster(client, site)

    yield make
    for client in clients:
        await client.aclose()
    for manager in managers:
        await manager.__aexit__(None, None, None)


async def new_site(conn: asyncpg.Connection, **policy: Any) -> Site:
    policy = {"rate_per_author": 0, "rate_per_address": 0, **policy}
    slug = f"site-{os.urandom(5).hex()}"
    return await create_site(conn, slug, ["https://news.example"], settings=SiteSettings(**policy))


async def decided(conn: asyncpg.Connection, ids: list[int]) -> bool:
    return "pending" not in (await statuses(conn, ids)).values() and bool(ids)


async def audit_counts(conn: asyncpg.Connection, ids: list[int]) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT comment_id, count(*) AS n FROM comment_events WHERE comment_id = ANY($1) "
        "GROUP BY comment_id",
        ids,
    )
    return {row["comment_id"]: row["n"] for row in rows}


async def test_posted_comments_reach_the_status_the_policy_gives(
    stack: Stack, api: Callable[..., Any], wconn: asyncpg.Connection
) -> None:
    site = await new_site(wconn, banned_words=("scoundrel",))
    poster: Poster = await api(site)
    worker = stack.start("worker")
    posted = {
        "clean": await poster.comment(body="A fair point about the city budget, thank you."),
        "toxic": await poster.comment(body=f"You are a {PLANTED_WORD} and everyone knows it"),
        "spam": await poster.comment(body=SPAM, author={"name": "Promo"}),
        "banned": await poster.comment(body="The mayor is a scoundrel, frankly."),
        "armenian": await poster.comment(body=ARMENIAN),
    }
    ids = list(posted.values())
    await wait_until(lambda: decided(wconn, ids), 120, "scoring", [worker])

    rows = {
        r["id"]: r
        for r in await wconn.fetch(
            "SELECT id, status, reasons, language, model, model_device, model_dtype, "
            "model_backend, scores FROM comments WHERE id = ANY($1)",
            ids,
        )
    }
    result = {name: rows[i] for name, i in posted.items()}
    assert result["clean"]["status"] == "approved"
    assert result["clean"]["model"].startswith("original@")
    # This machine has no GPU: auto chose the CPU, eager float32.
    scored_with = ("model_device", "model_dtype", "model_backend")
    assert tuple(result["clean"][k] for k in scored_with) == ("cpu", "float32", "torch")
    assert result["clean"]["language"] == "en"
    assert result["toxic"]["status"] == "rejected"
    assert any(re.fullmatch(r"toxicity \d\.\d\d ≥ 0\.90", r) for r in result["toxic"]["reasons"])
    assert result["toxic"]["scores"]["toxicity"] >= 0.9
    assert result["spam"]["status"] == "spam"
    assert result["banned"]["status"] == "rejected"
    assert "banned word 'scoundrel'" in result["banned"]["reasons"]
    assert result["armenian"]["status"] == "review"
    assert list(result["armenian"]["reasons"]) == ["language hy not covered"]
    assert result["armenian"]["model"] is None
    assert result["armenian"]["model_backend"] is None

    thread = (await poster.thread()).json()
    assert [t["id"] for t in thread["threads"]] == [posted["clean"]]
    events = await wconn.fetch(
        "SELECT comment_id, actor, from_status, to_status, reason FROM comment_events "
        "WHERE comment_id = ANY($1)",
        ids,
    )
    assert len(events) == len(ids)
    assert {(e["actor"], e["from_status"]) for e in events} == {("system", "pending")}


async def test_a_task_delivered_twice_decides_once(
    stack: Stack, api: Callable[..., Any], wconn: asyncpg.Connection, broker_url: str
) -> None:
    site = await new_site(wconn)
    poster: Poster = await api(site, broker=DEAD_BROKER)
    ids = [await poster.comment(body=f"Comment number {i} on the story") for i in range(6)]
    celery: Celery = create_celery(Settings(database_url="unused", broker_url=broker_url))
    for _ in range(2):
        celery.send_task(SCORE_TASK, args=[ids], queue=SCORING_QUEUE)

    worker = stack.start("worker", "--concurrency=2")
    await wait_until(lambda: decided(wconn, ids), 120, "scoring", [worker])

    async def both_deliveries_ran() -> bool:
        return worker.output().count(f"{SCORE_TASK}[") >= 4  # received + succeeded, twice

    await wait_until(both_deliveries_ran, 60, "the second delivery", [worker])
    assert worker.output().count("succeeded") == 2
    assert await audit_counts(wconn, ids) == dict.fromkeys(ids, 1)


async def test_comments_posted_while_the_broker_is_down_are_scored_by_the_sweep(
    stack: Stack, api: Callable[..., Any], wconn: asyncpg.Connection
) -> None:
    site = await new_site(wconn)
    poster: Poster = await api(site, broker=DEAD_BROKER)
    response = await poster.post(body="Posted while the broker was down")
    assert response.status_code == 202
    comment = response.json()["id"]

    worker = stack.start("worker")
    beat = stack.start("beat")
    await wait_until(lambda: decided(wconn, [comment]), 120, "the sweep", [worker, beat])
    assert (await statuses(wconn, [comment]))[comment] == "approved"


async def test_a_worker_killed_mid_batch_loses_nothing(
    stack: Stack, api: Callable[..., Any], wconn: asyncpg.Connection, worker_db: str
) -> None:
    site = await new_site(wconn)
    poster: Poster = await api(site, broker=DEAD_BROKER)
    ids = [await poster.comment(body=f"Comment {i} about the road plan") for i in range(40)]
    fast_lease = {"MODERATION_SCORING_LEASE_SECONDS": "3", "MODERATION_SCORING_BATCH": "4"}

    # Pin the worker mid-batch: hold the article's row, which publishing an approved
    # comment updates, so the worker claims a batch, scores it, and then waits to write.
    blocker = await db.connect(worker_db)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM articles WHERE site_id = $1 FOR UPDATE", site.id)
        first = stack.start("worker", **fast_lease)
        beat = stack.start("beat", **fast_lease)
        await wait_until(
            lambda: worker_waits_on_lock(wconn, blocker),
            120,
            "the worker to wait mid-batch",
            [first, beat],
        )
        first.kill()
        await transaction.rollback()
    finally:
        await blocker.close()

    second = stack.start("worker", **fast_lease)
    await wait_until(lambda: decided(wconn, ids), 180, "recovery", [second, beat])
    assert await audit_counts(wconn, ids) == dict.fromkeys(ids, 1)


async def worker_waits_on_lock(conn: asyncpg.Connection, blocker: asyncpg.Connection) -> bool:
    # Whatever statement it waits in: pg_stat_activity shows only a statement's first
    # track_activity_query_size bytes, so its text is no way to tell.
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND $1 = ANY(pg_blocking_pids(pid))",
        blocker.get_server_pid(),
    )
    return bool(waiting)
