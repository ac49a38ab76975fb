"""The desk's comment page: one comment in its thread, its whole history, and decisions.

It works without script: decisions and featuring are plain forms, applied by the same
`review.apply_decisions` and `review.feature` as the queue's keys and the API.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import review
from moderation.db import review as review_queries
from moderation.errors import NotFound, ValidationFailed
from moderation.http.params import path_id
from moderation.payloads import parse
from moderation.statuses import (
    ACTION_FROM,
    ACTION_TARGET,
    DESK_ACTIONS,
    DONE,
    QUEUE_ACTION_LABELS,
    Action,
    Status,
)
from moderation.web.desk import sessions
from moderation.web.desk.access import SitePage, site_page
from moderation.web.desk.forms import read_form
from moderation.web.desk.render import redirect, render

_ACTIONS: dict[str, Action] = {action: action for action, *_ in DESK_ACTIONS}
# What the page may say was done (from its own redirect; never text from the address).
_DONE = {*DONE.values(), "featured", "no longer featured"}


def reject_reason(choice: str, note: str) -> str | None:
    """A moderator's reason as the audit trail keeps it: the site's reason, their words."""
    parts = [part.strip() for part in (choice, note) if part.strip()]
    return ": ".join(parts) or None


def actions_for(item: dict[str, Any]) -> list[tuple[str, str]]:
    """The decisions that make sense for the comment as it is now, as (action, label)."""
    status = item["status"]
    offered: list[tuple[str, str]] = []
    for action, label, *_ in DESK_ACTIONS:
        if status not in ACTION_FROM[action]:
            continue
        if ACTION_TARGET[action] == status:
            # Approving what is approved only means something while readers reported it.
            if not item["reports"]["count"]:
                continue
            label = QUEUE_ACTION_LABELS["reported"][action]
        offered.append((action, label))
    return offered


async def _comment_of_site(request: Request, page: SitePage) -> dict[str, Any]:
    comment_id = path_id(request, "comment")
    async with request.state.pool.acquire() as conn:
        row = await review_queries.item(conn, comment_id)
        if row is None or row["site_id"] != page.site.id:
            raise NotFound("no such comment", field="comment")
        history = await review_queries.history(conn, comment_id)
        thread = await review_queries.thread(conn, comment_id)
    return {
        **review.describe(row),
        "history": review.describe_history(history),
        "thread": review.describe_thread(thread),
    }


async def _render(
    request: Request, page: SitePage, *, status_code: int = 200, error: str | None = None
) -> Response:
    item = await _comment_of_site(request, page)
    done = request.query_params.get("done")
    return render(
        request,
        "desk/comment.html",
        **page.context(),
        status_code=status_code,
        item=item,
        actions=actions_for(item),
        reject_reasons=page.site.settings.reject_reasons,
        error=error,
        done=done if done in _DONE else None,
    )


async def comment_page(request: Request) -> Response:
    return await _render(request, await site_page(request))


async def decide(request: Request) -> Response:
    page = await site_page(request)
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    item = await _comment_of_site(request, page)
    action = _ACTIONS.get(form.get("action", ""))
    if action is None:
        raise ValidationFailed("choose approve, reject or spam", field="action")
    reason = None
    if action == "reject":
        reason = reject_reason(form.get("reason_choice", ""), form.get("reason_note", ""))
    decision = parse(
        review.BulkItemIn,
        {
            "id": item["id"],
            "action": action,
            "expected_status": form.get("expected_status", ""),
            "expected_version": form.get("expected_version") or None,
            "reason": reason,
        },
        # Lax on purpose: form values are text, and "3" means version 3 here.
        strict=False,
    )
    async with request.state.pool.acquire() as conn:
        [result] = await review.apply_decisions(conn, page.moderator, [decision])
    if result.outcome != "applied":
        return await _render(request, page, status_code=409, error=result.message)
    done = DONE[cast(Status, result.status)]
    path = f"/sites/{page.site.slug}/comments/{item['id']}?done={quote(done)}"
    return redirect(request, path)


async def feature(request: Request) -> Response:
    page = await site_page(request)
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    item = await _comment_of_site(request, page)
    featured = form.get("featured") == "1"
    async with request.state.pool.acquire() as conn:
        await review.feature(conn, page.moderator, item["id"], featured)
    done = "featured" if featured else "no longer featured"
    path = f"/sites/{page.site.slug}/comments/{item['id']}?done={quote(done)}"
    return redirect(request, path)


routes = [
    Route(
        "/sites/{site}/comments/{comment}", comment_page, methods=["GET"], include_in_schema=False
    ),
    Route(
        "/sites/{site}/comments/{comment}/decision",
        decide,
        methods=["POST"],
        include_in_schema=False,
    ),
    Route(
        "/sites/{site}/comments/{comment}/feature",
        feature,
        methods=["POST"],
        include_in_schema=False,
    ),
]
