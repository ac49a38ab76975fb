"""Webhooks end to end: the CLI, the outbox, a real Celery worker and beat delivering to a
real local HTTP receiver that checks signatures as a Stripe-style receiver would."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from moderation import db, moderators, webhooks
from moderation.app import create_app
from moderation.broker import MAINTENANCE_QUEUE, RETENTION_TASK, celery_app
from moderation.config import Settings
from moderation.db import review as review_queries
from moderation.db import transitions
from moderation.db import webhooks as webhook_queries
from moderation.errors import Conflict, WebhookTargetRefused
from moderation.sites import Site, create_site
from moderation.webhooks import sender, targets
from tests.factories import Poster, moderator_headers
from tests.workers import Process, service_env, wait_until, worker_env

MODERATION = str(Path(sys.executable).with_name("moderation"))
TOLERANCE_SECONDS = 300


def verify(header: str, secrets: list[str], body: bytes) -> bool:
    """What a receiver does, written from the documented scheme (not our signing code)."""
    parts = [item.split("=", 1) for item in header.split(",")]
    timestamps = [value for key, value in parts if key == "t"]
    signatures = [value for key, value in parts if key == "v1"]
    if len(timestamps) != 1 or abs(time.time() - int(timestamps[0])) > TOLERANCE_SECONDS:
        return False
    signed = timestamps[0].encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, given) for given in signatures):
            return True
    return False


@dataclass
class Receiver:
    """A local HTTP endpoint: fails the first `failures` requests, then accepts; processes
    each event id once, as a receiver de-duplicating on it does."""

    secrets: list[str] = field(default_factory=list)
    failures: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    # Cleared, a request is received but not answered until it is set again.
    answering: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.answering.set()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        self.requests.append({"path": path, "headers": headers, "body": body})
        if path == "/moved":
            return 302, b""
        if not verify(headers.get("moderation-signature", ""), self.secrets, body):
            self.bad_signatures += 1
            return 400, b"bad signature"
        if self.failures > 0:
            self.failures -= 1
            return 500, b"temporarily broken"
        event = json.loads(body)
        if event["id"] not in self.processed:
            self.processed.append(event["id"])
        return 200, b"ok"


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = state.handle(self.path, headers, body)
            state.answering.wait()
            if self.path == "/slow":
                self.drip()
                return
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "/hook")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def drip(self) -> None:
            """A 200 a byte every 0.1 s: each read is well within a timeout, the whole not."""
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            with contextlib.suppress(OSError):  # the sender cut it off
                for _ in range(40):
                    self.wfile.write(b"x")
                    time.sleep(0.1)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def own_db(make_migrated_database: Callable[[], Awaitable[str]]) -> str:
    """A database of its own: a worker delivers whatever is due in the database it sees."""
    return await make_migrated_database()


@pytest.fixture
async def wconn(own_db: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await db.connect(own_db)
    try:
        yield conn
    finally:
        await conn.close()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MODERATION, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, env, *args)


def private_settings(url: str = "unused") -> Settings:
    return Settings(database_url=url, webhook_allow_private=True)


async def test_targets_on_loopback_or_private_networks_are_refused(
    conn: asyncpg.Connection, site: Site
) -> None:
    public = Settings(database_url="unused")
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
    ):
        with pytest.raises(WebhookTargetRefused, match="loopback, private or reserved"):
            await webhooks.add(conn, site, url, ["comment.created"], public)
    for url, message in (
        ("ftp://example.org/x", "must be an http:// or https:// URL"),
        ("https://user:pw@example.org/x", "no credentials"),
    ):
        with pytest.raises(WebhookTargetRefused, match=message):
            await webhooks.add(conn, site, url, ["comment.created"], public)
    # At delivery too: a name may resolve elsewhere by then.
    answer = sender.post("http://127.0.0.1:9/hook", b"{}", {}, 2, allow_private=False)
    assert answer.status_code is None
    assert answer.response.startswith("refused: 127.0.0.1 resolves to 127.0.0.1")


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
        "http://[::127.0.0.1]/hook",  # IPv4-compatible
        "http://[64:ff9b::7f00:1]/hook",  # NAT64: 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64: 169.254.169.254
        "http://[64:ff9b:1::a00:1]/hook",  # NAT64 local use: 10.0.0.1
        "http://[::ffff:0:7f00:1]/hook",  # SIIT IPv4-translated: 127.0.0.1
        "http://[2002:7f00:1::]/hook",  # 6to4: 127.0.0.1
        "http://[2002:a9fe:a9fe::]/hook",  # 6to4: 169.254.169.254
        "http://[2001:0:a00:1::f7ff:f7ff:f7fe]/hook",  # Teredo: server 10.0.0.1
        "http://[2001:0:808:808::80ff:fffe]/hook",  # Teredo: client 127.0.0.1
    ],
)
def test_ipv6_addresses_carrying_a_private_ipv4_address_are_refused(url: str) -> None:
    with pytest.raises(WebhookTargetRefused, match="loopback, private or reserved"):
        targets.addresses(targets.parse(url), allow_private=False)
    answer = sender.post(url, b"{}", {}, 2, allow_private=False)  # at delivery too
    assert answer.status_code is None
    assert answer.response.startswith("refused:")


@pytest.mark.parametrize("url", ["http://[64:ff9b::808:808]/", "http://[::ffff:8.8.8.8]/"])
def test_ipv6_addresses_carrying_a_public_ipv4_address_are_allowed(url: str) -> None:
    assert targets.addresses(targets.parse(url), allow_private=False)


@pytest.mark.parametrize(
    ("url", "spelled"),
    [
        ("HTTP://Hooks.Example.org:80/in?a=1#part", "http://hooks.example.org/in?a=1"),
        ("https://hooks.example.org:443", "https://hooks.example.org/"),
        ("https://hooks.example.org:8443/in", "https://hooks.example.org:8443/in"),
        ("http://[2001:DB8::1]:8080/in", "http://[2001:db8::1]:8080/in"),
    ],
)
def test_a_target_has_one_spelling(url: str, spelled: str) -> None:
    assert targets.parse(url).url == spelled
    assert targets.parse(spelled) == targets.parse(url)


async def test_an_address_gets_one_webhook_per_site(
    conn: asyncpg.Connection, make_site: Callable[..., Awaitable[Site]], database_url: str
) -> None:
    site, other = await make_site(), await make_site()
    url = "http://127.0.0.1:9/hook"
    first = await webhooks.add(conn, site, url, ["comment.created"], private_settings())
    webhook_id = first.webhook["id"]
    # The same events would be delivered twice; others would overlap or belong on it.
    for events in (["comment.created"], ["comment.created", "comment.decided"]):
        with pytest.raises(Conflict) as refused:
            await webhooks.add(conn, site, url, events, private_settings())
    # Nor under another spelling of the same address.
    for spelling in ("HTTP://127.0.0.1:9/hook", "http://127.0.0.1:9/hook#x"):
        with pytest.raises(Conflict):
            await webhooks.add(conn, site, spelling, ["comment.created"], private_settings())
        assert refused.value.message == (
            f"webhook {webhook_id} already sends {site.slug}'s events to {url}; "
            "remove it first to subscribe that address to other events"
        )
    added = run_cli(
        {**os.environ, "DATABASE_URL": database_url, "MODERATION_LOG_JSON": "false",
         "MODERATION_WEBHOOK_ALLOW_PRIVATE": "true"},
        "webhook", "add", "--site", site.slug, "--url", url, "--events", "comment.created",
    )  # fmt: skip
    assert (added.returncode, added.stderr) == (1, f"Error: {refused.value.message}\n")
    # Another site may use the address, and so may this one once the first is removed.
    await webhooks.add(conn, other, url, ["comment.created"], private_settings())
    await webhooks.remove(conn, webhook_id)
    again = await webhooks.add(conn, site, url, ["comment.decided"], private_settings())
    assert again.webhook["id"] != webhook_id


async def test_listing_a_site_without_webhooks_says_there_are_none(
    own_db: str, wconn: asyncpg.Connection
) -> None:
    await create_site(wconn, "quiet", ["https://quiet.example"])
    env = service_env(own_db)
    listed = await cli(env, "webhook", "list", "--site", "quiet")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == (
        "no webhooks on quiet yet; `moderation webhook add --site quiet --url URL "
        "--events EVENTS` adds one\n"
    )
    as_json = await cli(env, "webhook", "list", "--site", "quiet", "--json")
    assert json.loads(as_json.stdout) == []


def test_redirects_are_not_followed(receiver: tuple[Receiver, str]) -> None:
    state, base = receiver
    answer = sender.post(f"{base}/moved", b"{}", {}, 5, allow_private=True)
    assert (answer.status_code, answer.delivered) == (302, False)
    assert [r["path"] for r in state.requests] == ["/moved"]


async def test_events_are_recorded_only_with_the_change_that_causes_them(
    conn: asyncpg.Connection, site: Site, poster: Poster, receiver: tuple[Receiver, str]
) -> None:
    _, base = receiver
    await webhooks.add(conn, site, f"{base}/hook", ["comment.decided"], private_settings())
    comment = await poster.comment()

    change = transitions.Change(comment, "pending", "approved", "test")
    transaction = conn.transaction()
    await transaction.start()
    await transitions.transition(conn, [change])
    await transaction.rollback()
    events = "SELECT type, payload FROM webhook_events WHERE site_id = $1"
    # comment.created is not subscribed, and the rolled-back decision never happened.
    assert await conn.fetch(events, site.id) == []
    await transitions.transition(conn, [change])
    [event] = await conn.fetch(events, site.id)
    assert event["type"] == "comment.decided"
    assert (event["payload"]["from"], event["payload"]["to"]) == ("pending", "approved")
    assert event["payload"]["comment"]["id"] == comment
    assert event["payload"]["comment"]["article"] == "story-1"
    deliveries = await conn.fetchval(
        "SELECT count(*) FROM webhook_deliveries AS d JOIN webhook_events AS e "
        "ON e.id = d.event_id WHERE e.site_id = $1 AND d.state = 'pending'",
        site.id,
    )
    assert deliveries == 1


async def test_featuring_a_comment_is_not_announced_as_a_decision(
    conn: asyncpg.Connection, site: Site, poster: Poster, receiver: tuple[Receiver, str]
) -> None:
    _, base = receiver
    await webhooks.add(conn, site, f"{base}/hook", ["comment.decided"], private_settings())
    comment = await poster.comment()
    await transitions.transition(conn, [transitions.Change(comment, "pending", "approved", "ok")])
    moderator_id, _ = await moderators.create(conn, "Featurer", "moderator", [site.id])
    assert await review_queries.set_featured(conn, comment, moderator_id, True) is not None
    assert await review_queries.set_featured(conn, comment, moderator_id, False) is not None
    kinds = await conn.fetch(
        "SELECT kind FROM comment_events WHERE comment_id = $1 ORDER BY id", comment
    )
    assert [row["kind"] for row in kinds] == ["status", "featured", "unfeatured"]
    events = await conn.fetch(
        "SELECT payload FROM webhook_events WHERE site_id = $1 AND type = 'comment.decided'",
        site.id,
    )
    # The approval is announced; featuring and unfeaturing it are not decisions.
    assert [(e["payload"]["from"], e["payload"]["to"]) for e in events] == [("pending", "approved")]


async def test_webhooks_are_signed_retried_logged_and_replayed_by_a_real_worker(
    tmp_path: Path,
    own_db: str,
    wconn: asyncpg.Connection,
    redis_url: str,
    models_dir: Path,
    receiver: tuple[Receiver, str],
) -> None:
    state, base = receiver
    site = await create_site(wconn, "webhooks", [])
    env = worker_env(
        own_db,
        redis_url,
        models_dir,
        MODERATION_DATA_DIR=str(tmp_path / "data"),
        MODERATION_WEBHOOK_ALLOW_PRIVATE="true",
        MODERATION_WEBHOOK_POLL_SECONDS="0.3",
        MODERATION_WEBHOOK_RETRY_BASE_SECONDS="0.5",
    )
    refused = await cli(
        {**env, "MODERATION_WEBHOOK_ALLOW_PRIVATE": "false"},
        "webhook", "add", "--site", "webhooks", "--url", f"{base}/hook",
        "--events", "comment.decided",
    )  # fmt: skip
    assert refused.returncode == 1
    assert "loopback, private or reserved" in refused.stderr
    added = await cli(
        env, "webhook", "add", "--site", "webhooks", "--url", f"{base}/hook",
        "--events", "comment.decided,author.status_changed", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    created = json.loads(added.stdout)
    assert created["secret"].startswith("whsec_")
    webhook_id = created["webhook"]["id"]
    state.secrets = [created["secret"]]
    state.failures = 2

    processes = [
        Process(["worker", "--queues", "webhooks,maintenance"], env, tmp_path / "worker.log"),
        Process(["beat"], env, tmp_path / "beat.log"),
    ]
    try:
        comment_id: int = await wconn.fetchval(
            """
            WITH a AS (INSERT INTO articles (site_id, external_id) VALUES ($1, 'story')
                       RETURNING id)
            INSERT INTO comments (site_id, article_id, author_name, body)
            SELECT $1, id, 'Ann', 'Hello' FROM a RETURNING id
            """,
            site.id,
        )
        await transitions.transition(
            wconn, [transitions.Change(comment_id, "pending", "approved", "fine")]
        )

        async def delivered() -> bool:
            return bool(state.processed)

        await wait_until(delivered, 60, "the webhook delivered", processes)
        assert len(state.requests) == 3
        assert state.bad_signatures == 0
        first = json.loads(state.requests[0]["body"])
        assert first["type"] == "comment.decided"
        assert first["site"] == "webhooks"
        assert first["data"]["comment"]["id"] == comment_id
        assert {json.loads(r["body"])["id"] for r in state.requests} == {first["id"]}
        assert {r["headers"]["moderation-event-id"] for r in state.requests} == {first["id"]}

        admin = await moderator_headers(wconn, site, role="admin")
        settings = Settings(database_url=own_db, site_cache_seconds=0, access_log=False)
        async with LifespanManager(create_app(settings)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
                log = (
                    await api.get(f"/v1/moderation/webhooks/{webhook_id}/deliveries", headers=admin)
                ).json()
                [delivery] = log["deliveries"]
                assert delivery["state"] == "delivered"
                attempts = [
                    (a["attempt"], a["status_code"], a["response"]) for a in delivery["attempts"]
                ]
                assert attempts == [
                    (1, 500, "temporarily broken"),
                    (2, 500, "temporarily broken"),
                    (3, 200, "ok"),
                ]
                assert delivery["event"] == {"id": first["id"], "type": "comment.decided"}

                # A replay sends the same event again; the receiver processes it once.
                replayed = await api.post(
                    f"/v1/moderation/webhooks/deliveries/{delivery['id']}/replay", headers=admin
                )
                assert replayed.status_code == 202

                async def replay_received() -> bool:
                    return len(state.requests) == 4

                await wait_until(replay_received, 30, "the replay", processes)
                assert state.processed == [first["id"]]

                # Rotation: both secrets sign during the grace period.
                rotated = await cli(env, "webhook", "rotate", str(webhook_id), "--json")
                assert rotated.returncode == 0, rotated.stderr
                new_secret = json.loads(rotated.stdout)["secret"]
                state.secrets = [new_secret]
                status = await api.post(
                    f"/v1/moderation/authors/{await author_of(wconn, site)}/status",
                    headers=admin,
                    json={"status": "banned", "reason": "spam run"},
                )
                assert status.status_code == 200, status.text

                async def both_signed() -> bool:
                    return len(state.processed) == 2

                await wait_until(both_signed, 30, "the author event", processes)
                last = state.requests[-1]
                assert last["headers"]["moderation-signature"].count("v1=") == 2
                assert verify(
                    last["headers"]["moderation-signature"], [created["secret"]], last["body"]
                )
                assert json.loads(last["body"])["type"] == "author.status_changed"
                assert state.bad_signatures == 0

        # Retention runs in the same workers: an address past the site's days is cleared.
        await wconn.execute(
            "UPDATE comments SET client_addr = '198.51.100.7', user_agent = 'UA', "
            "created_at = now() - interval '40 days' WHERE id = $1",
            comment_id,
        )
        broker = celery_app(Settings(database_url="unused", broker_url=redis_url))
        broker.send_task(RETENTION_TASK, queue=MAINTENANCE_QUEUE)

        async def cleared() -> bool:
            row = await wconn.fetchrow(
                "SELECT client_addr, user_agent FROM comments WHERE id = $1", comment_id
            )
            return row is not None and row["client_addr"] is None and row["user_agent"] is None

        await wait_until(cleared, 30, "retention", processes)

        listed = json.loads(
            (await cli(env, "webhook", "list", "--site", "webhooks", "--json")).stdout
        )
        assert listed[0]["deliveries"] == {"pending": 0, "delivered": 3, "failed": 0}
        assert listed[0]["rotating_until"] is not None
        removed = await cli(env, "webhook", "remove", str(webhook_id))
        assert removed.returncode == 0
        assert (
            json.loads((await cli(env, "webhook", "list", "--site", "webhooks", "--json")).stdout)
            == []
        )
    finally:
        for process in processes:
            process.stop()


async def author_of(conn: asyncpg.Connection, site: Site) -> int:
    author_id: int = await conn.fetchval(
        "INSERT INTO authors (site_id, external_id, name) VALUES ($1, 'spammer', 'S') RETURNING id",
        site.id,
    )
    return author_id


async def comment_created(conn: asyncpg.Connection, site: Site) -> None:
    """A comment on the site, written as intake writes it: its trigger records the event."""
    await conn.execute(
        """
        WITH a AS (INSERT INTO articles (site_id, external_id) VALUES ($1, 'story') RETURNING id)
        INSERT INTO comments (site_id, article_id, author_name, body)
        SELECT $1, id, 'Ann', 'Hello' FROM a
        """,
        site.id,
    )


async def test_a_delivery_that_keeps_failing_is_marked_failed(
    own_db: str, wconn: asyncpg.Connection, receiver: tuple[Receiver, str]
) -> None:
    state, base = receiver
    state.failures = 10**6
    site = await create_site(wconn, "failing", [])
    created = await webhooks.add(
        wconn, site, f"{base}/hook", ["comment.created"], private_settings()
    )
    state.secrets = [created.secret]
    await comment_created(wconn, site)
    # Retries 0.2 s, 0.4 s, 0.8 s apart, giving up 1 s after the first: the task's job,
    # run here as the task runs it.
    settings = Settings(
        database_url=own_db,
        webhook_allow_private=True,
        webhook_retry_base_seconds=0.2,
        webhook_retry_for_seconds=1,
    )
    pool = await db.create_pool(settings)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            await webhooks.deliver_due(pool, settings)
            state_now = await wconn.fetchval("SELECT state FROM webhook_deliveries")
            if state_now != "pending":
                break
            await asyncio.sleep(0.1)
    finally:
        await pool.close()

    attempts = await wconn.fetch("SELECT attempt, status_code FROM webhook_attempts ORDER BY id")
    assert state_now == "failed"
    assert [tuple(a) for a in attempts] == [(n, 500) for n in range(1, len(attempts) + 1)]
    # 0.2 + 0.4 fit in the second; the wait after the third would not.
    assert len(attempts) == 3
    assert state.processed == []


async def test_a_delivery_in_flight_when_its_webhook_is_removed_stays_cancelled(
    own_db: str, wconn: asyncpg.Connection, receiver: tuple[Receiver, str]
) -> None:
    state, base = receiver
    site = await create_site(wconn, "removed", [])
    created = await webhooks.add(
        wconn, site, f"{base}/hook", ["comment.created"], private_settings()
    )
    state.secrets = [created.secret]
    state.failures = 1
    state.answering.clear()
    await comment_created(wconn, site)
    settings = private_settings(own_db)
    pool = await db.create_pool(settings)
    try:
        sending = asyncio.create_task(webhooks.deliver_due(pool, settings))

        async def arrived() -> bool:
            return bool(state.requests)

        await wait_until(arrived, 10, "the delivery to reach the receiver")
        # An admin removes the webhook while its delivery is in flight; the receiver fails.
        await webhooks.remove(wconn, created.webhook["id"])
        state.answering.set()
        assert await sending == 1
    finally:
        await pool.close()

    assert await wconn.fetchval("SELECT state FROM webhook_deliveries") == "cancelled"
    logged = await wconn.fetch("SELECT attempt, status_code FROM webhook_attempts")
    assert [tuple(a) for a in logged] == [(1, 500)]
    # Finished, its event (the comment's text) is forgotten with the rest of the log.
    await wconn.execute("UPDATE webhook_events SET created_at = now() - interval '31 days'")
    assert await webhooks.forget_old(wconn, settings) == 1


async def delivered_to(conn: asyncpg.Connection, url: str) -> bool:
    state: str = await conn.fetchval(
        "SELECT d.state FROM webhook_deliveries AS d JOIN webhooks AS w "
        "ON w.id = d.webhook_id WHERE w.url = $1",
        url,
    )
    return state == "delivered"


async def test_a_slow_receiver_does_not_get_other_deliveries_sent_twice(
    own_db: str, wconn: asyncpg.Connection, receiver: tuple[Receiver, str]
) -> None:
    state, base = receiver
    site = await create_site(wconn, "slow", [])
    for path in ("/slow", "/fast"):
        created = await webhooks.add(
            wconn, site, base + path, ["comment.created"], private_settings()
        )
        state.secrets.append(created.secret)
    await comment_created(wconn, site)
    settings = Settings(database_url=own_db, webhook_allow_private=True, webhook_timeout_seconds=1)
    pool = await db.create_pool(settings)
    try:
        first = asyncio.create_task(webhooks.deliver_due(pool, settings))

        async def both_arrived() -> bool:
            return len(state.requests) == 2

        await wait_until(both_arrived, 10, "both requests")
        # /fast's attempt is recorded once answered, not after /slow's 4 s of answer (at
        # most 1.5 s of waiting, while /slow is still answering, then on with the stall).
        waited_by = time.monotonic() + 1.5

        async def recorded_or_waited() -> bool:
            return await delivered_to(wconn, base + "/fast") or time.monotonic() > waited_by

        await wait_until(recorded_or_waited, 5, "/fast's attempt to be recorded")
        # The first worker stalls past its lease: the next wake-up claims what it holds.
        await wconn.execute(
            "UPDATE webhook_deliveries SET claimed_until = now() WHERE claimed_until IS NOT NULL"
        )
        await webhooks.deliver_due(pool, settings)
        await first
    finally:
        await pool.close()

    assert [r["path"] for r in state.requests].count("/fast") == 1
    slow = await wconn.fetch(
        "SELECT DISTINCT a.response FROM webhook_attempts AS a "
        "JOIN webhook_deliveries AS d ON d.id = a.delivery_id "
        "JOIN webhooks AS w ON w.id = d.webhook_id WHERE w.url = $1",
        base + "/slow",
    )
    # Cut off at the deadline, however often it was sent.
    assert [a["response"] for a in slow] == ["timed out after 1 s"]


async def test_a_hung_name_lookup_holds_no_thread_a_later_batch_needs(
    own_db: str, wconn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = await create_site(wconn, "hung", [])
    await webhooks.add(
        wconn, site, "http://127.0.0.1:9/hook", ["comment.created"], private_settings()
    )
    # Two batches' worth of deliveries: 32 comments, one event each.
    await wconn.execute(
        """
        WITH a AS (INSERT INTO articles (site_id, external_id) VALUES ($1, 'story') RETURNING id)
        INSERT INTO comments (site_id, article_id, author_name, body)
        SELECT $1, a.id, 'Ann', 'Hello ' || n FROM a, generate_series(1, 32) AS n
        """,
        site.id,
    )
    hung: list[int] = []
    first_send = threading.Lock()

    def send(delivery: asyncpg.Record, settings: Settings) -> sender.Answer:
        with first_send:
            hangs = not hung
            hung.append(delivery["id"])
        # A name lookup that nothing can cut short; the others take a moment, so that a
        # batch's sends all hold a thread at once.
        time.sleep(3 if hangs else 0.6)
        return sender.Answer(200, "ok", 600)

    monkeypatch.setattr(webhooks, "_send", send)
    settings = Settings(database_url=own_db, webhook_timeout_seconds=1)
    pool = await db.create_pool(settings)
    try:
        assert await webhooks.deliver_due(pool, settings) == 32
    finally:
        await pool.close()
    # Every other delivery was sent (the first batch's sends all start at once).
    assert len(hung) == 32
    states = await wconn.fetch("SELECT id, state FROM webhook_deliveries ORDER BY id")
    assert (
        sorted((r["id"] != hung[0], r["state"]) for r in states)
        == [(False, "pending")] + [(True, "delivered")] * 31
    )


async def test_an_attempt_recorded_after_its_lease_lapsed_leaves_the_new_claim_alone(
    own_db: str, wconn: asyncpg.Connection
) -> None:
    site = await create_site(wconn, "lapsed", [])
    await webhooks.add(
        wconn, site, "http://127.0.0.1:9/hook", ["comment.created"], private_settings()
    )
    await comment_created(wconn, site)
    [stalled] = await webhook_queries.claim_due(wconn, 16, 60)
    # Its worker stalls past the lease; another claims the delivery again and sends it.
    await wconn.execute("UPDATE webhook_deliveries SET claimed_until = now()")
    [again] = await webhook_queries.claim_due(wconn, 16, 60)
    assert (stalled["attempts"], again["attempts"]) == (1, 2)
    await webhook_queries.record_attempt(
        wconn, stalled["id"], 1, datetime.now(UTC), 5, 200, "ok", "delivered", None
    )
    delivery = await wconn.fetchrow("SELECT state, attempts, claimed_until FROM webhook_deliveries")
    assert delivery is not None
    assert (delivery["state"], delivery["attempts"]) == ("pending", 2)
    assert delivery["claimed_until"] is not None, "the second worker's claim was released"
    logged = await wconn.fetch("SELECT attempt, status_code FROM webhook_attempts")
    assert [tuple(a) for a in logged] == [(1, 200)]
