"""Liveness, readiness, and what unknown routes and methods answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from moderation.app import create_app
from moderation.config import Settings
from moderation.sites import Site


async def test_healthz_answers_while_the_process_lives(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_on_a_migrated_database(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def ready_response(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            return await client.get("/readyz")


async def test_readyz_is_not_ready_before_migrations(
    settings: Settings, make_database: Callable[[], Awaitable[str]]
) -> None:
    empty = settings.model_copy(update={"database_url": await make_database()})
    response = await ready_response(empty)
    assert response.status_code == 503
    assert "0001_initial" in response.json()["error"]["message"]


async def test_readyz_is_not_ready_on_a_database_ahead_of_this_release(
    settings: Settings, make_migrated_database: Callable[[], Awaitable[str]]
) -> None:
    url = await make_migrated_database()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO schema_migrations VALUES ('9999_future', 'x')")
    finally:
        await conn.close()
    response = await ready_response(settings.model_copy(update={"database_url": url}))
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "migration_mismatch"
    assert "9999_future" in error["message"]


async def test_readyz_is_not_ready_when_the_database_goes_away(
    settings: Settings, make_database: Callable[[], Awaitable[str]], server_url: str
) -> None:
    url = await make_database()
    app = create_app(settings.model_copy(update={"database_url": url}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            admin = await asyncpg.connect(server_url)
            try:
                name = urlsplit(url).path.lstrip("/")
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            finally:
                await admin.close()
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"


async def test_unknown_routes_and_methods_answer_in_the_error_shape(
    app_client: httpx.AsyncClient,
) -> None:
    missing = await app_client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = await app_client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_a_405_names_every_method_the_path_allows(
    app_client: httpx.AsyncClient, site: Site
) -> None:
    """Two routes serve the comments of an article (GET and POST): the Allow of a third
    method names both, not only the first route's."""
    response = await app_client.delete(f"/v1/sites/{site.slug}/articles/a/comments")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
    states = await app_client.put(f"/v1/sites/{site.slug}/comments/states", json={})
    assert states.status_code == 405
    assert states.headers["Allow"] == "POST"


async def get_with_allowed_hosts(settings: Settings, *urls: str) -> list[httpx.Response]:
    """GET each of `urls` from the app with `MODERATION_ALLOWED_HOSTS` set as README advises."""
    allowed = ("comments.example.org", "*.example.org")
    app = create_app(settings.model_copy(update={"allowed_hosts": allowed}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport) as client:
            return [await client.get(url) for url in urls]


async def test_with_allowed_hosts_set_another_host_is_refused(settings: Settings) -> None:
    ours, forged = await get_with_allowed_hosts(
        settings,
        "http://comments.example.org/healthz",
        "http://evil.example/$discovery/rest?version=v1alpha1",
    )
    assert ours.status_code == 200
    assert forged.status_code == 400
    assert "evil.example" not in forged.text


async def test_with_allowed_hosts_set_probes_and_metrics_answer_by_address(
    settings: Settings,
) -> None:
    """A compose healthcheck and Prometheus name the process by its address, not its host."""
    *probes, other, slashed = await get_with_allowed_hosts(
        settings,
        "http://127.0.0.1:8000/healthz",
        "http://127.0.0.1:8000/readyz",
        "http://127.0.0.1:8000/metrics",
        "http://127.0.0.1:8000/openapi.json",
        "http://127.0.0.1:8000/healthz/",
    )
    assert [probe.status_code for probe in probes] == [200, 200, 200]
    assert other.status_code == 400
    # The redirect to /healthz would be built from the Host: still checked.
    assert slashed.status_code == 400


def test_allowed_hosts_read_from_the_environment_as_a_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODERATION_ALLOWED_HOSTS", "comments.example.org, *.example.org")
    assert Settings().allowed_hosts == ("comments.example.org", "*.example.org")
