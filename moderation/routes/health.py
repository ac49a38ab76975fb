"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typing_extensions import TypedDict

from moderation.db import migrations
from moderation.errors import MigrationError, Unavailable
from moderation.http.responses import JSONResponse

_READY_TIMEOUT = 2.0


class Health(TypedDict):
    status: Literal["ok", "ready"]


async def healthz(request: Request) -> Response:
    """
    summary: The process is alive
    tags: [operations]
    responses:
      200:
        description: Alive
        content: {application/json: {schema: {$ref: '#/components/schemas/Health'}}}
    """
    alive: Health = {"status": "ok"}
    return JSONResponse(alive)


async def readyz(request: Request) -> Response:
    """
    summary: The process can serve traffic
    description: The database answers and every migration this code ships has run.
    tags: [operations]
    responses:
      200:
        description: Ready
        content: {application/json: {schema: {$ref: '#/components/schemas/Health'}}}
      503: {description: "Not ready; the error says why"}
    """
    try:
        async with asyncio.timeout(_READY_TIMEOUT):
            async with request.state.pool.acquire() as conn:
                todo = await migrations.pending(conn, request.state.settings.migrations_dir)
    except TimeoutError as exc:
        raise Unavailable(f"the database did not answer within {_READY_TIMEOUT:g} s") from exc
    except MigrationError as exc:  # a release behind the database, say: not ready, not broken
        raise Unavailable(exc.message, code=exc.code) from exc
    if todo:
        raise Unavailable(f"migrations not applied: {', '.join(todo)}; run `moderation migrate`")
    ready: Health = {"status": "ready"}
    return JSONResponse(ready)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
