"""The Perspective drop-in and Coral's phase before any scoring: keys, Google's error
shape, the discovery document, signatures, and what happens when no worker answers.
Scoring itself, with a real worker, is in test_perspective_worker.py."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from googleapiclient import discovery

from moderation.app import create_app
from moderation.broker import analyze_queue, broker_connection
from moderation.config import Settings
from moderation.db import perspective as perspective_queries
from moderation.perspective import coral, keys
from moderation.perspective.analyzer import Analyzer
from moderation.perspective.api import ATTRIBUTES, TextEntry
from moderation.scoring.analyze import AnalyzeAnswer
from moderation.sites import Site
from tests.test_cli import cli

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
DEAD_BROKER = "redis://127.0.0.1:9/0"  # the discard port: nothing answers there


def analyze_body(text: str = "A fair point about the budget.", **extra: Any) -> dict[str, Any]:
    return {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, **extra}


@pytest.fixture
async def key(conn: asyncpg.Connection, site: Site) -> str:
    _, created = await keys.create(conn, site.slug)
    return created


def google_error(response: httpx.Response, code: int, status: str) -> str:
    """The message of a Google-shaped error with this code and status."""
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "status"}
    assert (error["code"], error["status"]) == (code, status)
    message: str = error["message"]
    return message


async def test_a_key_is_shown_once_and_only_its_hash_is_stored(
    conn: asyncpg.Connection, site: Site
) -> None:
    key_id, key = await keys.create(conn, site.slug, "coral")
    assert key.startswith("ak_")
    stored = await conn.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)
    assert stored is not None
    assert stored["key_hash"] == hashlib.sha256(key.encode()).digest()
    assert key.encode() not in orjson.dumps({k: str(v) for k, v in stored.items()})


@pytest.mark.parametrize(
    ("params", "headers", "message"),
    [
        ({}, {}, "The request is missing a valid API key."),
        ({"key": "ak_not-a-key"}, {}, "API key not valid. Please pass a valid API key."),
        ({}, {"X-Goog-Api-Key": "ak_not-a-key"}, "API key not valid. Please pass a valid API key."),
    ],
)
async def test_a_missing_or_unknown_key_is_permission_denied(
    app_client: httpx.AsyncClient,
    params: dict[str, str],
    headers: dict[str, str],
    message: str,
) -> None:
    response = await app_client.post(ANALYZE, params=params, headers=headers, json=analyze_body())
    assert google_error(response, 403, "PERMISSION_DENIED") == message


async def test_a_revoked_key_is_refused_at_once(
    app_client: httpx.AsyncClient, conn: asyncpg.Connection, site: Site
) -> None:
    key_id, key = await keys.create(conn, site.slug)
    assert await perspective_queries.revoke_key(conn, key_id)
    response = await app_client.post(ANALYZE, params={"key": key}, json=analyze_body())
    google_error(response, 403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (analyze_body(requestedAttributes={"TOXICITY": {}, "FLIRTATION": {}}), "FLIRTATION"),
        (analyze_body(requestedAttributes={}), "requestedAttributes"),
        (analyze_body(text="   "), "Comment must be non-empty."),
        (analyze_body(text="x" * 20481), "Comment text too long"),
        (analyze_body(languages=["english please"]), "Unsupported language code"),
        ({"requestedAttributes": {"TOXICITY": {}}}, "comment"),
        (analyze_body(doNotStore="yes"), "doNotStore"),
    ],
)
async def test_bad_requests_are_invalid_argument_in_googles_shape(
    app_client: httpx.AsyncClient, key: str, body: dict[str, Any], needle: str
) -> None:
    response = await app_client.post(ANALYZE, params={"key": key}, json=body)
    assert needle in google_error(response, 400, "INVALID_ARGUMENT")


def test_an_html_comment_is_scored_as_its_readers_read_it() -> None:
    markup = (
        '<p>Read <a href="https://x.example/a">this</a></p>'
        "<script>buy now</script><style>p {}</style><p>Bye &amp; thanks</p>"
    )
    assert TextEntry(text=markup, type="HTML").plain() == (
        "Read this (https://x.example/a)\n\nBye & thanks"
    )


def suggest_body(*attributes: str, text: str = "A fair point.") -> dict[str, Any]:
    scores = {name: {"summaryScore": {"value": 1}} for name in attributes}
    return {"comment": {"text": text}, "attributeScores": scores}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (ANALYZE, analyze_body(requestedAttributes={"TOXICITY": {}, "FOO": {}})),
        (SUGGEST, suggest_body("TOXICITY", "FOO")),
    ],
)
async def test_an_unknown_attribute_is_refused_alike_by_analyze_and_suggestscore(
    app_client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    site: Site,
    key: str,
    path: str,
    body: dict[str, Any],
) -> None:
    response = await app_client.post(path, params={"key": key}, json=body)
    assert "Unknown attribute FOO" in google_error(response, 400, "INVALID_ARGUMENT")
    stored = "SELECT count(*) FROM analysis_labels WHERE site_id = $1"
    assert await conn.fetchval(stored, site.id) == 0


async def test_suggestscore_keeps_attributes_and_corals_moderation_feedback(
    app_client: httpx.AsyncClient, conn: asyncpg.Connection, site: Site, key: str
) -> None:
    labels = ("SPAM", "TOXICITY", "APPROVED", "DELETED", "HIGHLIGHTED")
    response = await app_client.post(SUGGEST, params={"key": key}, json=suggest_body(*labels))
    assert response.status_code == 200, response.text
    stored = await conn.fetch("SELECT attribute FROM analysis_labels WHERE site_id = $1", site.id)
    assert sorted(row["attribute"] for row in stored) == sorted(labels)


async def test_a_body_that_is_not_json_is_invalid_argument(
    app_client: httpx.AsyncClient, key: str
) -> None:
    response = await app_client.post(
        ANALYZE, params={"key": key}, content=b"{", headers={"Content-Type": "application/json"}
    )
    google_error(response, 400, "INVALID_ARGUMENT")
    response = await app_client.post(ANALYZE, params={"key": key}, content=b"text=hello")
    google_error(response, 400, "INVALID_ARGUMENT")


async def test_without_a_broker_analyze_is_unavailable_at_once(
    app_client: httpx.AsyncClient, key: str
) -> None:
    response = await app_client.post(ANALYZE, params={"key": key}, json=analyze_body())
    assert "BROKER_URL" in google_error(response, 503, "UNAVAILABLE")


@contextlib.asynccontextmanager
async def scoring_api(
    settings: Settings, broker_url: str, wait: float
) -> AsyncIterator[httpx.AsyncClient]:
    """An API with a broker and a short analyze timeout, and no worker."""
    configured = settings.model_copy(
        update={"broker_url": broker_url, "analyze_timeout_seconds": wait}
    )
    async with (
        LifespanManager(create_app(configured)) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://api.test"
        ) as client,
    ):
        yield client


def purge_analyze_queue(broker_url: str) -> None:
    with broker_connection(broker_url) as connection:
        queue = analyze_queue().bind(connection)
        queue.declare()
        queue.purge()


async def test_with_no_worker_running_analyze_is_unavailable_within_the_timeout(
    settings: Settings, key: str, redis_url: str
) -> None:
    purge_analyze_queue(redis_url)
    async with scoring_api(settings, redis_url, wait=1.0) as client:
        started = time.monotonic()
        response = await client.post(ANALYZE, params={"key": key}, json=analyze_body())
        waited = time.monotonic() - started
        message = google_error(response, 503, "UNAVAILABLE")
        assert "no scoring worker took the request within 1 s" in message
        assert 1.0 <= waited < 5.0


async def test_with_the_broker_down_analyze_is_unavailable_quickly(
    settings: Settings, key: str
) -> None:
    async with scoring_api(settings, DEAD_BROKER, wait=30.0) as client:
        started = time.monotonic()
        response = await client.post(ANALYZE, params={"key": key}, json=analyze_body())
        assert "the broker is not reachable" in google_error(response, 503, "UNAVAILABLE")
        assert time.monotonic() - started < 15


async def test_the_discovery_document_points_at_this_service(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.get("/$discovery/rest", params={"version": "v1alpha1"})
    assert response.status_code == 200
    document = response.json()
    assert (document["name"], document["version"]) == ("commentanalyzer", "v1alpha1")
    assert document["rootUrl"] == "http://api.test/"
    methods = document["resources"]["comments"]["methods"]
    assert methods["analyze"]["path"] == "v1alpha1/comments:analyze"
    assert methods["suggestscore"]["request"] == {"$ref": "SuggestCommentScoreRequest"}
    for method in methods.values():
        for ref in (method["request"]["$ref"], method["response"]["$ref"]):
            assert ref in document["schemas"]
    # It promises nothing this service does not serve: no batch endpoint.
    assert "batchPath" not in document
    # Google's client builds from it as it is, its requests addressed here.
    client = discovery.build_from_document(document, developerKey="ak_test")
    for name in methods:
        request = getattr(client.comments(), name)(body={})
        assert request.uri.startswith(f"http://api.test/v1alpha1/comments:{name}?key=ak_test")
    other = await app_client.get("/$discovery/rest", params={"version": "v1"})
    google_error(other, 404, "NOT_FOUND")


async def test_the_discovery_document_uses_the_configured_public_url(
    settings: Settings,
) -> None:
    configured = settings.model_copy(update={"public_url": "https://comments.example.org"})
    async with (
        LifespanManager(create_app(configured)) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://10.0.0.5:8000"
        ) as client,
    ):
        document = (await client.get("/$discovery/rest?version=v1alpha1")).json()
    assert document["rootUrl"] == "https://comments.example.org/"


# Coral's phase: signatures are checked before anything else.

PHASE = "/v1/integrations/coral/phase"


def coral_body(text: str = "A fair point about the budget.") -> bytes:
    request = {
        "action": "NEW",
        "comment": {"body": text, "parentID": None},
        "author": {"id": "u-1", "role": "COMMENTER"},
        "story": {"id": "s-1", "url": "https://news.example/story"},
        "site": {"id": "coral-site"},
        "tenantID": "t-1",
        "tenantDomain": "comments.news.example",
    }
    # As Coral serialises it: JSON.stringify(request, null, 2).
    return orjson.dumps(request, option=orjson.OPT_INDENT_2)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_signature_matches_with_any_valid_secret_among_several() -> None:
    body = coral_body()
    header = (
        f"{signature('old-secret-0123456789', body)},{signature('new-secret-0123456789', body)}"
    )
    assert coral.signed(body, header, ["new-secret-0123456789"])
    assert coral.signed(body, header, ["other-secret-012345", "old-secret-0123456789"])
    assert not coral.signed(body, header, ["other-secret-012345"])
    assert not coral.signed(body + b" ", header, ["new-secret-0123456789"])
    assert not coral.signed(body, None, ["new-secret-0123456789"])
    assert not coral.signed(body, header, [])
    assert not coral.signed(
        body, signature("new-secret-0123456789", body)[7:], ["new-secret-0123456789"]
    )


@pytest.mark.parametrize("case", ["missing", "forged", "other site's secret", "unknown site"])
async def test_the_coral_phase_fails_closed_without_a_valid_signature(
    app_client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    make_site: Callable[..., Awaitable[Site]],
    case: str,
) -> None:
    site, other = await make_site(), await make_site()
    secret, _ = await coral.rotate_secret(conn, site.slug)
    other_secret, _ = await coral.rotate_secret(conn, other.slug)
    body = coral_body("You are all idiots and this paper is garbage")
    headers = {"Content-Type": "application/json"}
    slug = site.slug
    if case == "forged":
        headers[coral.SIGNATURE_HEADER] = signature("guessed-secret-0123456789", body)
    elif case == "other site's secret":
        headers[coral.SIGNATURE_HEADER] = signature(other_secret, body)
    elif case == "unknown site":
        headers[coral.SIGNATURE_HEADER] = signature(secret, body)
        slug = "no-such-site"
    response = await app_client.post(PHASE, params={"site": slug}, content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["field"] == coral.SIGNATURE_HEADER


@pytest.fixture
def scored(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the workers are asked to score, each answered as clean English."""
    texts: list[str] = []

    async def analyze(self: Analyzer, text: str, language: str | None) -> AnalyzeAnswer:
        texts.append(text)
        scores = dict.fromkeys(ATTRIBUTES.values(), 0.01)
        return AnalyzeAnswer("test", "en", "en", "original@test", scores)

    monkeypatch.setattr(Analyzer, "analyze", analyze)
    return texts


@pytest.mark.parametrize("keep_text", [True, False])
async def test_nul_characters_are_dropped_from_what_scoring_clients_send(
    app_client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    make_site: Callable[..., Awaitable[Site]],
    scored: list[str],
    keep_text: bool,
) -> None:
    site = await make_site(analyze_keep_text=keep_text)
    _, key = await keys.create(conn, site.slug)
    secret, _ = await coral.rotate_secret(conn, site.slug)
    sent, clean = "A fair\u0000 point\u0000", "A fair point"

    analyzed = await app_client.post(ANALYZE, params={"key": key}, json=analyze_body(sent))
    assert analyzed.status_code == 200, analyzed.text
    span = analyzed.json()["attributeScores"]["TOXICITY"]["spanScores"][0]
    assert span["end"] == len(clean)
    suggested = await app_client.post(
        SUGGEST, params={"key": key}, json=suggest_body("SPAM", text=sent)
    )
    assert suggested.status_code == 200, suggested.text
    # Coral lets a comment through unchecked when its phase fails: it gets a verdict.
    body = coral_body(sent)
    headers = {"Content-Type": "application/json", coral.SIGNATURE_HEADER: signature(secret, body)}
    phased = await app_client.post(PHASE, params={"site": site.slug}, content=body, headers=headers)
    assert phased.status_code == 204, phased.text

    assert scored == [clean, clean]
    records = await conn.fetch(
        "SELECT source, body FROM analyses WHERE site_id = $1 ORDER BY id", site.id
    )
    kept = clean if keep_text else None
    assert [tuple(record) for record in records] == [("analyze", kept), ("coral", kept)]
    label = await conn.fetchval("SELECT body FROM analysis_labels WHERE site_id = $1", site.id)
    assert label == clean


@pytest.mark.parametrize("field", ["clientToken", "communityId"])
async def test_suggestscore_refuses_a_nul_in_what_it_keeps_as_written(
    app_client: httpx.AsyncClient, conn: asyncpg.Connection, site: Site, key: str, field: str
) -> None:
    body = {**suggest_body("SPAM"), field: "comment:\u00001"}
    response = await app_client.post(SUGGEST, params={"key": key}, json=body)
    assert "U+0000" in google_error(response, 400, "INVALID_ARGUMENT")
    stored = "SELECT count(*) FROM analysis_labels WHERE site_id = $1"
    assert await conn.fetchval(stored, site.id) == 0


def test_apikey_commands_create_list_and_revoke_keys(tmp_path: Path, fresh_url: str) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    cli(tmp_path, "site", "create", "paper", DATABASE_URL=fresh_url)
    empty = cli(tmp_path, "apikey", "list", "--site", "paper", DATABASE_URL=fresh_url)
    assert empty.stdout == (
        "no keys on paper yet; `moderation apikey create --site SLUG` makes one\n"
    )
    created = cli(tmp_path, "apikey", "create", "--site", "paper", "--json", DATABASE_URL=fresh_url)
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert set(body) == {"id", "key"}
    assert body["key"].startswith("ak_")
    listed = cli(tmp_path, "apikey", "list", "--site", "paper", DATABASE_URL=fresh_url)
    assert re.search(rf"^\s*{body['id']}\s+paper\s+active", listed.stdout, re.M), listed.stdout
    assert body["key"] not in listed.stdout

    revoked = cli(tmp_path, "apikey", "revoke", str(body["id"]), DATABASE_URL=fresh_url)
    assert revoked.returncode == 0
    assert "revoked" in cli(tmp_path, "apikey", "list", DATABASE_URL=fresh_url).stdout
    again = cli(tmp_path, "apikey", "revoke", str(body["id"]), DATABASE_URL=fresh_url)
    assert again.returncode != 0
    unknown = cli(tmp_path, "apikey", "create", "--site", "nope", DATABASE_URL=fresh_url)
    assert "no site 'nope'" in unknown.stderr


def test_coral_secret_creates_then_rotates_with_a_grace_period(
    tmp_path: Path, fresh_url: str
) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    cli(tmp_path, "site", "create", "paper", DATABASE_URL=fresh_url)
    first = json.loads(
        cli(tmp_path, "coral", "secret", "--site", "paper", "--json", DATABASE_URL=fresh_url).stdout
    )
    assert first["secret"].startswith("ssc_")
    assert first["previous_valid_until"] is None
    from_coral = "ssc_" + "ab" * 32  # the secret Coral's admin shows for the phase
    second = cli(
        tmp_path,
        "coral",
        "secret",
        "--site",
        "paper",
        "--secret",
        from_coral,
        "--keep-previous",
        "600",
        "--json",
        DATABASE_URL=fresh_url,
    )
    rotated = json.loads(second.stdout)
    assert rotated["secret"] == from_coral
    until = datetime.fromisoformat(rotated["previous_valid_until"])
    assert timedelta(seconds=590) < until - datetime.now(UTC) < timedelta(seconds=610)
    short = cli(
        tmp_path, "coral", "secret", "--site", "paper", "--secret", "short", DATABASE_URL=fresh_url
    )
    assert short.returncode != 0
    assert "at least 16 characters" in short.stderr


async def test_a_rotation_cuts_every_earlier_coral_secret_to_its_grace(
    conn: asyncpg.Connection, site: Site
) -> None:
    await coral.rotate_secret(conn, site.slug)
    await coral.rotate_secret(conn, site.slug)  # the first keeps a day
    third, expires = await coral.rotate_secret(conn, site.slug, keep_previous_seconds=0)
    assert expires is not None
    assert expires <= datetime.now(UTC)
    # A leaked secret is revoked by rotating: the first one's day is cut short too.
    assert await perspective_queries.coral_secrets(conn, site.id) == [third]


async def test_a_rotation_keeps_an_earlier_secrets_sooner_expiry(
    conn: asyncpg.Connection, site: Site
) -> None:
    async def expiries() -> list[datetime | None]:
        query = "SELECT expires_at FROM coral_secrets WHERE site_id = $1 ORDER BY id"
        return [row["expires_at"] for row in await conn.fetch(query, site.id)]

    await coral.rotate_secret(conn, site.slug)
    await coral.rotate_secret(conn, site.slug, keep_previous_seconds=60)
    [first_before, _] = await expiries()
    await coral.rotate_secret(conn, site.slug, keep_previous_seconds=3600)
    first, second, current = await expiries()
    # The first keeps its minute; the second gets the hour (set after the first's minute
    # began, so at least 59 minutes later, however long the rotations took).
    assert first == first_before
    assert first is not None
    assert second is not None
    assert second - first >= timedelta(seconds=3540)
    assert current is None
