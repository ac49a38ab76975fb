"""The moderators' live feed as an HTTP response: the API's and the desk's are one."""

from __future__ import annotations

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from moderation import events
from moderation.errors import BadRequest
from moderation.moderators import Moderator
from moderation.sites import Site

_PING_SECONDS = 15


def site_feed(
    request: Request, moderator: Moderator, site: Site, still_allowed: events.StillAllowed
) -> Response:
    """`moderator`'s SSE response for `site`, resuming after the request's Last-Event-ID,
    until `still_allowed` says no."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    start = None
    if raw:
        start = events.Position.decode(raw)
        if start is None:
            raise BadRequest("Last-Event-ID is not an id this feed gave out", field="Last-Event-ID")
    stream = events.stream(
        request.state.pool, request.state.events, moderator, site.id, start, still_allowed
    )
    return EventSourceResponse(stream, ping=_PING_SECONDS, headers={"X-Accel-Buffering": "no"})
