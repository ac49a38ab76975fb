"""The OpenAPI description, built from the routes' own docstrings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.schemas import SchemaGenerator

from moderation.responses import JSONResponse

schemas = SchemaGenerator(
    {
        "openapi": "3.1.0",
        "info": {"title": "Comment moderation API", "version": "1"},
        "components": {
            "schemas": {
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
                }
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
