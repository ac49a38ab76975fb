"""Routes for a reader's own comments: their state, an edit, a deletion.

Each needs the site's widget key and the comment's secret (from the POST that stored it),
in the body for the state of many comments at once, else in `X-Comment-Secret`.
"""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import own_comments
from moderation.broker import ScoringWakeups
from moderation.http.access import widget_site
from moderation.http.bodies import read_payload
from moderation.http.params import path_id
from moderation.http.responses import JSONResponse
from moderation.sites import Site

SECRET_HEADER = "X-Comment-Secret"  # noqa: S105 (a header name, not a secret)


async def _own_comment(request: Request) -> tuple[Site, int, str | None]:
    """The site (its key checked), the path's comment, and the secret that claims it."""
    site = await widget_site(request)
    return site, path_id(request, "comment"), request.headers.get(SECRET_HEADER)


async def own_states(request: Request) -> Response:
    """
    summary: The state of a reader's own comments
    description: >
      For each `{id, secret}` whose secret is the one its POST answered with: `awaiting`
      (not decided yet, or hidden until a moderator looks), `published`, `not_published`
      or `deleted`, the current text, until when it can be edited or deleted, and
      whether it replies to a comment readers no longer see (`parent_removed`). Comments
      whose secret does not match are left out, exactly like unknown ones.
    tags: [widget]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: X-Site-Key, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/StatesIn'}
    responses:
      200:
        description: Those of the comments whose secret matched, each with its state
        content: {application/json: {schema: {$ref: '#/components/schemas/OwnStates'}}}
      400: {description: Unreadable body}
      401: {description: Missing or wrong site key}
      404: {description: Unknown site}
      413: {description: Request body too large}
      415: {description: Not application/json}
      422: {description: Invalid body}
    """
    site = await widget_site(request)
    refs = await read_payload(request, own_comments.StatesIn)
    async with request.state.pool.acquire() as conn:
        found = await own_comments.states(conn, site, refs.comments)
    # Private to this reader: no shared cache may keep it.
    body: own_comments.OwnStates = {"comments": found}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def edit_own(request: Request) -> Response:
    """
    summary: Edit one's own comment (moderated again)
    description: >
      Within the site's `own_edit_seconds` of posting, while the comment is awaiting or
      published; it goes back to `pending` and is scored again like a new comment. Each
      edit counts against the site's rate limits as a new comment of its author, from
      the address the comment was posted from, would.
    tags: [widget]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: comment, in: path, required: true, schema: {type: integer, minimum: 1}}
      - {name: X-Site-Key, in: header, required: true, schema: {type: string}}
      - {name: X-Comment-Secret, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/EditIn'}
    responses:
      200:
        description: Edited, and awaiting moderation again
        content: {application/json: {schema: {$ref: '#/components/schemas/Edited'}}}
      400: {description: "Unreadable body, or not a comment id"}
      401: {description: Missing or wrong site key}
      403: {description: Banned author}
      404: {description: "No such comment, or the secret is not its own"}
      409: {description: "Too late to edit, not editable in its state, or being scored right now"}
      413: {description: Request body too large}
      415: {description: Not application/json}
      422: {description: "Empty or too long"}
      429: {description: "Rate limited; see Retry-After"}
    """
    site, comment_id, secret = await _own_comment(request)
    edit = await read_payload(request, own_comments.EditIn)
    async with request.state.pool.acquire() as conn:
        result = await own_comments.edit(conn, site, comment_id, secret, edit.body)
    cast(ScoringWakeups, request.state.scoring).notify(comment_id)
    return JSONResponse(result)


async def delete_own(request: Request) -> Response:
    """
    summary: Delete one's own comment
    description: >
      Within the site's `own_edit_seconds` of posting. Final: replies keep their place
      under a `removed` placeholder.
    tags: [widget]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: comment, in: path, required: true, schema: {type: integer, minimum: 1}}
      - {name: X-Site-Key, in: header, required: true, schema: {type: string}}
      - {name: X-Comment-Secret, in: header, required: true, schema: {type: string}}
    responses:
      200:
        description: Deleted
        content: {application/json: {schema: {$ref: '#/components/schemas/Deleted'}}}
      400: {description: Not a comment id}
      401: {description: Missing or wrong site key}
      403: {description: Banned author}
      404: {description: "No such comment, or the secret is not its own"}
      409: {description: Too late to delete}
    """
    site, comment_id, secret = await _own_comment(request)
    async with request.state.pool.acquire() as conn:
        result = await own_comments.delete(conn, site, comment_id, secret)
    return JSONResponse(result)


routes = [
    Route("/v1/sites/{site}/comments/states", own_states, methods=["POST"]),
    # Digits only: `comments/states` is the route above, whatever the method.
    Route("/v1/sites/{site}/comments/{comment:int}", edit_own, methods=["PUT"]),
    Route("/v1/sites/{site}/comments/{comment:int}", delete_own, methods=["DELETE"]),
]
