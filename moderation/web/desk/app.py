"""The moderator desk: a server-rendered app of its own, mounted at `/desk`.

Pages are Jinja2 templates (autoescaped); `static/desk.js` adds keyboard decisions and
live updates from the JSON routes in `api`. The desk is a separate Starlette app
so that its session cookie, security headers and HTML error pages apply to it alone:
the public API stays cookie-free and keeps its JSON errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.config import Settings
from moderation.errors import ModerationError, Unauthorized
from moderation.http.errors import (
    EXCEPTION_HANDLERS,
    error_response,
    handle_http_error,
    handle_moderation_error,
)
from moderation.web.desk import (
    api,
    articles,
    authors,
    comments,
    pages,
    sessions,
    site_settings,
    webhooks,
)
from moderation.web.desk.render import is_api, redirect, render
from moderation.web.security import page_headers
from moderation.web.templates import TEMPLATES

log = structlog.get_logger(__name__)

PATH = "/desk"
_STATIC = Path(__file__).parent.parent / "static"
_HEADERS = page_headers()


def create_desk(settings: Settings) -> Starlette:
    """The desk app; without a session secret it answers 503 and says which setting is missing."""
    middleware = [Middleware(SecurityHeaders)]
    if settings.session_secret is None:
        log.warning("desk_disabled", reason="MODERATION_SESSION_SECRET is not set")
        middleware.append(Middleware(DeskOff))
    else:
        middleware.append(sessions.middleware(settings, PATH))
    return Starlette(
        routes=[
            *pages.routes,
            *authors.routes,
            *articles.routes,
            *comments.routes,
            *site_settings.routes,
            *webhooks.routes,
            *api.routes,
            Route(
                "/static/desk.js", _static("desk.js", "text/javascript"), include_in_schema=False
            ),
            Route("/static/desk.css", _static("desk.css", "text/css"), include_in_schema=False),
        ],
        middleware=middleware,
        exception_handlers={
            **EXCEPTION_HANDLERS,
            ModerationError: _error_page,
            HTTPException: _error_page,
        },
    )


async def _error_page(request: Request, exc: Exception) -> Response:
    """JSON errors for the desk's API, pages for people (and the sign-in page for a 401)."""
    if isinstance(exc, ModerationError):
        if is_api(request):
            return await handle_moderation_error(request, exc)
        status, message, headers = exc.status_code, exc.message, dict(exc.headers)
    else:
        assert isinstance(exc, HTTPException)
        if is_api(request):
            return await handle_http_error(request, exc)
        status, message, headers = exc.status_code, exc.detail, dict(exc.headers or {})
    if isinstance(exc, Unauthorized):
        return redirect(request, "/signin")
    page = render(request, "desk/error.html", status_code=status, status=status, message=message)
    # Retry-After of a 503, Allow of a 405: the page says it, the headers too.
    page.headers.update(headers)
    return page


def _static(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        # Revalidated on each load (ETag), so a new release is picked up at once.
        return FileResponse(
            _STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache"}
        )

    return serve


class SecurityHeaders:
    """CSP without inline scripts, no framing, no sniffing; nothing of the desk is cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers[name] = value
                # Queues and authors are private: not for shared caches or the back button.
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class DeskOff:
    """The whole desk while no session secret is configured: a 503 that names the setting."""

    MESSAGE = (
        "The moderator desk is off: set MODERATION_SESSION_SECRET (at least 32 random "
        "characters, the same for every API process) and restart the API."
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response: Response
        if is_api(request):
            response = error_response(503, "desk_not_configured", self.MESSAGE)
        else:
            html = TEMPLATES.get_template("desk/off.html").render(message=self.MESSAGE)
            response = HTMLResponse(html, status_code=503)
        await response(scope, receive, send)
