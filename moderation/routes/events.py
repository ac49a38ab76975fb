"""The moderators' live feed: Server-Sent Events of queue changes on a site."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import moderators
from moderation.http.access import moderator_and_site
from moderation.http.feeds import site_feed


async def feed(request: Request) -> Response:
    """
    summary: Live queue changes for a site (Server-Sent Events)
    description: >
      Events: `counts` (queue counts; first, and after changes), `held` (a comment
      entered the review queue), `decided` (a comment changed status: by the system or a
      moderator, named in `moderator`), `reported` (a reader report). Each event's id is a
      position; reconnect with `Last-Event-ID` (or `?last_event_id=`) to resume after it.
    tags: [moderation]
    parameters:
      - {name: site, in: query, required: true, schema: {type: string}}
      - {name: last_event_id, in: query, schema: {type: string}}
      - {name: Last-Event-ID, in: header, schema: {type: string}}
    responses:
      200:
        description: "Events: counts, held, decided, reported"
        content: {text/event-stream: {schema: {$ref: '#/components/schemas/FeedEvent'}}}
      400: {description: A malformed Last-Event-ID}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such site, or not this moderator's"}
    """
    moderator, site = await moderator_and_site(request)
    still_allowed = partial(moderators.still_watching, moderator=moderator, site_id=site.id)
    return site_feed(request, moderator, site, still_allowed)


routes = [Route("/v1/moderation/events", feed, methods=["GET"])]
