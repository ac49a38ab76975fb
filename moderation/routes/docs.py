"""The OpenAPI description: each route's docstring, completed here with what all share.

A route's docstring says what is its own: its parameters (path, query, header), its
request body and its answers, each body a `$ref` to a component. Components are
generated from the very types the code uses: the pydantic models that validate request
bodies, and the shapes (TypedDicts, checked by mypy where the answers are built) that
responses are made of. What every route shares is added once, here: the error shape for
every error answer that names no other, the 400 and 503 any route can give (a control
character in the URL; the database out of reach, with Retry-After), the 400, 413, 415
and 422 of reading a JSON body, and the 403 the CORS middleware gives a state-changing
request from a foreign Origin. tests/test_openapi.py holds every operation to it.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from moderation.articles import ArticleIn, ArticleState
from moderation.authors import AuthorRecord, AuthorStatusChange, AuthorStatusIn, Note, NoteIn
from moderation.events import FeedEvent
from moderation.http.cors import refuses_foreign_origin
from moderation.http.errors import Error, GoogleError
from moderation.http.responses import JSONResponse
from moderation.intake import CommentIn
from moderation.own_comments import Deleted, Edited, EditIn, OwnStates, StatesIn
from moderation.perspective.api import AnalyzeIn, AnalyzeOut, SuggestIn, SuggestOut
from moderation.perspective.coral import ExternalModerationRequest, Verdict
from moderation.privacy import AuthorData, Erased
from moderation.review import (
    BulkIn,
    DecisionIn,
    DecisionOut,
    DecisionsOut,
    Featured,
    FeatureIn,
    QueueCounts,
    QueueItem,
    QueuePage,
)
from moderation.routes.health import Health
from moderation.routes.public import CommentAccepted, CommentPlace, Counts, Reported, ReportIn
from moderation.routes.review import CommentDetail, StaleDecision
from moderation.routes.stats import Stats
from moderation.sites import SiteDocument
from moderation.threads import FeaturedPage, ThreadPage
from moderation.webhooks import Replayed, WebhookLog, Webhooks

# Request bodies: a route's docstring names one as
# `schema: {$ref: '#/components/schemas/CommentIn'}`.
PAYLOADS: tuple[type[Any], ...] = (
    AnalyzeIn,
    ArticleIn,
    AuthorStatusIn,
    BulkIn,
    CommentIn,
    DecisionIn,
    EditIn,
    ExternalModerationRequest,
    FeatureIn,
    NoteIn,
    ReportIn,
    SiteDocument,
    StatesIn,
    SuggestIn,
)

# Response bodies, named the same way.
RESPONSES: tuple[type[Any], ...] = (
    CommentAccepted,
    AnalyzeOut,
    ArticleState,
    AuthorData,
    AuthorRecord,
    AuthorStatusChange,
    CommentDetail,
    CommentPlace,
    Counts,
    DecisionOut,
    DecisionsOut,
    Deleted,
    Edited,
    Erased,
    Error,
    Featured,
    FeaturedPage,
    FeedEvent,
    GoogleError,
    Health,
    Note,
    OwnStates,
    QueueCounts,
    QueueItem,
    QueuePage,
    Replayed,
    Reported,
    SiteDocument,
    StaleDecision,
    Stats,
    SuggestOut,
    ThreadPage,
    Verdict,
    WebhookLog,
    Webhooks,
)


def component_schemas() -> dict[str, Any]:
    """JSON Schemas of the payloads (as validated) and the answers (as serialised)."""
    inputs: list[tuple[int, JsonSchemaMode, TypeAdapter[Any]]] = [
        (n, "validation", TypeAdapter(t)) for n, t in enumerate(PAYLOADS)
    ]
    inputs += [
        (len(PAYLOADS) + n, "serialization", TypeAdapter(t))
        for n, t in enumerate(RESPONSES)
        if t not in PAYLOADS
    ]
    _, document = TypeAdapter.json_schemas(inputs, ref_template=_REF + "{model}")
    return dict(document["$defs"])


_REF = "#/components/schemas/"


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + name}}}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
# What any route may answer, whatever its docstring says.
_EVERY_OPERATION = {
    "400": "A bad request: a control character in the URL, or a bad parameter",
    "503": "The database (or the worker a route waits for) is out of reach; see Retry-After",
}
_FOREIGN_ORIGIN = "origin_not_allowed: the request's Origin is not one the site allows"
# What reading a JSON body may answer.
_WITH_A_BODY = {
    "400": "The body is not JSON, or not UTF-8",
    "413": "The body is over the size limit",
    "415": "The body is not application/json",
    "422": "A field is missing, of the wrong kind, or invalid",
}


class _Generator(SchemaGenerator):
    def get_schema(self, routes: list[BaseRoute]) -> dict[str, Any]:
        document = super().get_schema(routes)
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                _complete(operation, path, method)
        return document


def _complete(operation: dict[str, Any], path: str, method: str) -> None:
    # An operation with an error shape of its own (Perspective's) names it, and declares
    # its statuses: its body errors are not ours.
    shape = operation.pop("x-errors", "Error")
    responses = {str(status): answer for status, answer in operation["responses"].items()}
    shared = dict(_EVERY_OPERATION)
    if "{" in path:
        shared["404"] = "Nothing by that name or id (or nothing the caller may see)"
    if refuses_foreign_origin(path, method):
        # The CORS middleware answers it before the route, beside the route's own 403s.
        answer = responses.setdefault("403", {})
        own = answer.get("description")
        answer["description"] = f"{own}; or {_FOREIGN_ORIGIN}" if own else _FOREIGN_ORIGIN
    if "requestBody" in operation and shape == "Error":
        shared.update(_WITH_A_BODY)
    for status, description in shared.items():
        responses.setdefault(status, {"description": description})
    for status, answer in responses.items():
        if int(status) >= 400:
            answer.setdefault("content", _json(shape))
        if status in ("429", "503"):
            answer.setdefault("headers", _RETRY_AFTER)
    if shape != "Error":
        # The URL is checked before the route: a control character there is our 400.
        refs = [{"$ref": _REF + shape}, {"$ref": _REF + "Error"}]
        responses["400"]["content"] = {"application/json": {"schema": {"anyOf": refs}}}
    operation["responses"] = dict(sorted(responses.items()))


schemas = _Generator(
    {
        "openapi": "3.1.0",
        "info": {"title": "Comment moderation API", "version": "1"},
        "components": {"schemas": component_schemas()},
    }
)


async def openapi(request: Request) -> Response:
    """
    summary: This API's OpenAPI description
    tags: [operations]
    responses:
      200:
        description: OpenAPI 3.1 document
        content: {application/json: {schema: {type: object}}}
    """
    return JSONResponse(schemas.get_schema(routes=request.app.routes))


routes = [Route("/openapi.json", openapi, methods=["GET"], include_in_schema=True)]
