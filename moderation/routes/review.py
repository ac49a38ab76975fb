"""Review routes: queue counts and pages, one comment in full, decisions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typing_extensions import TypedDict

from moderation import review
from moderation.db import review as review_queries
from moderation.errors import NotFound, ValidationFailed
from moderation.http.access import authenticate, moderator_and_site
from moderation.http.bodies import read_payload
from moderation.http.decisions import apply_bulk, apply_feature
from moderation.http.errors import Error
from moderation.http.params import path_id, query_int
from moderation.http.queues import requested_page
from moderation.http.responses import JSONResponse


class CommentDetail(review.QueueItem):
    history: list[review.HistoryEvent]


class CommentStatus(TypedDict):
    id: int
    status: str | None


class StaleDecision(Error):
    """A decision on a comment that moved on: the error, and where the comment is now."""

    current: CommentStatus


async def queue_counts(request: Request) -> Response:
    """
    summary: How many comments wait in each queue of a site
    tags: [moderation]
    parameters:
      - {name: site, in: query, required: true, schema: {type: string}}
    responses:
      200:
        description: The number of comments in each queue
        content: {application/json: {schema: {$ref: '#/components/schemas/QueueCounts'}}}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such site, or not this moderator's"}
    """
    _, site = await moderator_and_site(request)
    async with request.state.pool.acquire() as conn:
        counts = await review_queries.counts(conn, site.id)
    body: review.QueueCounts = {"site": site.slug, "counts": counts}
    return JSONResponse(body)


async def queue_page(request: Request) -> Response:
    """
    summary: One page of a moderation queue
    description: >
      Items with text, scores, reasons, language, article (id, title, url), author and
      their history, the parent comment and open report reasons. `priority` is riskiest
      first (most reports, then highest score); `sample` is a random draw (no cursor), the
      default of `auto` (approvals no person has looked at, to spot-check scoring). `q`
      finds words in the text (`"a phrase"`, `-without`, `or`). Pass `next_cursor` back
      as `cursor` for the next page.
    tags: [moderation]
    parameters:
      - {name: queue, in: path, required: true,
         schema: {type: string, enum: [review, reported, auto, pending, spam, rejected, approved]}}
      - {name: site, in: query, required: true, schema: {type: string}}
      - {name: article, in: query, schema: {type: string, maxLength: 200}}
      - {name: author, in: query, schema: {type: integer, minimum: 1}}
      - {name: reason, in: query, schema: {type: string, maxLength: 200}}
      - {name: language, in: query, schema: {type: string, maxLength: 200}}
      - {name: q, in: query, schema: {type: string, maxLength: 200}}
      - {name: sort, in: query, schema: {type: string, enum: [priority, oldest, newest, sample]}}
      - {name: cursor, in: query, schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
    responses:
      200:
        description: A page of items, and the cursor of the next (null after the last)
        content: {application/json: {schema: {$ref: '#/components/schemas/QueuePage'}}}
      400: {description: A bad parameter}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such queue or site, or not this moderator's"}
    """
    _, site = await moderator_and_site(request)
    limit = query_int(request, "limit", default=25, low=1, high=100)
    return JSONResponse(await requested_page(request, site.id, limit))


async def comment_detail(request: Request) -> Response:
    """
    summary: One comment in full, with its whole decision history
    tags: [moderation]
    parameters:
      - {name: comment, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      200:
        description: The item as queues show it, plus `history`
        content: {application/json: {schema: {$ref: '#/components/schemas/CommentDetail'}}}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such comment, or not this moderator's"}
    """
    moderator = await authenticate(request)
    comment_id = path_id(request, "comment")
    async with request.state.pool.acquire() as conn:
        item = await review.item(conn, moderator, comment_id)
        history = await review_queries.history(conn, comment_id)
    detail: CommentDetail = {**item, "history": review.describe_history(history)}
    return JSONResponse(detail)


async def decide_one(request: Request) -> Response:
    """
    summary: Decide one comment
    description: >
      `expected_status` is the status the moderator saw; if the comment has moved on
      (someone else decided it), the answer is 409 with its current status.
      `expected_version` (optional) is the item's `version` the moderator read; if the
      comment has changed since (its author edited it), the answer is 409 too, with
      `field` naming `expected_version`. Without it only the status is checked. Approve
      and restore publish to the reader thread at once; reject and spam remove it.
    tags: [moderation]
    parameters:
      - {name: comment, in: path, required: true, schema: {type: integer, minimum: 1}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/DecisionIn'}
    responses:
      200:
        description: "Applied: `{id, outcome: applied, status}`"
        content: {application/json: {schema: {$ref: '#/components/schemas/DecisionOut'}}}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such comment, or not this moderator's"}
      409:
        description: "Stale view (status or version): `error` plus the comment's `current` status"
        content: {application/json: {schema: {$ref: '#/components/schemas/StaleDecision'}}}
      422: {description: "Invalid body, or an action the expected status does not allow"}
    """
    moderator = await authenticate(request)
    comment_id = path_id(request, "comment")
    decision = await read_payload(request, review.DecisionIn)
    item = review.BulkItemIn(id=comment_id, **decision.model_dump())
    async with request.state.pool.acquire() as conn:
        [result] = await review.apply_decisions(conn, moderator, [item])
    if result.outcome == "not_found":
        raise NotFound("no such comment", field="comment")
    if result.outcome == "invalid":
        raise ValidationFailed(result.message, field="action", code="action_not_allowed")
    if result.outcome == "conflict":
        stale: StaleDecision = {
            "error": {
                "code": "stale_decision",
                "message": result.message,
                "field": result.field,
            },
            "current": {"id": comment_id, "status": result.status},
        }
        return JSONResponse(stale, status_code=409)
    return JSONResponse(result.as_dict())


async def feature_one(request: Request) -> Response:
    """
    summary: Feature an approved comment for readers (or stop featuring it)
    description: Featured comments show in the widget's Featured tab; each change is audited.
    tags: [moderation]
    parameters:
      - {name: comment, in: path, required: true, schema: {type: integer, minimum: 1}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/FeatureIn'}
    responses:
      200:
        description: Featured, or not any more
        content: {application/json: {schema: {$ref: '#/components/schemas/Featured'}}}
      400: {description: "Unreadable body, or not a comment id"}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such comment, or not this moderator's"}
      409: {description: The comment is not approved}
      413: {description: Request body too large}
      415: {description: Not application/json}
      422: {description: Invalid body}
    """
    return await apply_feature(request, await authenticate(request))


async def decide_many(request: Request) -> Response:
    """
    summary: Decide many comments at once
    description: Each decision is checked and applied on its own; the answer reports each outcome.
    tags: [moderation]
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/BulkIn'}
    responses:
      200:
        description: "Each decision's outcome: applied, conflict, invalid or not_found"
        content: {application/json: {schema: {$ref: '#/components/schemas/DecisionsOut'}}}
      401: {description: Missing, wrong or revoked token}
      422: {description: Invalid body}
    """
    return await apply_bulk(request, await authenticate(request))


routes = [
    Route("/v1/moderation/queues", queue_counts, methods=["GET"]),
    Route("/v1/moderation/queues/{queue}", queue_page, methods=["GET"]),
    Route("/v1/moderation/comments/{comment}", comment_detail, methods=["GET"]),
    Route("/v1/moderation/comments/{comment}/decision", decide_one, methods=["POST"]),
    Route("/v1/moderation/comments/{comment}/feature", feature_one, methods=["POST"]),
    Route("/v1/moderation/decisions", decide_many, methods=["POST"]),
]
