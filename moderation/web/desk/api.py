"""The desk's JSON routes, for desk.js: signed in by the session cookie, not a token.

They call what the `/v1/moderation` routes call (`review.page`, `http.decisions.apply_bulk`,
`http.feeds.site_feed`), so the desk and the API cannot disagree. Every route that changes
something needs the session's CSRF token in the `X-CSRF-Token` header.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import review
from moderation.db import review as review_queries
from moderation.http.access import site_of
from moderation.http.decisions import apply_bulk
from moderation.http.feeds import site_feed
from moderation.http.params import path_id
from moderation.http.responses import JSONResponse
from moderation.statuses import require_queue
from moderation.web.desk import sessions

_PAGE = 25


async def queue_items(request: Request) -> Response:
    """
    summary: One page of a queue, riskiest first (desk session)
    description: >
      The items as `/v1/moderation/queues/{queue}` shows them. Signed in with the desk's
      session cookie; pass `next_cursor` back as `cursor` for the next page.
    tags: [desk]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: queue, in: path, required: true,
         schema: {type: string, enum: [review, reported, pending, spam, rejected, approved]}}
      - {name: cursor, in: query, schema: {type: string}}
    responses:
      200: {description: "`{items, next_cursor}`"}
      400: {description: A bad cursor}
      401: {description: Not signed in to the desk}
      404: {description: "No such queue or site, or not this moderator's"}
    """
    moderator = await sessions.require_moderator(request)
    site = await site_of(request, moderator, request.path_params["site"])
    queue = require_queue(request.path_params["queue"])
    cursor = request.query_params.get("cursor") or None
    async with request.state.pool.acquire() as conn:
        body = await review.page(conn, site.id, queue, review.Filters(), "priority", cursor, _PAGE)
    return JSONResponse(body)


async def comment_item(request: Request) -> Response:
    """
    summary: One comment as queues show it (desk session)
    description: What the desk fetches to add a card when the live feed announces a comment.
    tags: [desk]
    parameters:
      - {name: comment, in: path, required: true, schema: {type: integer}}
    responses:
      200: {description: The item}
      400: {description: Not a comment id}
      401: {description: Not signed in to the desk}
      404: {description: "No such comment, or not this moderator's"}
    """
    moderator = await sessions.require_moderator(request)
    comment_id = path_id(request, "comment")
    async with request.state.pool.acquire() as conn:
        row = await review_queries.item(conn, comment_id)
    moderator.require_site(row["site_id"] if row else None, "comment")
    assert row is not None
    return JSONResponse(review.describe(row))


async def desk_decisions(request: Request) -> Response:
    """
    summary: Decide one or many comments (desk session, CSRF header)
    description: >
      The body and the answer of `POST /v1/moderation/decisions`: each decision names
      the status the moderator saw and is applied only if the comment is still in it.
    tags: [desk]
    parameters:
      - {name: X-CSRF-Token, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/BulkIn'}
    responses:
      200: {description: "`{results: [{id, outcome: applied|conflict|invalid|not_found, status}]}`"}
      401: {description: Not signed in to the desk}
      403: {description: Missing or wrong CSRF token}
      422: {description: Invalid body}
    """
    moderator = await sessions.require_moderator(request)
    sessions.check_csrf(request, request.headers.get(sessions.CSRF_HEADER))
    return await apply_bulk(request, moderator)


async def feed(request: Request) -> Response:
    """
    summary: Live queue changes for a site (desk session, Server-Sent Events)
    description: The events of `/v1/moderation/events`, for the desk's EventSource.
    tags: [desk]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
    responses:
      200: {description: "text/event-stream"}
      400: {description: A malformed Last-Event-ID}
      401: {description: Not signed in to the desk}
      404: {description: "No such site, or not this moderator's"}
    """
    moderator = await sessions.require_moderator(request)
    site = await site_of(request, moderator, request.path_params["site"])
    return site_feed(request, moderator, site)


routes = [
    Route("/api/sites/{site}/queues/{queue}", queue_items, methods=["GET"]),
    Route("/api/comments/{comment}", comment_item, methods=["GET"]),
    Route("/api/decisions", desk_decisions, methods=["POST"]),
    Route("/api/sites/{site}/events", feed, methods=["GET"]),
]
