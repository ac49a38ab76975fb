"""Prometheus metrics, scraped from the real endpoints: the API's /metrics (in process and
as `moderation api --workers 2`) and a real worker's metrics port."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from moderation import db, metrics, moderators, policy
from moderation.app import create_app
from moderation.config import Settings
from moderation.db import transitions
from moderation.routes.metrics import PendingComments
from moderation.sites import Site, SiteSettings, create_site
from tests.factories import Poster, posted_ago, set_status
from tests.tiny_model import PLANTED_WORD
from tests.workers import Process, free_port, statuses, wait_until, worker_env

REPO = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-for-tests"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when it is absent: a counter not yet incremented)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


def routes(text: str) -> set[str]:
    return {
        found.labels["route"]
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == "moderation_http_requests_total"
    }


async def scrape(client: httpx.AsyncClient, **headers: str) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_a_rule_is_a_reason_without_its_scores_or_details() -> None:
    assert metrics.rule("toxicity 0.93 ≥ 0.90") == "toxicity ≥ 0.90"
    assert metrics.rule("spam 0.91 ≥ 0.80 (3 links; new author)") == "spam ≥ 0.80"
    assert metrics.rule("language hy not covered") == "language hy not covered"
    assert metrics.rule("trusted author (12 approved)") == "trusted author"
    held = "new author with comments held as spam"
    assert metrics.rule(f"{held} (3)") == held


def test_decisions_held_for_any_number_of_links_count_under_one_rule() -> None:
    # The reason keeps its count for moderators; the label is the rule, or a site that
    # pre-moderates links would grow a series per count it ever saw.
    premod = SiteSettings(premod="links")
    site = "metrics-links"
    for comment_id, links in enumerate((1, 2, 3, 5, 8)):
        body = " ".join(f"https://a.example/{n}" for n in range(links))
        decision = policy.evaluate(premod, policy.Facts(body, "en", {}, 0.0))
        assert decision.reasons[0].startswith(f"{links} link")
        change = transitions.Change(
            comment_id, "pending", decision.status, decision.reasons[0], decision.reasons
        )
        applied = {"id": comment_id, "site": site, "status": decision.status}
        metrics.count_decisions([applied], [change])  # type: ignore[list-item]
    text = metrics.exposition(metrics.WORKER).decode()
    counted = {
        found.labels["reason"]: found.value
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == "moderation_decision_reasons_total" and found.labels["site"] == site
    }
    assert counted == {"links": 5}


ClientWith = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_with(settings: Settings) -> AsyncIterator[ClientWith]:
    """`await client_with(**settings)`: a client of an app with these settings changed."""
    async with AsyncExitStack() as stack:

        async def make(**updates: object) -> httpx.AsyncClient:
            app = create_app(settings.model_copy(update=updates))
            manager = await stack.enter_async_context(LifespanManager(app))
            transport = httpx.ASGITransport(app=manager.app)
            client = httpx.AsyncClient(transport=transport, base_url="http://api.test")
            return await stack.enter_async_context(client)

        yield make


async def test_requests_are_counted_by_route_template_and_status(
    client_with: ClientWith, site: Site
) -> None:
    app_client = await client_with(session_secret=SecretStr("s" * 32))
    poster = Poster(app_client, site)
    route = "/v1/sites/{site}/articles/{article}/comments"
    before = await scrape(app_client)
    await poster.comment(article="metrics-a")
    await poster.comment(article="metrics-b")
    assert (await poster.post(headers={"X-Site-Key": "wrong"})).status_code == 401
    assert (await app_client.get("/no/such/page")).status_code == 404
    await app_client.get("/desk/")
    after = await scrape(app_client)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    posted = {"route": route, "method": "POST"}
    assert delta("moderation_http_requests_total", status="202", **posted) == 2
    assert delta("moderation_http_requests_total", status="401", **posted) == 1
    assert delta("moderation_http_request_duration_seconds_count", status="202", **posted) == 2
    assert delta("moderation_http_requests_total", route="unmatched", status="404") == 1
    # The desk is mounted at /desk: its routes carry the whole template.
    desk = {route for route in routes(after) if route.startswith("/desk")}
    assert {route for route in desk if delta("moderation_http_requests_total", route=route)} == {
        "/desk/"
    }
    # No raw path (with the site's slug in it) ever becomes a label.
    assert site.slug not in after.replace(f'site="{site.slug}"', "")


async def test_preflights_and_foreign_origins_are_counted_under_their_route(
    client_with: ClientWith, site: Site
) -> None:
    # Answered by the CORS middleware before routing, yet not "unmatched".
    app_client = await client_with()
    path = f"/v1/sites/{site.slug}/articles/a/comments"
    before = await scrape(app_client)
    for origin in ("https://news.example", "https://evil.example"):
        preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
        await app_client.options(path, headers=preflight)
    refused = await app_client.post(
        path, json={}, headers={"Origin": "https://evil.example", "X-Site-Key": site.widget_key}
    )
    assert refused.status_code == 403
    after = await scrape(app_client)

    def delta(**labels: str) -> float:
        name = "moderation_http_requests_total"
        return sample(after, name, **labels) - sample(before, name, **labels)

    route = "/v1/sites/{site}/articles/{article}/comments"
    assert delta(route=route, method="OPTIONS", status="204") == 1
    assert delta(route=route, method="OPTIONS", status="403") == 1
    assert delta(route=route, method="POST", status="403") == 1
    assert delta(route="unmatched") == 0


async def test_comments_received_and_pending_are_reported_per_site(
    app_client: httpx.AsyncClient, poster: Poster, site: Site, conn: asyncpg.Connection
) -> None:
    ids = [await poster.comment(article="pending-metrics") for _ in range(3)]
    await posted_ago(conn, ids[0], 90)
    await set_status(conn, [ids[2]], "approved")
    text = await scrape(app_client)
    assert sample(text, "moderation_comments_received_total", site=site.slug) == 3
    assert sample(text, "moderation_comments_pending", site=site.slug) == 2
    oldest = sample(text, "moderation_comments_pending_oldest_seconds", site=site.slug)
    assert 90 <= oldest < 150


async def test_an_edited_comment_waits_from_its_edit_not_its_post(
    app_client: httpx.AsyncClient, poster: Poster, site: Site, conn: asyncpg.Connection
) -> None:
    # Approved ten minutes ago, then edited: it is pending again, for its new text.
    posted = (await poster.post(article="edited-pending")).json()
    await posted_ago(conn, posted["id"], 600)
    await set_status(conn, [posted["id"]], "approved")
    edited = await poster.edit(posted["id"], posted["secret"], "A second thought.")
    assert edited.status_code == 200, edited.text
    text = await scrape(app_client)
    assert sample(text, "moderation_comments_pending", site=site.slug) == 1
    assert sample(text, "moderation_comments_pending_oldest_seconds", site=site.slug) < 60


async def test_moderator_decisions_are_counted_without_their_free_text(
    app_client: httpx.AsyncClient, poster: Poster, site: Site, conn: asyncpg.Connection
) -> None:
    held = await poster.comment(article="decisions")
    await set_status(conn, [held], "review")
    _, token = await moderators.create(conn, "metrics-mod", "moderator", [site.id])
    response = await app_client.post(
        f"/v1/moderation/comments/{held}/decision",
        json={"action": "reject", "expected_status": "review", "reason": "rude to Mrs Jones"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    text = await scrape(app_client)
    labels = {"site": site.slug, "status": "rejected", "actor": "moderator"}
    assert sample(text, "moderation_comments_decided_total", **labels) == 1
    assert "Mrs Jones" not in text


async def test_a_metrics_token_keeps_metrics_from_anyone_without_it(
    client_with: ClientWith,
) -> None:
    guarded = await client_with(metrics_token=SecretStr(TOKEN))
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
        refused = await guarded.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["field"] == "Authorization"
        assert refused.headers["www-authenticate"] == "Bearer"
    text = await scrape(guarded, Authorization=f"Bearer {TOKEN}")
    assert "moderation_http_requests_total" in text


def test_api_processes_report_their_requests_together(database_url: str, tmp_path: Path) -> None:
    """`moderation api --workers 2`: whichever process answers a scrape counts both."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = worker_env(database_url, "redis://127.0.0.1:9/0", tmp_path)
    api = Process(["api", "--port", str(port), "--workers", "2"], env, tmp_path / "api.log")
    try:
        deadline = time.monotonic() + 60
        while not answers(f"{base}/readyz"):
            assert api.popen.poll() is None, api.output()
            assert time.monotonic() < deadline, api.output()
            time.sleep(0.2)
        for _ in range(30):
            # A new connection each: the kernel spreads them over both processes.
            assert httpx.get(f"{base}/healthz").status_code == 200
        for _ in range(4):
            text = httpx.get(f"{base}/metrics").text
            assert sample(text, "moderation_http_requests_total", route="/healthz") == 30
    finally:
        api.stop()
    # Scoring is the workers': an API reports none of it, not even as zeros.
    assert worker_only()
    assert not reported(text) & worker_only()


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


async def test_a_worker_exports_decisions_batches_and_models_on_its_port(
    own_database_url: str, redis_url: str, models_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = worker_env(
        own_database_url,
        redis_url,
        models_dir,
        MODERATION_WORKER_METRICS_PORT=str(port),
        MODERATION_METRICS_TOKEN=TOKEN,
        MODERATION_DATA_DIR=str(tmp_path / "data"),
    )
    worker = Process(["worker", "--concurrency=2"], env, tmp_path / "worker.log")
    settings = Settings(database_url=own_database_url, broker_url=redis_url, access_log=False)
    conn = await db.connect(own_database_url)
    try:
        site = await create_site(
            conn,
            "metrics-worker",
            ["https://news.example"],
            settings=SiteSettings(rate_per_author=0, rate_per_address=0),
        )
        async with LifespanManager(create_app(settings)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                poster = Poster(client, site)
                ids = [
                    await poster.comment(body="A fair point about the budget."),
                    await poster.comment(body=f"You are a {PLANTED_WORD} and a fool"),
                    await poster.comment(
                        body="The council should publish the budget before the vote."
                    ),
                ]

        async def decided() -> bool:
            return "pending" not in (await statuses(conn, ids)).values()

        await wait_until(decided, 120, "scoring", [worker])
        url = f"http://127.0.0.1:{port}/metrics"
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 401
            text = (await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})).text
    finally:
        await conn.close()
        worker.stop()

    system = {"site": "metrics-worker", "actor": "system"}
    assert sample(text, "moderation_comments_decided_total", status="approved", **system) == 2
    assert sample(text, "moderation_comments_decided_total", status="rejected", **system) == 1
    reasons = {"site": "metrics-worker", "status": "rejected"}
    assert sample(text, "moderation_decision_reasons_total", reason="toxicity ≥ 0.90", **reasons)
    assert sample(text, "moderation_scoring_batch_size_sum") == 3
    assert sample(text, "moderation_scoring_batch_duration_seconds_count") >= 1
    for phase in ("claim", "score", "write"):
        assert sample(text, "moderation_scoring_batch_phase_seconds_count", phase=phase) >= 1
    info = {"model": "original", "device": "cpu", "dtype": "float32", "backend": "torch"}
    assert sample(text, "moderation_model_info", **info) == 1
    # Nor does a worker report the API's requests.
    assert not {name for name in reported(text) if name.startswith("moderation_http_")}


def reported(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def worker_only() -> set[str]:
    """The names of the metrics only workers count."""
    instruments = vars(metrics.scoring_instruments()).values()
    return {family.name for metric in instruments for family in metric.collect()}


def exported_names() -> set[str]:
    """Every sample name the API and workers can export."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    for group in {*metrics.API, *metrics.WORKER}:
        group()
    families = [*REGISTRY.collect(), *PendingComments([]).collect()]
    return {
        family.name + suffix
        for family in families
        if family.name.startswith("moderation_")
        for suffix in suffixes[family.type]
    }


def read_dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text())
    return loaded


def panel_queries(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_grafana_dashboard_charts_only_what_the_service_exports() -> None:
    dashboard = read_dashboard()
    queries = panel_queries(dashboard) + [
        variable["definition"]
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]
    used = set(re.findall(r"\bmoderation_[a-z_]+", " ".join(queries)))
    assert used <= exported_names(), used - exported_names()
    # Each family of metrics is on the dashboard somewhere.
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in exported_names()}
    charted = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert families == charted
    for panel in dashboard["panels"]:
        assert panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def test_the_grafana_dashboard_takes_the_max_of_what_the_database_reports() -> None:
    """Every API process exports the same database-wide figures: summed over processes,
    two API processes would double them."""
    queries = panel_queries(read_dashboard())
    for family in PendingComments([]).collect():
        # The aggregation applied to the gauge itself: `max by (site) (name{...})`.
        wrapping = re.compile(rf"(\w+)(?:\s+by\s*\([^)]*\))?\s*\(\s*{family.name}\b")
        charted = [query for query in queries if re.search(rf"\b{family.name}\b", query)]
        assert charted, family.name
        for query in charted:
            aggregations = [found.group(1) for found in wrapping.finditer(query)]
            assert aggregations == ["max"], query
