"""An author's record and notes over HTTP: the API's and the desk's answer are one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from moderation import authors
from moderation.http.bodies import read_payload
from moderation.http.params import path_id
from moderation.http.responses import JSONResponse
from moderation.moderators import Moderator


async def author_record(request: Request, moderator: Moderator) -> Response:
    """The record of the path's author, as `moderator` may see it."""
    author_id = path_id(request, "author")
    async with request.state.pool.acquire() as conn:
        body = await authors.load(conn, moderator, author_id)
    return JSONResponse(body)


async def add_note(request: Request, moderator: Moderator) -> Response:
    """The request's note on the path's author, stored as `moderator`'s: 201 with it."""
    author_id = path_id(request, "author")
    note = await read_payload(request, authors.NoteIn)
    async with request.state.pool.acquire() as conn:
        result = await authors.add_note(conn, moderator, author_id, note)
    return JSONResponse(result, status_code=201)
