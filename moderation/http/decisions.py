"""Moderators' decisions over HTTP, in bulk or featuring one comment: the API's and the
desk's answer are one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from moderation import review
from moderation.http.bodies import read_payload
from moderation.http.params import path_id
from moderation.http.responses import JSONResponse
from moderation.moderators import Moderator


async def apply_bulk(request: Request, moderator: Moderator) -> Response:
    """The request's decisions applied as `moderator`, each result reported."""
    bulk = await read_payload(request, review.BulkIn)
    async with request.state.pool.acquire() as conn:
        results = await review.apply_decisions(conn, moderator, bulk.decisions)
    return JSONResponse({"results": [result.as_dict() for result in results]})


async def apply_feature(request: Request, moderator: Moderator) -> Response:
    """The path's comment featured (or no longer) as the request's body says, by `moderator`."""
    comment_id = path_id(request, "comment")
    change = await read_payload(request, review.FeatureIn)
    async with request.state.pool.acquire() as conn:
        result = await review.feature(conn, moderator, comment_id, change.featured)
    return JSONResponse(result)
