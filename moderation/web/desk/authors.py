"""The desk's author page: their record and history, and ban / premod / trust / normal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import authors
from moderation.db import authors as author_queries
from moderation.errors import NotFound, ValidationFailed
from moderation.http.params import path_id
from moderation.payloads import parse
from moderation.statuses import AUTHOR_STATUSES
from moderation.web.desk import sessions
from moderation.web.desk.access import SitePage, site_page
from moderation.web.desk.forms import read_form
from moderation.web.desk.render import redirect, render

# A suspension lasts one of these; a status without one stays until changed.
DURATIONS = {"": "until changed", "1": "1 day", "7": "7 days", "30": "30 days"}


async def _author_of_site(request: Request, page: SitePage) -> int:
    """The path's author id, if the author writes on the page's site (else 404)."""
    author_id = path_id(request, "author")
    async with request.state.pool.acquire() as conn:
        author = await author_queries.get(conn, author_id)
    if author is None or author["site_id"] != page.site.id:
        raise NotFound("no such author", field="author")
    return author_id


async def _render(
    request: Request,
    page: SitePage,
    author_id: int,
    *,
    status_code: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    async with request.state.pool.acquire() as conn:
        author = await authors.load(conn, page.moderator, author_id)
    return render(
        request,
        "desk/author.html",
        **page.context(),
        status_code=status_code,
        author=author,
        statuses=AUTHOR_STATUSES,
        durations=DURATIONS,
        error=error,
        form=form or {"status": author["status"]},
        changed=request.query_params.get("changed") == "1",
    )


async def author_page(request: Request) -> Response:
    page = await site_page(request)
    return await _render(request, page, await _author_of_site(request, page))


async def author_status(request: Request) -> Response:
    page = await site_page(request)
    author_id = await _author_of_site(request, page)
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    try:
        change = parse(authors.AuthorStatusIn, _status_change(form))
        async with request.state.pool.acquire() as conn:
            await authors.set_status(conn, page.moderator, author_id, change)
    except ValidationFailed as exc:
        return await _render(
            request, page, author_id, status_code=422, error=exc.message, form=form
        )
    return redirect(request, f"/sites/{page.site.slug}/authors/{author_id}?changed=1")


async def author_note(request: Request) -> Response:
    page = await site_page(request)
    author_id = await _author_of_site(request, page)
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    try:
        note = parse(authors.NoteIn, {"body": form.get("note", "")})
        async with request.state.pool.acquire() as conn:
            await authors.add_note(conn, page.moderator, author_id, note)
    except ValidationFailed as exc:
        return await _render(request, page, author_id, status_code=422, error=exc.message)
    return redirect(request, f"/sites/{page.site.slug}/authors/{author_id}#notes")


def _status_change(form: dict[str, str]) -> dict[str, Any]:
    duration = form.get("duration", "")
    if duration not in DURATIONS:
        raise ValidationFailed(f"duration must be one of {', '.join(DURATIONS)}", field="duration")
    until = datetime.now(UTC) + timedelta(days=int(duration)) if duration else None
    return {
        "status": form.get("status", ""),
        "until": until,
        "reason": form.get("reason", "").strip() or None,
        "reject_open": form.get("reject_open") == "on",
    }


routes = [
    Route("/sites/{site}/authors/{author}", author_page, methods=["GET"], include_in_schema=False),
    Route(
        "/sites/{site}/authors/{author}/notes",
        author_note,
        methods=["POST"],
        include_in_schema=False,
    ),
    Route(
        "/sites/{site}/authors/{author}/status",
        author_status,
        methods=["POST"],
        include_in_schema=False,
    ),
]
