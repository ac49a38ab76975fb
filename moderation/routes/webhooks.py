"""Webhooks for site admins: the site's webhooks, each one's delivery log, replays."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import webhooks
from moderation.db import webhooks as webhook_queries
from moderation.http.access import authenticate, moderator_and_site
from moderation.http.params import path_id, query_int
from moderation.http.responses import JSONResponse
from moderation.payloads import MAX_ID


async def list_webhooks(request: Request) -> Response:
    """
    summary: A site's webhooks and how their deliveries stand (admins)
    tags: [moderation]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
    responses:
      200:
        description: The site's webhooks, each with its count of deliveries by state
        content: {application/json: {schema: {$ref: '#/components/schemas/Webhooks'}}}
      401: {description: Missing, wrong or revoked token}
      403: {description: Not an admin}
      404: {description: "No such site, or not this moderator's"}
    """
    moderator, site = await moderator_and_site(request, request.path_params["site"])
    moderator.require_admin()
    async with request.state.pool.acquire() as conn:
        rows = await webhook_queries.list_for_site(conn, site.id)
    body: webhooks.Webhooks = {"webhooks": [webhooks.describe(row) for row in rows]}
    return JSONResponse(body)


async def delivery_log(request: Request) -> Response:
    """
    summary: A webhook's deliveries, newest first, with every attempt (admins)
    description: >
      Each delivery names its event (id and type), its state (pending, delivered,
      failed, cancelled) and its attempts: when, how long, the receiver's status code
      (null when none answered) and the start of its answer or the error.
      Page with `before=<the last delivery id seen>`.
    tags: [moderation]
    parameters:
      - {name: webhook, in: path, required: true, schema: {type: integer, minimum: 1}}
      - {name: before, in: query, schema: {type: integer, minimum: 1}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200}}
    responses:
      200:
        description: The webhook and a page of its deliveries
        content: {application/json: {schema: {$ref: '#/components/schemas/WebhookLog'}}}
      401: {description: Missing, wrong or revoked token}
      403: {description: Not an admin}
      404: {description: "No such webhook, or not this moderator's"}
    """
    moderator = await authenticate(request)
    webhook_id = path_id(request, "webhook")
    before = query_int(request, "before", default=MAX_ID, low=1, high=MAX_ID)
    limit = query_int(request, "limit", default=50, low=1, high=200)
    async with request.state.pool.acquire() as conn:
        record = await webhooks.reach(conn, webhook_id, moderator)
        log = await webhooks.delivery_log(conn, webhook_id, before, limit)
    body: webhooks.WebhookLog = {"webhook": webhooks.describe(record), "deliveries": log}
    return JSONResponse(body)


async def replay_delivery(request: Request) -> Response:
    """
    summary: Send a delivery's event again (admins)
    description: A new delivery of the same event (same event id), due at once.
    tags: [moderation]
    parameters:
      - {name: delivery, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      202:
        description: The new delivery's id
        content: {application/json: {schema: {$ref: '#/components/schemas/Replayed'}}}
      401: {description: Missing, wrong or revoked token}
      403: {description: Not an admin}
      404: {description: "No such delivery, or not this moderator's"}
    """
    moderator = await authenticate(request)
    delivery_id = path_id(request, "delivery")
    async with request.state.pool.acquire() as conn:
        new_id = await webhooks.replay(conn, delivery_id, moderator)
    body: webhooks.Replayed = {"delivery": new_id}
    return JSONResponse(body, status_code=202)


routes = [
    Route("/v1/moderation/sites/{site}/webhooks", list_webhooks, methods=["GET"]),
    Route("/v1/moderation/webhooks/{webhook}/deliveries", delivery_log, methods=["GET"]),
    Route(
        "/v1/moderation/webhooks/deliveries/{delivery}/replay", replay_delivery, methods=["POST"]
    ),
]
