"""The desk's webhooks page (admins): each webhook's recent deliveries and their
attempts, with a replay button. Webhooks themselves are added with the CLI, which
shows the signing secret once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import webhooks
from moderation.db import webhooks as webhook_queries
from moderation.http.params import path_id
from moderation.payloads import MAX_ID
from moderation.web.desk import sessions
from moderation.web.desk.forms import read_form
from moderation.web.desk.render import redirect, render
from moderation.web.desk.site_settings import admin_page

_RECENT = 20


async def webhooks_page(request: Request) -> Response:
    page = await admin_page(request)
    async with request.state.pool.acquire() as conn:
        hooks = [
            {
                **webhooks.describe(row),
                "log": await webhooks.delivery_log(conn, row["id"], MAX_ID, _RECENT),
            }
            for row in await webhook_queries.list_for_site(conn, page.site.id)
        ]
    # From the replay's own redirect: a number, never text from the address.
    replayed = request.query_params.get("replayed", "")
    return render(
        request,
        "desk/webhooks.html",
        **page.context(),
        hooks=hooks,
        replayed=replayed if replayed.isdigit() else None,
    )


async def replay(request: Request) -> Response:
    page = await admin_page(request)
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    delivery_id = path_id(request, "delivery")
    async with request.state.pool.acquire() as conn:
        new_id = await webhooks.replay(conn, delivery_id, page.moderator)
    return redirect(request, f"/sites/{page.site.slug}/webhooks?replayed={new_id}")


routes = [
    Route("/sites/{site}/webhooks", webhooks_page, methods=["GET"], include_in_schema=False),
    Route(
        "/sites/{site}/webhooks/deliveries/{delivery}/replay",
        replay,
        methods=["POST"],
        include_in_schema=False,
    ),
]
