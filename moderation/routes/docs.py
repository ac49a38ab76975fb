"""The OpenAPI description, built from the routes' own docstrings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.schemas import SchemaGenerator

from moderation.authors import AuthorStatusIn, NoteIn
from moderation.http.responses import JSONResponse
from moderation.intake import CommentIn
from moderation.own_comments import EditIn, StatesIn
from moderation.perspective.api import AnalyzeIn, SuggestIn
from moderation.perspective.coral import ExternalModerationRequest
from moderation.review import BulkIn, DecisionIn, FeatureIn
from moderation.routes.public import ReportIn
from moderation.routes.site_admin import ArticleIn
from moderation.sites import SiteDocument

# Request bodies are described by the very models that validate them; a route's
# docstring names one as `schema: {$ref: '#/components/schemas/CommentIn'}`.
PAYLOADS: tuple[type[BaseModel], ...] = (
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


def payload_schemas() -> dict[str, Any]:
    _, document = models_json_schema(
        [(model, "validation") for model in PAYLOADS],
        ref_template="#/components/schemas/{model}",
    )
    return dict(document["$defs"])


schemas = SchemaGenerator(
    {
        "openapi": "3.1.0",
        "info": {"title": "Comment moderation API", "version": "1"},
        "components": {
            "schemas": {
                **payload_schemas(),
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": ["string", "null"]},
                            },
                        }
                    },
                },
            }
        },
    }
)


async def openapi(request: Request) -> Response:
    """
    summary: This API's OpenAPI description
    tags: [operations]
    responses:
      200: {description: OpenAPI 3.1 document}
    """
    return JSONResponse(schemas.get_schema(routes=request.app.routes))


routes = [Route("/openapi.json", openapi, methods=["GET"], include_in_schema=True)]
