"""The Perspective drop-in and Coral's phase end to end, with real processes: `moderation
api` serving HTTP, a `moderation worker` scoring with the tiny detoxify checkpoint, the
broker and PostgreSQL. The clients are real too: Google's own `googleapiclient`, built
from this service's discovery document, and Coral's requests as Coral's server makes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
import pytest
from googleapiclient import discovery
from googleapiclient.errors import HttpError

from moderation import db
from moderation.broker import analyze_queue, broker_connection
from moderation.db.listen import Listener
from moderation.errors import DeadlineExceeded, Unavailable
from moderation.perspective import coral, keys
from moderation.perspective.analyzer import Analyzer
from moderation.scoring.retrain import retrain_spam
from moderation.sites import Site, SiteSettings, create_site
from tests.tiny_model import PLANTED_WORD
from tests.workers import Process, free_port, wait_http_ready, wait_until, worker_env

ARMENIAN = "Սա շատ լավ և մտածված հոդված է, շնորհակալություն հեղինակին"  # noqa: RUF001
CLEAN = "A fair point about the city budget, thank you for reporting it."
TOXIC = f"You are a {PLANTED_WORD} and everyone knows it"
SPAM = (
    "CHECK OUT MY CHANNEL!!! subscribe now http://bit.ly/free-money "
    "http://bit.ly/free-money2 earn $500 a day from home, whatsapp me"
)


@dataclass
class Service:
    base: str
    api: Process
    worker: Process
    database_url: str
    broker_url: str

    def logs(self) -> str:
        return self.api.output() + self.worker.output()


@contextlib.asynccontextmanager
async def running_service(
    database_url: str, broker_url: str, models_dir: Path, logs: Path
) -> AsyncIterator[Service]:
    """`moderation api` on a port of its own and one `moderation worker`, ready to answer."""
    with broker_connection(broker_url) as connection:
        analyze_queue().bind(connection).declare()
        analyze_queue().bind(connection).purge()
    env = worker_env(
        database_url,
        broker_url,
        models_dir,
        MODERATION_DATA_DIR=str(logs / "data"),
        MODERATION_ANALYZE_TIMEOUT_SECONDS="30",
        # Log every request: what doNotStore promises is checked against these logs too.
        MODERATION_LOG_LEVEL="DEBUG",
    )
    port = free_port()
    api = Process(["api", "--port", str(port)], env, logs / "api.log")
    worker = Process(["worker"], env, logs / "worker.log")
    try:
        base = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(
            wait_http_ready, base, lambda: api.popen.poll() is None, api.output, 60
        )

        async def serving() -> bool:
            return "analyze_server_ready" in worker.output()

        await wait_until(serving, 120, "the worker's analyze server", [worker])
        yield Service(base, api, worker, database_url, broker_url)
    finally:
        api.stop()
        worker.stop()


@pytest.fixture(scope="module")
async def service(
    make_migrated_database: Callable[[], Awaitable[str]],
    redis_url: str,
    models_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Service]:
    """The API and one worker on Redis, on a database of their own, for the module."""
    logs = tmp_path_factory.mktemp("perspective")
    async with running_service(
        await make_migrated_database(), redis_url, models_dir, logs
    ) as started:
        yield started


@pytest.fixture
async def sconn(service: Service) -> AsyncIterator[asyncpg.Connection]:
    conn = await db.connect(service.database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def new_site(conn: asyncpg.Connection, **policy: Any) -> Site:
    slug = f"site-{os.urandom(5).hex()}"
    return await create_site(conn, slug, ["https://news.example"], settings=SiteSettings(**policy))


@pytest.fixture
async def site(sconn: asyncpg.Connection) -> Site:
    return await new_site(sconn, analyze_requests_per_minute=0)


@pytest.fixture
async def key(sconn: asyncpg.Connection, site: Site) -> str:
    _, created = await keys.create(sconn, site.slug)
    return created


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.base, timeout=60) as client:
        yield client


def build_client(service: Service, key: str) -> Any:
    """Perspective's client, exactly as its documentation builds it, but for the URL."""
    return discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl=service.base + "/$discovery/rest?version=v1alpha1",
        static_discovery=False,
    )


def test_googles_client_built_from_our_discovery_document_scores_comments(
    service: Service, key: str
) -> None:
    with build_client(service, key) as client:
        attributes: dict[str, dict[str, Any]] = {
            "TOXICITY": {},
            "INSULT": {},
            "PROFANITY": {},
            "SPAM": {},
        }
        toxic = (
            client.comments()
            .analyze(body={"comment": {"text": TOXIC}, "requestedAttributes": attributes})
            .execute()
        )
        clean = (
            client.comments()
            .analyze(
                body={
                    "comment": {"text": CLEAN},
                    "requestedAttributes": attributes,
                    "clientToken": "probe-1",
                }
            )
            .execute()
        )
        assert set(toxic["attributeScores"]) == set(attributes)
        assert toxic["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.9
        assert toxic["attributeScores"]["INSULT"]["summaryScore"]["type"] == "PROBABILITY"
        assert clean["attributeScores"]["TOXICITY"]["summaryScore"]["value"] < 0.1
        assert clean["attributeScores"]["SPAM"]["summaryScore"]["value"] < 0.5
        assert clean["clientToken"] == "probe-1"
        assert (clean["languages"], clean["detectedLanguages"]) == (["en"], ["en"])
        [span] = clean["attributeScores"]["TOXICITY"]["spanScores"]
        assert (span["begin"], span["end"]) == (0, len(CLEAN))

        suggested = (
            client.comments()
            .suggestscore(
                body={
                    "comment": {"text": SPAM},
                    "attributeScores": {"SPAM": {"summaryScore": {"value": 1}}},
                    "clientToken": "label-1",
                }
            )
            .execute()
        )
        assert suggested["clientToken"] == "label-1"

        with pytest.raises(HttpError) as refused:
            client.comments().analyze(
                body={"comment": {"text": CLEAN}, "requestedAttributes": {"FLIRTATION": {}}}
            ).execute()
        assert refused.value.status_code == 400
        assert "FLIRTATION" in refused.value.reason


def endpoint_url(endpoint: str, key: str) -> str:
    """What Coral does with its Perspective endpoint setting: `path.join(pathname,
    "/comments:analyze")` and `?key=`."""
    parts = urlsplit(endpoint.strip())
    path = parts.path.rstrip("/") + "/comments:analyze"
    return urlunsplit(parts._replace(path=path, query=f"key={key}"))


async def analyses(conn: asyncpg.Connection, site: Site) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM analyses WHERE site_id = $1 ORDER BY id", site.id)


async def test_corals_own_request_reads_a_toxicity_score_and_leaves_nothing_behind(
    service: Service, key: str, site: Site, sconn: asyncpg.Connection
) -> None:
    secret_text = f"You {PLANTED_WORD}, nobody should ever read this sentence 7c1e"
    # Coral's toxic phase, byte for byte: JSON.stringify of this object, POSTed to
    # `${endpoint}/comments:analyze?key=...` with only a Content-Type header of its own.
    body = orjson.dumps(
        {
            "comment": {"text": secret_text},
            "doNotStore": True,
            "requestedAttributes": {"TOXICITY": {}},
            "languages": ["en"],
        }
    )
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(
            endpoint_url(service.base + "/v1alpha1", key),
            content=body,
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.9

    assert await analyses(sconn, site) == []
    tables = ("analyses", "analysis_labels", "comments")
    for table in tables:
        found = await sconn.fetchval(f"SELECT count(*) FROM {table} WHERE body LIKE '%7c1e%'")
        assert found == 0, table
    assert "7c1e" not in service.logs()
    with broker_connection(service.broker_url) as connection:
        assert analyze_queue().bind(connection).get() is None  # read, and not left on the queue


async def test_requests_go_through_rabbitmq_as_through_redis(
    make_migrated_database: Callable[[], Awaitable[str]],
    rabbitmq_url: str,
    models_dir: Path,
    tmp_path: Path,
) -> None:
    database_url = await make_migrated_database()
    async with running_service(database_url, rabbitmq_url, models_dir, tmp_path) as service:
        conn = await db.connect(database_url)
        try:
            site = await new_site(conn, analyze_requests_per_minute=0)
            _, key = await keys.create(conn, site.slug)
        finally:
            await conn.close()
        async with httpx.AsyncClient(base_url=service.base, timeout=60) as client:
            responses = await asyncio.gather(
                *(
                    analyze(client, key, text, doNotStore=True, languages=["en"])
                    for text in (TOXIC, CLEAN, TOXIC, CLEAN)
                )
            )
        scores = [
            r.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] for r in responses
        ]
        assert [score > 0.9 for score in scores] == [True, False, True, False], scores
        assert max(scores[1::2]) < 0.1
        with broker_connection(rabbitmq_url) as connection:
            assert analyze_queue().bind(connection).get() is None


async def analyze(
    http: httpx.AsyncClient, key: str, text: str, *attributes: str, **extra: Any
) -> httpx.Response:
    body = {
        "comment": {"text": text},
        "requestedAttributes": {name: {} for name in attributes or ("TOXICITY",)},
        **extra,
    }
    return await http.post("/v1alpha1/comments:analyze", params={"key": key}, json=body)


def refusal(response: httpx.Response, code: int, status: str) -> str:
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    message: str = error["message"]
    return message


async def test_a_language_no_model_covers_is_refused_as_perspective_refuses_it(
    http: httpx.AsyncClient, key: str
) -> None:
    detected = await analyze(http, key, ARMENIAN, "TOXICITY", "INSULT")
    assert refusal(detected, 400, "INVALID_ARGUMENT") == (
        "Attribute TOXICITY does not support request languages: hy"
    )
    claimed = await analyze(http, key, CLEAN, "TOXICITY", languages=["fr-FR"])
    assert refusal(claimed, 400, "INVALID_ARGUMENT").endswith("request languages: fr")
    # detoxify's `original` has no sexual_explicit label.
    missing = await analyze(http, key, CLEAN, "SEXUALLY_EXPLICIT")
    assert refusal(missing, 400, "INVALID_ARGUMENT") == (
        "Attribute SEXUALLY_EXPLICIT does not support request languages: en"
    )
    # Spam scoring does not depend on a toxicity model's languages.
    spam_only = await analyze(http, key, ARMENIAN, "SPAM")
    assert spam_only.status_code == 200, spam_only.text
    assert spam_only.json()["detectedLanguages"] == ["hy"]
    assert 0 <= spam_only.json()["attributeScores"]["SPAM"]["summaryScore"]["value"] <= 1


async def test_a_client_may_say_the_language_and_thresholds_leave_low_scores_out(
    http: httpx.AsyncClient, key: str
) -> None:
    response = await analyze(
        http,
        key,
        TOXIC,
        "TOXICITY",
        "THREAT",
        languages=["en"],
        requestedAttributes={
            "TOXICITY": {"scoreThreshold": 0.5},
            "THREAT": {"scoreThreshold": 0.5},
        },
    )
    assert response.status_code == 200, response.text
    assert set(response.json()["attributeScores"]) == {"TOXICITY"}


async def test_a_stored_request_keeps_a_scoring_record_and_the_text_only_if_the_site_allows(
    http: httpx.AsyncClient, sconn: asyncpg.Connection, site: Site, key: str
) -> None:
    response = await analyze(http, key, CLEAN, "TOXICITY", "SPAM")
    assert response.status_code == 200, response.text
    [record] = await analyses(sconn, site)
    key_id = await sconn.fetchval("SELECT id FROM api_keys WHERE site_id = $1", site.id)
    assert (record["api_key_id"], record["source"], record["language"]) == (key_id, "analyze", "en")
    assert record["model"] == "original@tiny test model"
    assert record["scores"]["toxicity"] < 0.1
    assert 0 <= record["scores"]["spam"] <= 1
    assert record["latency_ms"] > 0
    assert record["body"] is None

    keeper = await new_site(sconn, analyze_keep_text=True)
    _, keeper_key = await keys.create(sconn, keeper.slug)
    assert (await analyze(http, keeper_key, CLEAN)).status_code == 200
    assert (await analyze(http, keeper_key, TOXIC, doNotStore=True)).status_code == 200
    assert [row["body"] for row in await analyses(sconn, keeper)] == [CLEAN]


async def test_a_key_over_its_quota_gets_resource_exhausted(
    http: httpx.AsyncClient, sconn: asyncpg.Connection
) -> None:
    limited = await new_site(sconn, analyze_requests_per_minute=3)
    _, key = await keys.create(sconn, limited.slug)
    _, other_key = await keys.create(sconn, limited.slug)
    answers = [await analyze(http, key, CLEAN) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    over = await analyze(http, key, CLEAN)
    assert "3 requests per minute" in refusal(over, 429, "RESOURCE_EXHAUSTED")
    assert over.headers["Retry-After"] == "20"
    # The quota is per key: the site's other key still has its own.
    assert (await analyze(http, other_key, CLEAN)).status_code == 200


async def test_concurrent_requests_are_scored_together_in_batches(
    service: Service, http: httpx.AsyncClient, key: str
) -> None:
    before = service.worker.output()
    texts = [f"{CLEAN} Number {n}." if n % 4 else f"{TOXIC} {n}" for n in range(24)]
    answers = await asyncio.gather(*(analyze(http, key, text) for text in texts))
    for text, answer in zip(texts, answers, strict=True):
        assert answer.status_code == 200, answer.text
        value = answer.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
        assert (value > 0.9) == (PLANTED_WORD in text)
    batches = [
        int(n)
        for n in re.findall(
            r"analyze_batch\s.*?requests=(\d+)", service.worker.output()[len(before) :]
        )
    ]
    assert sum(batches) == len(texts)
    assert max(batches) > 1, batches


async def test_suggested_spam_labels_are_training_data_for_the_next_retraining(
    http: httpx.AsyncClient, sconn: asyncpg.Connection, site: Site, key: str, service: Service
) -> None:
    labels = {
        SPAM: {"SPAM": {"summaryScore": {"value": 1}}},
        CLEAN: {"SPAM": {"summaryScore": {"value": 0}}, "TOXICITY": {"summaryScore": {"value": 0}}},
    }
    for text, scores in labels.items():
        response = await http.post(
            "/v1alpha1/comments:suggestscore",
            params={"key": key},
            json={"comment": {"text": text}, "attributeScores": scores, "languages": ["en"]},
        )
        assert response.status_code == 200, response.text
    # Coral's moderation feedback, as Coral's server builds it.
    coral_feedback = {
        "comment": {"text": "Coral says a moderator approved this one"},
        "context": {
            "entries": [
                {
                    "text": orjson.dumps(
                        {
                            "url": "https://news.example/story-1?commentID=c-1",
                            "reply_to_id_Coral_comment_id": None,
                            "Coral_comment_id": "c-1",
                        }
                    ).decode()
                }
            ]
        },
        "attributeScores": {"APPROVED": {"summaryScore": {"value": 1}}},
        "languages": ["EN"],
        "communityId": "Coral:https://news.example/",
        "clientToken": "comment:c-1",
    }
    response = await http.post(
        "/v1alpha1/comments:suggestscore", params={"key": key}, json=coral_feedback
    )
    assert response.status_code == 200, response.text
    assert response.json()["clientToken"] == "comment:c-1"  # Coral checks it comes back
    stored = await sconn.fetch(
        "SELECT attribute, value, body, community_id FROM analysis_labels WHERE site_id = $1",
        site.id,
    )
    assert {(r["attribute"], r["value"]) for r in stored} == {
        ("SPAM", 1.0),
        ("SPAM", 0.0),
        ("TOXICITY", 0.0),
        ("APPROVED", 1.0),
    }
    assert {r["community_id"] for r in stored} == {None, "Coral:https://news.example/"}

    pool = await db.create_pool(_settings(service))
    try:
        retrained = await retrain_spam(pool)
        trained = await sconn.fetchrow(
            "SELECT id, decisions, last_label_id FROM spam_models WHERE site_id = $1 "
            "ORDER BY id DESC LIMIT 1",
            site.id,
        )
        assert trained is not None
        assert trained["id"] in retrained
        newest = await sconn.fetchval(
            "SELECT max(id) FROM analysis_labels WHERE attribute = 'SPAM' AND site_id = $1",
            site.id,
        )
        assert trained["last_label_id"] == newest
        assert trained["decisions"] >= 2
        assert trained["id"] not in await retrain_spam(pool)  # nothing new since
        assert (
            await sconn.fetchval("SELECT max(id) FROM spam_models WHERE site_id = $1", site.id)
            == trained["id"]
        )
    finally:
        await pool.close()


def _settings(service: Service) -> Any:
    from moderation.config import Settings

    return Settings(database_url=service.database_url, broker_url=None, db_pool_min=1)


# Coral's external moderation phase.


def signed_request(
    text: str, *secrets: str, role: str = "COMMENTER"
) -> tuple[bytes, dict[str, str]]:
    """The request Coral's server sends: JSON.stringify(request, null, 2), one signature
    per active secret, comma-separated."""
    body = orjson.dumps(
        {
            "action": "NEW",
            "comment": {"body": text, "parentID": None},
            "author": {"id": "coral-user-1", "role": role},
            "story": {"id": "story-1", "url": "https://news.example/story-1"},
            "site": {"id": "coral-site-1"},
            "tenantID": "tenant-1",
            "tenantDomain": "comments.news.example",
        },
        option=orjson.OPT_INDENT_2,
    )
    header = ",".join(
        "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for secret in secrets
    )
    return body, {"Content-Type": "application/json", "X-Coral-Signature": header}


async def phase(
    http: httpx.AsyncClient, site: Site, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await http.post(
        "/v1/integrations/coral/phase", params={"site": site.slug}, content=body, headers=headers
    )


async def test_the_coral_phase_answers_by_the_sites_policy(
    http: httpx.AsyncClient, sconn: asyncpg.Connection
) -> None:
    site = await new_site(sconn, suspect_words=("referendum",))
    secret, _ = await coral.rotate_secret(sconn, site.slug)
    suspect = "What about the referendum next spring?"
    expected: list[tuple[str, str, int, Any]] = [
        (CLEAN, "COMMENTER", 204, None),
        (TOXIC, "COMMENTER", 200, ("REJECTED", ["COMMENT_DETECTED_TOXIC"])),
        (TOXIC, "STAFF", 200, ("REJECTED", ["COMMENT_DETECTED_TOXIC"])),
        (SPAM, "COMMENTER", 200, ("REJECTED", ["COMMENT_DETECTED_SPAM"])),
        (
            suspect,
            "COMMENTER",
            200,
            ("SYSTEM_WITHHELD", ["COMMENT_DETECTED_TOXIC"]),
        ),
        (suspect, "MODERATOR", 204, None),
        (ARMENIAN, "COMMENTER", 200, ("SYSTEM_WITHHELD", [])),
    ]
    for text, role, status, verdict in expected:
        response = await phase(http, site, *signed_request(text, secret, role=role))
        assert response.status_code == status, (text, role, response.text)
        if verdict is not None:
            answer = response.json()
            assert answer["status"] == verdict[0], text
            assert [a["reason"] for a in answer["actions"]] == verdict[1], text
            assert {a["actionType"] for a in answer["actions"]} <= {"FLAG"}
    records = await sconn.fetch("SELECT source, body FROM analyses WHERE site_id = $1", site.id)
    assert len(records) == len(expected)
    assert {(r["source"], r["body"]) for r in records} == {("coral", None)}


async def test_a_rotated_coral_secret_stays_valid_for_its_grace_period(
    http: httpx.AsyncClient, sconn: asyncpg.Connection
) -> None:
    site = await new_site(sconn)
    first, _ = await coral.rotate_secret(sconn, site.slug)
    second, first_expires = await coral.rotate_secret(sconn, site.slug, keep_previous_seconds=3600)
    assert first_expires is not None
    # Coral signs with every secret it holds active: old, new, or both.
    for secrets in ((first,), (second,), (first, second)):
        response = await phase(http, site, *signed_request(TOXIC, *secrets))
        assert response.status_code == 200, (secrets, response.text)
    # A rotation with no grace ends every earlier secret at once, the one still in its
    # grace too: rotating is how a leaked secret is revoked.
    third, _ = await coral.rotate_secret(sconn, site.slug, keep_previous_seconds=0)
    for earlier in (second, first):
        assert (await phase(http, site, *signed_request(TOXIC, earlier))).status_code == 401
    assert (await phase(http, site, *signed_request(TOXIC, third))).status_code == 200
    forged = signed_request(TOXIC, "ssc_" + "0" * 64)
    assert (await phase(http, site, *forged)).status_code == 401
    body, headers = signed_request(TOXIC, third)
    del headers["X-Coral-Signature"]
    assert (await phase(http, site, body, headers)).status_code == 401


async def test_a_worker_that_stops_mid_batch_gives_deadline_exceeded_not_a_hang(
    service: Service, sconn: asyncpg.Connection
) -> None:
    """The analyzer as the API process runs it, against the real worker, frozen (SIGSTOP)
    the moment it announces it has started a batch."""
    listener = Listener(service.database_url)
    analyzer = Analyzer(service.broker_url, timeout=3.0)
    analyzer.attach(listener)
    listener.start()
    sender = asyncio.create_task(analyzer.run())
    frozen = asyncio.Event()

    def freeze(conn: object, pid: int, channel: str, payload: object) -> None:
        if "started" in orjson.loads(str(payload)) and not frozen.is_set():
            os.killpg(service.worker.popen.pid, signal.SIGSTOP)
            frozen.set()

    await sconn.add_listener(analyzer.channel, freeze)
    # Long texts: the spam classifier's n-grams take the worker a while on each, long
    # enough for the freeze to land before the answers are sent.
    texts = [f"{CLEAN} {n} " * 120 for n in range(8)]
    started = time.monotonic()
    try:
        outcomes = await asyncio.gather(
            *(analyzer.analyze(text, "en") for text in texts), return_exceptions=True
        )
    finally:
        os.killpg(service.worker.popen.pid, signal.SIGCONT)
        await sconn.remove_listener(analyzer.channel, freeze)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await listener.stop()
    assert frozen.is_set()
    assert time.monotonic() - started < 10
    kinds = {type(outcome) for outcome in outcomes}
    assert DeadlineExceeded in kinds, outcomes
    assert kinds <= {DeadlineExceeded, Unavailable}, outcomes
