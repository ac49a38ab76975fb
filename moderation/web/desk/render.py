"""Rendering desk pages: the templates, the context every page gets, and redirects."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from moderation.moderators import Moderator
from moderation.web.desk import sessions
from moderation.web.templates import TEMPLATES


def base(request: Request) -> str:
    """Where the desk is mounted, as links in its pages must start."""
    return str(request.scope.get("root_path", ""))


def render(
    request: Request,
    template: str,
    moderator: Moderator | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(
        base=base(request),
        csrf=sessions.csrf_token(request),
        csrf_field=sessions.CSRF_FIELD,
        moderator=moderator,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def redirect(request: Request, path: str) -> RedirectResponse:
    # 303: after a form post the browser follows with a GET.
    return RedirectResponse(base(request) + path, status_code=303)


def is_api(request: Request) -> bool:
    return request.url.path.startswith(base(request) + "/api/")
