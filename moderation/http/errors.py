"""Turning errors into HTTP answers: every error leaves the API as
`{"error": {"code", "message", "field"}}` with the status of its class; anything
unexpected becomes a 500 without a stack trace. The Perspective routes answer in
Google's shape instead (`google_error`), which Perspective clients read.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from moderation.errors import ModerationError
from moderation.http.responses import JSONResponse

log = structlog.get_logger(__name__)


def error_response(
    status_code: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return JSONResponse(body, status_code=status_code, headers=headers)


async def handle_moderation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModerationError)
    return error_response(exc.status_code, exc.code, exc.message, exc.field, exc.headers)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, exc.detail, headers=exc.headers)


async def handle_client_disconnect(request: Request, exc: Exception) -> Response:
    # The client left before its body arrived (a reader closing the tab, a proxy's
    # timeout): nothing was stored and no one reads this answer. Not a server error.
    return error_response(400, "client_disconnected", "the request body did not arrive whole")


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    return error_response(500, "internal_error", "internal server error")


# Google's canonical codes for the statuses this service answers with. Every client
# mistake is INVALID_ARGUMENT, as Google's APIs answer them, whatever our own status.
_GOOGLE_STATUS: Mapping[int, str] = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_AS_GOOGLE_ANSWERS = {401: 403, 409: 400, 413: 400, 415: 400, 422: 400}


def google_error(exc: ModerationError) -> Response:
    """`exc` in Google's error shape: `{"error": {"code", "message", "status"}}`."""
    status = _AS_GOOGLE_ANSWERS.get(exc.status_code, exc.status_code)
    body = {
        "error": {
            "code": status,
            "message": exc.message,
            "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }
    return JSONResponse(body, status_code=status, headers=exc.headers)


EXCEPTION_HANDLERS = {
    ModerationError: handle_moderation_error,
    HTTPException: handle_http_error,
    ClientDisconnect: handle_client_disconnect,
    Exception: handle_unexpected,
}
