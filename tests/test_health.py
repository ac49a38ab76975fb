"""Liveness, readiness and the OpenAPI description."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from urllib.parse import urlsplit

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from starlette.routing import BaseRoute, Mount, Route

from moderation.app import create_app
from moderation.config import Settings


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


def api_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    """Every route of the API with its full path; the desk's HTML pages are not part of it."""
    for route in routes:
        if isinstance(route, Mount):
            yield from api_routes(route.routes, prefix + route.path)
        else:
            assert isinstance(route, Route)
            if route.include_in_schema:
                # The document names parameters without their convertor ({article:path}).
                yield re.sub(r":\w+}", "}", prefix + route.path), route


async def test_openapi_describes_every_route(app_client: httpx.AsyncClient) -> None:
    document = (await app_client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    app = create_app(Settings(database_url="postgresql://unused/none"))
    for path, route in api_routes(app.routes):
        assert path in document["paths"], path
        for method in route.methods or ():
            if method == "HEAD":
                continue
            operation = document["paths"][path][method.lower()]
            assert operation["summary"], (method, path)
            assert operation["responses"], (method, path)


def references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


async def test_openapi_request_bodies_are_the_validating_models(
    app_client: httpx.AsyncClient,
) -> None:
    document = (await app_client.get("/openapi.json")).json()
    components = document["components"]["schemas"]
    refs = set(references(document))
    assert "#/components/schemas/CommentIn" in refs
    for ref in refs:
        assert ref.removeprefix("#/components/schemas/") in components, ref
    intake = document["paths"]["/v1/sites/{site}/articles/{article}/comments"]["post"]
    body = intake["requestBody"]["content"]["application/json"]["schema"]
    comment = components[body["$ref"].rsplit("/", 1)[1]]
    assert set(comment["required"]) == {"author", "body"}
    assert comment["additionalProperties"] is False
    decision = components["BulkIn"]["properties"]["decisions"]
    assert decision["maxItems"] == 200


async def test_unknown_routes_and_methods_answer_in_the_error_shape(
    app_client: httpx.AsyncClient,
) -> None:
    missing = await app_client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = await app_client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
