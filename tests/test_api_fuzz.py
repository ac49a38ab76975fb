"""schemathesis against a live API process: every operation of /openapi.json (routes added
later included), generated and mutated requests with a site key, a moderator's token, a
desk session and a Perspective key, and every check on: no 5xx, only documented statuses,
answers that match their documented schema and content type.

The number of cases it ran is printed (`pytest -s` shows it) and must not be zero. The
run is bounded by examples per operation, so that it takes a few minutes at most.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from moderation import db, moderators
from moderation.perspective import keys
from moderation.sites import Site, SiteSettings, create_site
from tests.factories import desk_csrf, desk_sign_in, set_status
from tests.workers import live_api

# Per operation; with the coverage phase's boundary cases this keeps the run to minutes.
_EXAMPLES = 100
_SEED = 20260


@dataclass
class Live:
    base: str
    site: Site
    token: str
    perspective_key: str
    comment_id: int
    author_id: int
    cookie: str
    csrf: str


async def seeded(url: str) -> tuple[Site, str, str, int, int]:
    """A site (no rate limits or quota: the fuzzer posts fast), an admin's token, a
    Perspective key, and comments of several statuses for the examples to find."""
    conn = await db.connect(url)
    try:
        site = await create_site(
            conn,
            "fuzz",
            [],
            settings=SiteSettings(
                rate_per_author=0, rate_per_address=0, analyze_requests_per_minute=0
            ),
        )
        _, token = await moderators.create(conn, "Fuzz", "admin", [site.id])
        _, perspective_key = await keys.create(conn, site.slug)
        author_id = await conn.fetchval(
            "INSERT INTO authors (site_id, external_id, name) VALUES ($1, 'a', 'A') RETURNING id",
            site.id,
        )
        article_id = await conn.fetchval(
            "INSERT INTO articles (site_id, external_id) VALUES ($1, 'story') RETURNING id",
            site.id,
        )
        ids = [
            await conn.fetchval(
                """
                INSERT INTO comments (site_id, article_id, author_id, author_name, body,
                                      fingerprint)
                VALUES ($1, $2, $3, 'A', $4, 'x') RETURNING id
                """,
                site.id,
                article_id,
                author_id,
                f"Comment {n}",
            )
            for n in range(3)
        ]
        await set_status(conn, ids[:1], "approved")
        await set_status(conn, ids[1:2], "review")
    finally:
        await conn.close()
    return site, token, perspective_key, ids[0], author_id


@pytest.fixture
async def live(
    tmp_path: Path, make_migrated_database: Callable[[], Awaitable[str]]
) -> AsyncIterator[Live]:
    url = await make_migrated_database()
    site, token, perspective_key, comment_id, author_id = await seeded(url)
    with live_api(tmp_path, url) as (base, _):
        cookie, csrf = await desk_session(base, token, site)
        yield Live(base, site, token, perspective_key, comment_id, author_id, cookie, csrf)


async def desk_session(base: str, token: str, site: Site) -> tuple[str, str]:
    """A desk session's cookie and CSRF token, signed in as a moderator would."""
    async with httpx.AsyncClient(base_url=base) as client:
        signed = await desk_sign_in(client, token)
        assert signed.status_code == 303, signed.text
        # Signing in starts a session with a CSRF token of its own, in every page.
        csrf = await desk_csrf(client, site)
        return f"desk_session={client.cookies['desk_session']}", csrf


def with_live_data(document: dict[str, Any], live: Live) -> dict[str, Any]:
    """The document as served, narrowed to the live data where only it gets past the
    first check (a site that exists, credentials that are valid), so that generated
    requests reach validation, queries and answers; and the stored ids as examples.
    Negative cases still send other values, which the document says are refused."""
    examples: dict[str, Any] = {
        "article": "story",
        "comment": live.comment_id,
        "author": live.author_id,
        "queue": "review",
    }
    only = {
        ("path", "site"): live.site.slug,
        ("query", "site"): live.site.slug,
        ("header", "X-Site-Key"): live.site.widget_key,
        ("header", "X-CSRF-Token"): live.csrf,
        ("header", "X-Goog-Api-Key"): live.perspective_key,
        ("query", "key"): live.perspective_key,
    }
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                where = (parameter["in"], parameter["name"])
                if where in only:
                    parameter["schema"] = {"type": "string", "enum": [only[where]]}
                elif parameter["in"] == "path" and parameter["name"] in examples:
                    parameter["example"] = examples[parameter["name"]]
    return document


async def test_schemathesis_finds_no_failure_in_any_operation(live: Live, tmp_path: Path) -> None:
    async with httpx.AsyncClient() as client:
        document = (await client.get(f"{live.base}/openapi.json")).json()
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(with_live_data(document, live)))
    report = tmp_path / "report.json"
    # The live feeds never end: their first event (the counts) is all there is to check.
    (tmp_path / "schemathesis.toml").write_text("max-stream-events = 1\n")
    run = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(schema),
        "--url",
        live.base,
        "--checks",
        "all",
        # Valid by the schema is not always acceptable: an opaque cursor, an id that
        # does not exist, an action the comment's status does not allow.
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        str(_EXAMPLES),
        "--seed",
        str(_SEED),
        "--phases",
        "examples,coverage,fuzzing",
        # One worker: hypothesis parses lambdas' source to describe them, and CPython 3.11
        # before 3.11.8 fails AST parsing in concurrent threads (gh-106905).
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "-H",
        f"X-Site-Key: {live.site.widget_key}",
        "-H",
        f"Authorization: Bearer {live.token}",
        "-H",
        f"X-Goog-Api-Key: {live.perspective_key}",
        "-H",
        f"Cookie: {live.cookie}",
        "-H",
        f"X-CSRF-Token: {live.csrf}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    out, _ = await asyncio.wait_for(run.communicate(), timeout=900)
    output = out.decode()
    assert run.returncode == 0, output[-30000:]
    ran = json.loads(report.read_text())
    operations = sum(len(methods) for methods in document["paths"].values())
    assert ran["operations"]["tested"] == operations, ran["operations"]
    assert ran["test_cases"]["generated"] >= operations
    print(f"schemathesis: {ran['test_cases']['generated']} cases over {operations} operations")
