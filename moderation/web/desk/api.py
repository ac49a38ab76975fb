"""The desk's JSON routes, for desk.js: signed in by the session cookie, not a token.

They call what the `/v1/moderation` routes call (`review.page`, `review.item`,
`http.decisions`, `http.authors`, `http.feeds.site_feed`), so the desk and the API cannot
disagree. Every route that changes something needs the session's CSRF token in the
`X-CSRF-Token` header.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import review
from moderation.http.access import site_of
from moderation.http.authors import add_note, author_record
from moderation.http.decisions import apply_bulk, apply_feature
from moderation.http.feeds import site_feed
from moderation.http.params import path_id
from moderation.http.queues import requested_page
from moderation.http.responses import JSONResponse
from moderation.moderators import Moderator
from moderation.web.desk import sessions

_PAGE = 25


async def _changer(request: Request) -> Moderator:
    """The signed-in moderator of a request that changes something, its CSRF header checked."""
    moderator = await sessions.require_moderator(request)
    sessions.check_csrf(request, request.headers.get(sessions.CSRF_HEADER))
    return moderator


async def queue_items(request: Request) -> Response:
    """
    summary: One page of a queue (desk session)
    description: >
      The items, filters and orders of `/v1/moderation/queues/{queue}`. Signed in with
      the desk's session cookie; pass `next_cursor` back as `cursor` for the next page.
    tags: [desk]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: queue, in: path, required: true,
         schema: {type: string, enum: [review, reported, auto, pending, spam, rejected, approved]}}
      - {name: article, in: query, schema: {type: string, maxLength: 200}}
      - {name: author, in: query, schema: {type: integer, minimum: 1}}
      - {name: reason, in: query, schema: {type: string, maxLength: 200}}
      - {name: language, in: query, schema: {type: string, maxLength: 200}}
      - {name: q, in: query, schema: {type: string, maxLength: 200}}
      - {name: sort, in: query, schema: {type: string, enum: [priority, oldest, newest, sample]}}
      - {name: cursor, in: query, schema: {type: string}}
    responses:
      200:
        description: A page of items, and the cursor of the next (null after the last)
        content: {application/json: {schema: {$ref: '#/components/schemas/QueuePage'}}}
      400: {description: "A bad filter, sort or cursor"}
      401: {description: Not signed in to the desk}
      404: {description: "No such queue or site, or not this moderator's"}
    """
    moderator = await sessions.require_moderator(request)
    site = await site_of(request, moderator, request.path_params["site"])
    return JSONResponse(await requested_page(request, site.id, _PAGE))


async def comment_item(request: Request) -> Response:
    """
    summary: One comment as queues show it (desk session)
    description: What the desk fetches to add a card when the live feed announces a comment.
    tags: [desk]
    parameters:
      - {name: comment, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      200:
        description: The item
        content: {application/json: {schema: {$ref: '#/components/schemas/QueueItem'}}}
      400: {description: Not a comment id}
      401: {description: Not signed in to the desk}
      404: {description: "No such comment, or not this moderator's"}
    """
    moderator = await sessions.require_moderator(request)
    comment_id = path_id(request, "comment")
    async with request.state.pool.acquire() as conn:
        item = await review.item(conn, moderator, comment_id)
    return JSONResponse(item)


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
      200:
        description: "Each decision's outcome: applied, conflict, invalid or not_found"
        content: {application/json: {schema: {$ref: '#/components/schemas/DecisionsOut'}}}
      401: {description: Not signed in to the desk}
      403: {description: Missing or wrong CSRF token}
      422: {description: Invalid body}
    """
    return await apply_bulk(request, await _changer(request))


async def feature(request: Request) -> Response:
    """
    summary: Feature an approved comment, or stop (desk session, CSRF header)
    tags: [desk]
    parameters:
      - {name: comment, in: path, required: true, schema: {type: integer, minimum: 1}}
      - {name: X-CSRF-Token, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/FeatureIn'}
    responses:
      200:
        description: Featured, or not any more
        content: {application/json: {schema: {$ref: '#/components/schemas/Featured'}}}
      400: {description: "Unreadable body, or not a comment id"}
      401: {description: Not signed in to the desk}
      403: {description: Missing or wrong CSRF token}
      404: {description: "No such comment, or not this moderator's"}
      409: {description: The comment is not approved}
      413: {description: Request body too large}
      415: {description: Not application/json}
      422: {description: Invalid body}
    """
    return await apply_feature(request, await _changer(request))


async def author(request: Request) -> Response:
    """
    summary: An author's record, history and notes (desk session)
    description: What the desk's author panel shows beside the queue.
    tags: [desk]
    parameters:
      - {name: author, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      200:
        description: "As `GET /v1/moderation/authors/{author}`"
        content: {application/json: {schema: {$ref: '#/components/schemas/AuthorRecord'}}}
      400: {description: Not an author id}
      401: {description: Not signed in to the desk}
      404: {description: "No such author, or not this moderator's"}
    """
    return await author_record(request, await sessions.require_moderator(request))


async def author_note(request: Request) -> Response:
    """
    summary: Add a note on an author (desk session, CSRF header)
    tags: [desk]
    parameters:
      - {name: author, in: path, required: true, schema: {type: integer, minimum: 1}}
      - {name: X-CSRF-Token, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/NoteIn'}
    responses:
      201:
        description: The note as stored
        content: {application/json: {schema: {$ref: '#/components/schemas/Note'}}}
      400: {description: "Unreadable body, or not an author id"}
      401: {description: Not signed in to the desk}
      403: {description: Missing or wrong CSRF token}
      404: {description: "No such author, or not this moderator's"}
      413: {description: Request body too large}
      415: {description: Not application/json}
      422: {description: Invalid body}
    """
    return await add_note(request, await _changer(request))


async def feed(request: Request) -> Response:
    """
    summary: Live queue changes for a site (desk session, Server-Sent Events)
    description: The events of `/v1/moderation/events`, for the desk's EventSource.
    tags: [desk]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: Last-Event-ID, in: header, schema: {type: string}}
    responses:
      200:
        description: "Events: counts, held, decided, reported"
        content: {text/event-stream: {schema: {$ref: '#/components/schemas/FeedEvent'}}}
      400: {description: A malformed Last-Event-ID}
      401: {description: Not signed in to the desk}
      404: {description: "No such site, or not this moderator's"}
    """
    moderator = await sessions.require_moderator(request)
    site = await site_of(request, moderator, request.path_params["site"])
    return site_feed(request, moderator, site, sessions.still_signed_in(request, site.id))


routes = [
    Route("/api/sites/{site}/queues/{queue}", queue_items, methods=["GET"]),
    Route("/api/comments/{comment}", comment_item, methods=["GET"]),
    Route("/api/comments/{comment}/feature", feature, methods=["POST"]),
    Route("/api/authors/{author}", author, methods=["GET"]),
    Route("/api/authors/{author}/notes", author_note, methods=["POST"]),
    Route("/api/decisions", desk_decisions, methods=["POST"]),
    Route("/api/sites/{site}/events", feed, methods=["GET"]),
]
