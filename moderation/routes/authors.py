"""Moderation routes on authors: their record, and status changes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import authors
from moderation.http.access import authenticate
from moderation.http.authors import add_note, author_record
from moderation.http.bodies import read_payload
from moderation.http.params import path_id
from moderation.http.responses import JSONResponse


async def author_detail(request: Request) -> Response:
    """
    summary: An author's record, comment history and status changes
    tags: [moderation]
    parameters:
      - {name: author, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      200:
        description: The author's record, recent comments, status changes and notes
        content: {application/json: {schema: {$ref: '#/components/schemas/AuthorRecord'}}}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such author, or not this moderator's"}
    """
    return await author_record(request, await authenticate(request))


async def author_status(request: Request) -> Response:
    """
    summary: Ban, pre-moderate, trust or reset an author
    description: >
      `until` makes the status lapse back to normal at that time (a suspension).
      With a ban, `reject_open` also rejects the author's pending and held comments.
    tags: [moderation]
    parameters:
      - {name: author, in: path, required: true, schema: {type: integer, minimum: 1}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/AuthorStatusIn'}
    responses:
      200:
        description: The change, and the comments a ban rejected
        content: {application/json: {schema: {$ref: '#/components/schemas/AuthorStatusChange'}}}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such author, or not this moderator's"}
      422: {description: Invalid body}
    """
    moderator = await authenticate(request)
    author_id = path_id(request, "author")
    change = await read_payload(request, authors.AuthorStatusIn)
    async with request.state.pool.acquire() as conn:
        result = await authors.set_status(conn, moderator, author_id, change)
    return JSONResponse(result)


async def author_note(request: Request) -> Response:
    """
    summary: Add a moderator's note on an author
    description: Notes are kept with who wrote them and when, and shown on the author's record.
    tags: [moderation]
    parameters:
      - {name: author, in: path, required: true, schema: {type: integer, minimum: 1}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/NoteIn'}
    responses:
      201:
        description: The note as stored
        content: {application/json: {schema: {$ref: '#/components/schemas/Note'}}}
      400: {description: "Unreadable body, or not an author id"}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such author, or not this moderator's"}
      413: {description: Request body too large}
      415: {description: Not application/json}
      422: {description: Invalid body}
    """
    return await add_note(request, await authenticate(request))


routes = [
    Route("/v1/moderation/authors/{author}", author_detail, methods=["GET"]),
    Route("/v1/moderation/authors/{author}/status", author_status, methods=["POST"]),
    Route("/v1/moderation/authors/{author}/notes", author_note, methods=["POST"]),
]
