"""Readers' privacy for site admins: an author's data, and erasing it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import privacy
from moderation.http.access import authenticate
from moderation.http.params import path_id
from moderation.http.responses import JSONResponse


async def author_export(request: Request) -> Response:
    """
    summary: Everything stored about an author (a reader's access request)
    tags: [moderation]
    parameters:
      - {name: author, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      200:
        description: The author and their comments, with texts, addresses and user agents
        content: {application/json: {schema: {$ref: '#/components/schemas/AuthorData'}}}
      401: {description: Missing, wrong or revoked token}
      403: {description: Not an admin of the author's site}
      404: {description: "No such author, or not this moderator's"}
    """
    moderator = await authenticate(request)
    author_id = path_id(request, "author")
    async with request.state.pool.acquire() as conn:
        data = await privacy.author_data(conn, author_id, moderator)
    return JSONResponse(data)


async def author_erase(request: Request) -> Response:
    """
    summary: Erase an author's data (a reader's erasure request)
    description: >
      Removes the author's name, their comments' text, client addresses and user
      agents; their comments leave readers' view (replies stay under removed
      placeholders). Records who erased and when. Cannot be undone.
    tags: [moderation]
    parameters:
      - {name: author, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      200:
        description: What was erased
        content: {application/json: {schema: {$ref: '#/components/schemas/Erased'}}}
      401: {description: Missing, wrong or revoked token}
      403: {description: Not an admin of the author's site}
      404: {description: "No such author, or not this moderator's"}
    """
    moderator = await authenticate(request)
    author_id = path_id(request, "author")
    who = f"moderator {moderator.name} (#{moderator.id})"
    async with request.state.pool.acquire() as conn:
        result = await privacy.erase(conn, author_id, who, moderator)
    return JSONResponse(result)


routes = [
    Route("/v1/moderation/authors/{author}/export", author_export, methods=["GET"]),
    Route("/v1/moderation/authors/{author}/erase", author_erase, methods=["POST"]),
]
