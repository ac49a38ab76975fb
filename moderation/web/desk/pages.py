"""Desk pages: signing in and out, the site list, and a site's queues."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import review
from moderation.db import review as review_queries
from moderation.db import sites as site_queries
from moderation.http.queues import queue_filters, queue_sort
from moderation.statuses import (
    QUEUE_TITLES,
    desk_vocabulary,
    queue_actions,
    require_queue,
)
from moderation.web.desk import sessions
from moderation.web.desk.access import site_page
from moderation.web.desk.forms import read_form
from moderation.web.desk.render import redirect, render


async def signin_page(request: Request) -> Response:
    if await sessions.signed_in(request) is not None:
        return redirect(request, "/")
    return render(request, "desk/signin.html")


async def signin(request: Request) -> Response:
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    token = form.get("token", "")
    moderator = await sessions.sign_in(request, token) if token.strip() else None
    if moderator is None:
        error = "That token is not valid: it is unknown or has been revoked."
        return render(request, "desk/signin.html", status_code=401, error=error)
    return redirect(request, "/")


async def signout(request: Request) -> Response:
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    await sessions.sign_out(request)
    return redirect(request, "/signin")


async def home(request: Request) -> Response:
    """The first of the moderator's sites, or a page saying they have none."""
    moderator = await sessions.require_moderator(request)
    async with request.state.pool.acquire() as conn:
        sites = await site_queries.names(conn, sorted(moderator.site_ids))
    if sites:
        return redirect(request, f"/sites/{sites[0]['slug']}/queues/review")
    return render(request, "desk/no_sites.html", moderator=moderator, sites=sites)


async def site_home(request: Request) -> Response:
    page = await site_page(request)
    return redirect(request, f"/sites/{page.site.slug}/queues/review")


async def queue_page(request: Request) -> Response:
    """A queue's tab: the cards themselves are fetched and kept live by desk.js.

    The filters live in the address (a GET form), so a filtered queue can be reloaded,
    bookmarked and shared; desk.js passes them on to the JSON route as they are.
    """
    page = await site_page(request)
    queue = require_queue(request.path_params["queue"])
    filters = queue_filters(request)
    sort = queue_sort(request, queue)
    async with request.state.pool.acquire() as conn:
        counts = await review_queries.counts(conn, page.site.id)
    thresholds = {
        label: threshold.model_dump() for label, threshold in page.site.settings.thresholds.items()
    }
    return render(
        request,
        "desk/queue.html",
        **page.context(),
        queue=queue,
        queues=QUEUE_TITLES,
        counts=counts,
        thresholds=thresholds,
        actions=queue_actions(queue),
        vocabulary=desk_vocabulary(queue),
        filters=filters,
        filtered=bool(filters),
        sort=sort,
        sorts=review.SORTS,
        reject_reasons=page.site.settings.reject_reasons,
    )


routes = [
    Route("/", home, methods=["GET"], include_in_schema=False),
    Route("/signin", signin_page, methods=["GET"], include_in_schema=False),
    Route("/signin", signin, methods=["POST"], include_in_schema=False),
    Route("/signout", signout, methods=["POST"], include_in_schema=False),
    Route("/sites/{site}/", site_home, methods=["GET"], include_in_schema=False),
    Route("/sites/{site}/queues/{queue}", queue_page, methods=["GET"], include_in_schema=False),
]
