"""CORS per site: only the origins a site lists may use its widget routes from a browser.

Starlette's CORSMiddleware takes one fixed origin list; here each site has its own,
so this middleware resolves the site from the path (through the site cache the routes
use too) and answers preflights itself. A state-changing request that names a foreign
origin is refused outright, not just left unreadable. While the sites cannot be read (the
database is down), the widget is told so in an answer it can read; nothing else passes.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.errors import ModerationError, Unavailable
from moderation.http.errors import error_response
from moderation.sites import Site, SiteCache

_SITE_PATH = re.compile(r"^/v1/sites/([^/]+)/")
_ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
_ALLOW_HEADERS = "Content-Type, X-Site-Key, Idempotency-Key, If-None-Match, X-Comment-Secret"
_EXPOSE_HEADERS = "ETag, Retry-After"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_VARY = {"Vary": "Origin"}


def refuses_foreign_origin(path: str, method: str) -> bool:
    """Whether a request to `path` is refused (403 origin_not_allowed) when it names an
    Origin the site does not allow; the OpenAPI description declares it from this."""
    return _SITE_PATH.match(path) is not None and method.upper() not in _SAFE_METHODS


class SiteCORSMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _SITE_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = False
        if origin is not None:
            sites: SiteCache = scope["state"]["sites"]
            method = scope["method"]
            preflight = method == "OPTIONS" and "access-control-request-method" in headers
            try:
                site: Site | None = await sites.get(match.group(1))
            except Unavailable as exc:
                _name_route(scope)
                await _unavailable(exc, origin, preflight)(scope, receive, send)
                return
            except ModerationError:
                site = None  # the route itself answers (404 for an unknown site...)
            allowed = site is not None and site.allows_origin(origin)
            if preflight:
                _name_route(scope)
                await self._preflight(allowed, origin, scope, receive, send)
                return
            if not allowed and site is not None and refuses_foreign_origin(scope["path"], method):
                _name_route(scope)
                message = f"{origin} may not post to this site"
                response = error_response(403, "origin_not_allowed", message, "Origin", _VARY)
                await response(scope, receive, send)
                return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                # Every answer on these paths, with an Origin or without, allowed or not:
                # a shared cache (thread pages are public for 5 s) must not hand a copy
                # made for one Origin, or for none, to another.
                response_headers.add_vary_header("Origin")
                if allowed:
                    assert origin is not None
                    response_headers["Access-Control-Allow-Origin"] = origin
                    response_headers["Access-Control-Expose-Headers"] = _EXPOSE_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self, allowed: bool, origin: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response: Response
        if allowed:
            response = Response(status_code=204, headers=_preflight_headers(origin, "600"))
        else:
            message = f"{origin} is not allowed for this site"
            response = error_response(403, "origin_not_allowed", message, "Origin", _VARY)
        await response(scope, receive, send)


def _preflight_headers(origin: str, max_age: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": _ALLOW_METHODS,
        "Access-Control-Allow-Headers": _ALLOW_HEADERS,
        "Access-Control-Max-Age": max_age,
        **_VARY,
    }


def _unavailable(exc: Unavailable, origin: str, preflight: bool) -> Response:
    """The answer to any request from `origin` while its site cannot be read: the origin
    is unchecked, so the request goes no further than this 503, which the page may read.

    A browser reads no failed preflight (any status but 2xx is a network error to the
    page): the preflight passes, uncached, so that the request itself meets the 503."""
    if preflight:
        return Response(status_code=204, headers=_preflight_headers(origin, "0"))
    headers = {
        **exc.headers,
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": _EXPOSE_HEADERS,
        **_VARY,
    }
    return error_response(exc.status_code, exc.code, exc.message, exc.field, headers)


def _name_route(scope: Scope) -> None:
    """Record the route the router would pick for this request (a full match, else the
    first partial one: a preflight's OPTIONS is no route's method), as the router does.
    Answered here, before routing, the request is then counted under its route's
    template in the metrics rather than as "unmatched"."""
    partial: BaseRoute | None = None
    for route in scope["app"].router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            scope["route"] = route
            return
        if match is Match.PARTIAL and partial is None:
            partial = route
    if partial is not None:
        scope["route"] = partial
