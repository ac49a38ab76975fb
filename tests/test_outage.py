"""The database unavailable: every request is answered, 503 with Retry-After while it
lasts, and the API recovers by itself.

PostgreSQL is stopped and restarted on a cluster of the tests' own (never the machine's
service): every operation of the API's OpenAPI document (routes added later too) answers
503 while it is down; under load, every POST is answered, every 202 is stored, one
warning is logged for the outage and no traceback. A pool with every connection busy
answers 503 within its bound too. A worker's periodic tasks fail as expected while it
lasts: one warning per pool process, no traceback, and one line when it ends.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from celery import Celery

from moderation import db, moderators
from moderation.app import create_app
from moderation.broker import DELIVER_WEBHOOKS_TASK, SWEEP_TASK
from moderation.config import Settings
from moderation.db import Outage, migrations
from moderation.embedded import EmbeddedPostgres
from moderation.perspective import keys
from moderation.sites import Site, SiteSettings, create_site
from tests.conftest import REPO
from tests.factories import Poster, desk_csrf, desk_sign_in
from tests.workers import Process, live_api, wait_until, worker_env
from workers.celery_app import create_celery

_WRITERS = 6


@dataclass
class Cluster:
    postgres: EmbeddedPostgres
    site: Site
    token: str
    perspective_key: str
    comment_id: int
    author_id: int


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("outage"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def cluster(postgres: EmbeddedPostgres) -> Cluster:
    conn = await db.connect(postgres.url)
    try:
        await migrations.migrate(conn, REPO / "migrations")
        site = await create_site(
            conn, "outage", [], settings=SiteSettings(rate_per_author=0, rate_per_address=0)
        )
        _, token = await moderators.create(conn, "Ops", "admin", [site.id])
        _, perspective_key = await keys.create(conn, site.slug)
        author_id = await conn.fetchval(
            "INSERT INTO authors (site_id, external_id, name) VALUES ($1, 'a', 'A') RETURNING id",
            site.id,
        )
        comment_id = await conn.fetchval(
            """
            INSERT INTO articles (site_id, external_id) VALUES ($1, 'story') RETURNING id
            """,
            site.id,
        )
        comment_id = await conn.fetchval(
            """
            INSERT INTO comments (site_id, article_id, author_id, author_name, body, fingerprint,
                                  status)
            VALUES ($1, $2, $3, 'A', 'Before the outage.', 'x', 'approved') RETURNING id
            """,
            site.id,
            comment_id,
            author_id,
        )
    finally:
        await conn.close()
    return Cluster(postgres, site, token, perspective_key, comment_id, author_id)


@pytest.fixture
def api(tmp_path: Path, cluster: Cluster) -> Iterator[tuple[str, Process]]:
    # No site cache: the desk page that gives the session's CSRF token must not let a
    # route answer from a cached site while the database is down.
    with live_api(tmp_path, cluster.postgres.url, MODERATION_SITE_CACHE_SECONDS="0") as started:
        yield started


@pytest.fixture
async def client(api: tuple[str, Process]) -> AsyncIterator[httpx.AsyncClient]:
    # A request may wait for its connection at most db_acquire_timeout_seconds (5 s):
    # 30 s would only pass a request the service failed to answer.
    async with httpx.AsyncClient(base_url=api[0], timeout=30) as client:
        yield client


@dataclass
class Load:
    """Comments posted by concurrent writers, each answer kept with when it came."""

    client: httpx.AsyncClient
    site: Site
    answers: list[tuple[float, httpx.Response]] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    running: bool = True

    async def writer(self, number: int) -> None:
        sequence = 0
        while self.running:
            sequence += 1
            payload = {"author": {"id": f"w{number}", "name": "W"}, "body": f"{number}/{sequence}"}
            try:
                response = await self.client.post(
                    f"/v1/sites/{self.site.slug}/articles/story/comments",
                    json=payload,
                    headers={"X-Site-Key": self.site.widget_key},
                )
            except httpx.HTTPError as exc:  # no answer at all: what must never happen
                self.failures.append(exc)
            else:
                self.answers.append((time.monotonic(), response))
            await asyncio.sleep(0.01)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    assert int(response.headers["retry-after"]) > 0
    if response.headers["content-type"].startswith("application/json"):
        error = response.json()["error"]
        if set(error) == {"code", "message", "status"}:  # Perspective's routes: Google's
            assert error["status"] == "UNAVAILABLE"
        else:
            assert set(error) == {"code", "message", "field"}
            assert error["code"] == "unavailable"


# What answers without the database. A route added that needs none belongs here.
NO_DATABASE = {
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("GET", "/widget.js"),
    ("GET", "/$discovery/rest"),
    # The process's own metrics, without the pending counts.
    ("GET", "/metrics"),
}


def requests_of_every_route(document: dict[str, Any], cluster: Cluster) -> list[Request]:
    """A request for each operation of the API's own document, routes added later too,
    naming things that exist; the body is left empty: the database is reached first."""
    values: dict[str, Any] = {
        "site": cluster.site.slug,
        "article": "story",
        "comment": cluster.comment_id,
        "author": cluster.author_id,
        "queue": "review",
    }
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            url = re.sub(r"{(\w+)}", lambda m: str(values.get(m.group(1), 1)), path)
            query = {
                p["name"]: values.get(p["name"], "1")
                for p in operation.get("parameters", [])
                if p["in"] == "query" and p.get("required")
            }
            body: dict[str, Any] | None = {} if "requestBody" in operation else None
            found.append(Request(method.upper(), path, url, query, body))
    return found


@dataclass(frozen=True)
class Request:
    method: str
    template: str
    url: str
    query: dict[str, Any]
    body: Any


async def test_every_route_answers_503_while_the_database_is_down_and_recovers(
    client: httpx.AsyncClient, cluster: Cluster, api: tuple[str, Process]
) -> None:
    signed = await desk_sign_in(client, cluster.token)
    assert signed.status_code == 303, signed.text
    csrf = await desk_csrf(client, cluster.site)
    headers = {
        "X-Site-Key": cluster.site.widget_key,
        "Authorization": f"Bearer {cluster.token}",
        "X-CSRF-Token": csrf,
        "X-Goog-Api-Key": cluster.perspective_key,
    }
    document = (await client.get("/openapi.json")).json()
    requests = requests_of_every_route(document, cluster)
    answered_without_database = set()
    cluster.postgres.stop()
    try:
        for r in requests:
            response = await client.request(
                r.method, r.url, params=r.query, json=r.body, headers=headers
            )
            if response.status_code == 503:
                assert_unavailable(response)
            else:
                assert response.status_code < 300, (r.method, r.template, response.text)
                answered_without_database.add((r.method, r.template))
        # A desk page, for people: the same 503 and Retry-After, as a page.
        page = await client.get(f"/desk/sites/{cluster.site.slug}/queues/review")
        assert_unavailable(page)
    finally:
        cluster.postgres.start()
    assert answered_without_database == NO_DATABASE
    # Past the settling time, the first success ends the outage (and says so once).
    await asyncio.sleep(Outage.SETTLE_SECONDS)
    # Recovered, with no restart: what reads answers again (the live feeds never end,
    # and no webhook was ever made).
    reads = [r for r in requests if r.method == "GET" and (r.method, r.template) not in NO_DATABASE]
    for r in reads:
        if "events" not in r.template and "webhooks/" not in r.template:
            response = await client.get(r.url, params=r.query, headers=headers)
            assert response.status_code == 200, (r.template, response.text)
    log = api[1].output()
    assert "Traceback" not in log, log
    assert "raised unexpected" not in log, log
    assert log.count("database_unavailable") == 1, log
    assert log.count("database_available") == 1, log


async def test_a_live_feed_ends_when_the_database_goes_and_resumes_after(
    client: httpx.AsyncClient, cluster: Cluster
) -> None:
    headers = {"Authorization": f"Bearer {cluster.token}"}
    url = f"/v1/moderation/events?site={cluster.site.slug}"
    async with client.stream("GET", url, headers=headers) as feed:
        lines = feed.aiter_lines()
        first = [line async for line in _until_blank(lines)]
        assert "event: counts" in first
        position = next(line for line in first if line.startswith("id: "))[4:]
        cluster.postgres.stop()
        try:
            # The stream ends (no error mid-stream, no hanging): the client reconnects.
            async with asyncio.timeout(10):
                rest = [line async for line in lines]
            assert not any(line.startswith("data:") for line in rest)
            refused = await client.get(url, headers={**headers, "Last-Event-ID": position})
            assert_unavailable(refused)
        finally:
            cluster.postgres.start()


async def test_a_widget_reads_the_503_from_its_page_while_the_database_is_down(
    client: httpx.AsyncClient, cluster: Cluster
) -> None:
    origin = {"Origin": "https://news.example"}
    url = f"/v1/sites/{cluster.site.slug}/articles/story/comments"
    cluster.postgres.stop()
    try:
        # The preflight passes, uncached, so the browser sends the POST to hear the 503.
        ask = {**origin, "Access-Control-Request-Method": "POST"}
        preflight = await client.options(url, headers=ask)
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Max-Age"] == "0"
        payload = {"author": {"name": "W"}, "body": "During the outage."}
        key = {"X-Site-Key": cluster.site.widget_key}
        for response in (
            await client.post(url, json=payload, headers={**origin, **key}),
            await client.get(url, headers=origin),
        ):
            assert_unavailable(response)
            assert response.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    finally:
        cluster.postgres.start()


async def _until_blank(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    async for line in lines:
        if not line:
            return
        yield line


async def test_a_restart_under_load_answers_every_post_and_stores_every_202(
    client: httpx.AsyncClient, cluster: Cluster, api: tuple[str, Process]
) -> None:
    load = Load(client, cluster.site)
    writers = [asyncio.create_task(load.writer(n)) for n in range(_WRITERS)]
    await asyncio.sleep(1)
    down = time.monotonic()
    await asyncio.to_thread(cluster.postgres.stop)
    await asyncio.sleep(2)
    await asyncio.to_thread(cluster.postgres.start)
    up = time.monotonic()
    # Recovered: posts are accepted again without restarting the API.
    while not any(at > up and r.status_code == 202 for at, r in load.answers):
        assert time.monotonic() - up < 30, "the API did not recover"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    load.running = False
    await asyncio.gather(*writers)

    assert load.failures == []
    statuses = {r.status_code for _, r in load.answers}
    assert statuses == {202, 503}, statuses
    for _, response in load.answers:
        if response.status_code == 503:
            assert_unavailable(response)
    during = [r for at, r in load.answers if down < at < up]
    assert any(r.status_code == 503 for r in during)

    accepted = [r.json()["id"] for _, r in load.answers if r.status_code == 202]
    conn = await asyncpg.connect(cluster.postgres.url)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM comments WHERE id = ANY($1::bigint[])", accepted
        )
    finally:
        await conn.close()
    assert stored == len(accepted)
    log = api[1].output()
    assert "Traceback" not in log, log
    assert "raised unexpected" not in log, log
    assert log.count("database_unavailable") == 1, log


async def test_a_request_that_finds_every_connection_busy_answers_503_in_time(
    settings: Settings, site: Site, conn: asyncpg.Connection
) -> None:
    bounded = settings.model_copy(
        update={"db_pool_min": 1, "db_pool_max": 1, "db_acquire_timeout_seconds": 0.2}
    )
    app = create_app(bounded)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            poster = Poster(client, site)
            await poster.comment(article="locked")
            token = await moderator_token(conn, site)
            # The pool's one connection waits on this lock inside an article update.
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM articles WHERE site_id = $1 FOR UPDATE", site.id)
                closing = asyncio.create_task(
                    client.put(
                        f"/v1/moderation/sites/{site.slug}/articles/locked",
                        json={"open": False},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                )
                await wait_for_lock_waiter(conn)
                started = time.monotonic()
                response = await poster.thread(article="locked")
                waited = time.monotonic() - started
            assert (await closing).status_code == 200
    assert_unavailable(response)
    # Bounded by db_acquire_timeout_seconds, not by the lock holder.
    assert waited < 5


async def moderator_token(conn: asyncpg.Connection, site: Site) -> str:
    _, token = await moderators.create(conn, "Busy", "moderator", [site.id])
    return token


async def wait_for_lock_waiter(conn: asyncpg.Connection) -> None:
    async def waiting() -> bool:
        # Activity is read once per transaction unless its snapshot is cleared.
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        waiters: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return waiters > 0

    await wait_until(waiting, 10, "the article update to wait on the lock")


@pytest.fixture
def worker(
    request: pytest.FixtureRequest, tmp_path: Path, cluster: Cluster, redis_url: str
) -> Iterator[tuple[Process, Celery]]:
    """A worker (one pool process, the dev scorer) on a queue of its own, and an app that
    sends to it: the broker may be shared, and no other worker may take these tasks.
    Parametrized True, it is started while PostgreSQL is stopped."""
    if getattr(request, "param", False):
        cluster.postgres.stop()
    queue = f"outage-{os.urandom(4).hex()}"
    env = worker_env(
        cluster.postgres.url,
        redis_url,
        tmp_path / "no-models",
        MODERATION_DEV_SCORER="true",
        MODERATION_DATA_DIR=str(tmp_path / "data"),
        # Nothing is overdue: the sweep sends no scoring task to the shared queue.
        MODERATION_SWEEP_AFTER_SECONDS="86400",
    )
    process = Process(["worker", "--queues", queue], env, tmp_path / "worker.log")
    app = create_celery(Settings(database_url="unused", broker_url=redis_url))
    # Every task to the worker's queue, not to the ones the app routes them to.
    app.conf.task_default_queue = queue
    app.conf.task_routes = {}
    try:
        yield process, app
    finally:
        process.stop()


async def run_tasks(worker: tuple[Process, Celery], rounds: int) -> None:
    """Send the sweep and the webhook poll `rounds` times and wait until all have run."""
    process, app = worker
    finished = re.compile(r"Task workers\.tasks\.\w+\[[^]]+\] (succeeded|raised)")
    expected = len(finished.findall(process.output())) + 2 * rounds
    for _ in range(rounds):
        app.send_task(SWEEP_TASK)
        app.send_task(DELIVER_WEBHOOKS_TASK)

    async def ran() -> bool:
        return len(finished.findall(process.output())) >= expected

    await wait_until(ran, 60, "the worker to run its tasks", [process])


# The worker starts with PostgreSQL up, or while it is down (`worker` stops it first).
@pytest.mark.parametrize("worker", [False, True], ids=["running", "starting"], indirect=True)
async def test_a_worker_logs_the_outage_once_without_a_traceback_and_recovers(
    cluster: Cluster, worker: tuple[Process, Celery]
) -> None:
    process = worker[0]

    async def ready() -> bool:
        return "worker_ready" in process.output()

    try:
        await wait_until(ready, 120, "the worker to start", [process])
        await asyncio.to_thread(cluster.postgres.stop)
        await run_tasks(worker, 3)
    finally:
        await asyncio.to_thread(cluster.postgres.start)
    during = process.output()
    assert "raised expected" in during, during

    # Past the settling time, the first success ends the outage (and says so once).
    async def recovered() -> bool:
        await asyncio.sleep(Outage.SETTLE_SECONDS)
        await run_tasks(worker, 1)
        return "database_available" in process.output()

    await wait_until(recovered, 60, "the worker to recover", [process])
    log = process.output()
    assert "Traceback" not in log, log
    assert "raised unexpected" not in log, log
    assert log.count("database_unavailable") == 1, log
    assert log.count("database_available") == 1, log
    assert log.index("database_unavailable") < log.index("database_available")
