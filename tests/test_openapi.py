"""The OpenAPI description holds every operation to the same standard: its path
parameters declared, a schema for every answer it gives (the error shape included),
generated from the types the code validates requests with and builds answers from.

A route added without declaring these fails here; tests/test_api_fuzz.py then checks
against a live API that the answers are what the document says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

from moderation import review
from moderation.app import create_app
from moderation.config import Settings
from moderation.routes.docs import RESPONSES
from moderation.sites import Site
from moderation.statuses import QUEUES

REF = "#/components/schemas/"
# Documents in formats of their own: no component describes them.
OPAQUE_DOCUMENTS = {("get", "/openapi.json"), ("get", "/$discovery/rest")}
# StaleDecision is Error with the comment's current status beside it.
ERROR_SHAPES = {REF + "Error", REF + "GoogleError", REF + "StaleDecision"}

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture
async def document(app_client: httpx.AsyncClient) -> dict[str, Any]:
    response = await app_client.get("/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


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


def references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def shapes(schema: dict[str, Any]) -> set[str]:
    """The components a schema names, itself or as its alternatives."""
    if "$ref" in schema:
        return {schema["$ref"]}
    return {ref for option in schema.get("anyOf", []) for ref in shapes(option)}


async def test_openapi_describes_every_route(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    app = create_app(Settings(database_url="postgresql://unused/none"))
    for path, route in api_routes(app.routes):
        assert path in document["paths"], path
        for method in route.methods or ():
            if method == "HEAD":
                continue
            operation = document["paths"][path][method.lower()]
            assert operation["summary"], (method, path)


async def test_every_operation_declares_its_path_parameters(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
        for parameter in operation.get("parameters", []):
            assert "schema" in parameter, (method, path, parameter["name"])


async def test_every_answer_has_a_schema_and_every_success_a_component(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            assert answer["description"], (method, path, status)
            if status in ("204", "304"):
                assert "content" not in answer, (method, path, status)
                continue
            assert answer.get("content"), (method, path, status)
            for media_type, content in answer["content"].items():
                schema = content.get("schema")
                assert schema, (method, path, status, media_type)
                opaque = (method, path) in OPAQUE_DOCUMENTS or not media_type.endswith("json")
                if status.startswith("2") and not opaque:
                    assert shapes(schema), (method, path, status)


async def test_every_error_answer_is_in_an_error_shape(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                named = shapes(answer["content"]["application/json"]["schema"])
                assert named, (method, path, status)
                assert named <= ERROR_SHAPES, (method, path, status)


async def test_every_operation_may_answer_400_and_503_with_retry_after(
    document: dict[str, Any],
) -> None:
    """A control character in any URL is a 400; the database out of reach is a 503."""
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert {"400", "503"} <= set(responses), (method, path)
        assert "Retry-After" in responses["503"]["headers"], (method, path)
        if "429" in responses:
            assert "Retry-After" in responses["429"]["headers"], (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)


async def test_operations_with_a_body_document_how_it_is_refused(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        if "requestBody" not in operation:
            continue
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].startswith(REF), (method, path)
        responses = operation["responses"]
        errors = shapes(responses["400"]["content"]["application/json"]["schema"])
        if errors == {REF + "Error"}:
            assert {"413", "415", "422"} <= set(responses), (method, path)


async def test_components_are_generated_from_the_code_s_types(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    for ref in set(references(document)):
        assert ref.removeprefix(REF) in components, ref
    for shape in RESPONSES:
        assert shape.__name__ in components, shape
    # The request model that validates, to the letter.
    intake = document["paths"]["/v1/sites/{site}/articles/{article}/comments"]["post"]
    body = intake["requestBody"]["content"]["application/json"]["schema"]
    comment = components[body["$ref"].removeprefix(REF)]
    assert set(comment["required"]) == {"author", "body"}
    assert comment["additionalProperties"] is False
    assert components["BulkIn"]["properties"]["decisions"]["maxItems"] == 200
    # The answer the route builds, to the letter (a TypedDict mypy checks it against).
    accepted = intake["responses"]["202"]["content"]["application/json"]["schema"]
    assert accepted == {"$ref": REF + "CommentAccepted"}
    assert set(components["CommentAccepted"]["required"]) == {"id", "status", "secret"}
    node = components["ThreadNode"]["properties"]["replies"]
    assert node["items"] == {"$ref": REF + "ThreadNode"}
    error = components["Error"]["properties"]["error"]
    assert error == {"$ref": REF + "ErrorDetail"}
    assert set(components["ErrorDetail"]["required"]) == {"code", "message", "field"}


async def test_queue_and_order_parameters_list_what_the_code_accepts(
    document: dict[str, Any],
) -> None:
    # Written by hand in the routes' docstrings: they must follow the vocabulary.
    listed = 0
    for method, path, operation in operations(document):
        if "{queue}" not in path:
            continue
        schemas = {p["name"]: p["schema"] for p in operation["parameters"]}
        assert schemas["queue"]["enum"] == list(QUEUES), (method, path)
        assert schemas["sort"]["enum"] == list(review.SORTS), (method, path)
        listed += 1
    assert listed == 2


async def test_every_operation_that_refuses_a_foreign_origin_declares_it(
    app_client: httpx.AsyncClient, document: dict[str, Any], site: Site
) -> None:
    """The CORS middleware answers 403 before any route; found by asking each operation."""
    refused = set()
    for method, path, operation in operations(document):
        url = re.sub(r"{\w+}", "1", path.replace("{site}", site.slug))
        response = await app_client.request(
            method, url, headers={"Origin": "https://elsewhere.example"}
        )
        if response.status_code == 403 and response.json()["error"]["code"] == "origin_not_allowed":
            refused.add((method, path))
            declared = operation["responses"].get("403", {}).get("description", "")
            assert "origin_not_allowed" in declared, (method, path)
    assert {
        ("post", "/v1/sites/{site}/comments/{comment}/reports"),
        ("post", "/v1/sites/{site}/comments/states"),
        ("post", "/v1/sites/{site}/articles/{article}/comments"),
    } <= refused
