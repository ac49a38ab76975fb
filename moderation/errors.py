"""One exception tree for everything a client can get wrong, and its JSON shape.

Every error leaves the API as `{"error": {"code", "message", "field"}}` with the
status of its class; anything unexpected becomes a 500 without a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from moderation.responses import JSONResponse

log = structlog.get_logger(__name__)


class ModerationError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}
        if code is not None:
            self.code = code


class BadRequest(ModerationError):
    """The request cannot be parsed: malformed JSON, bad encoding, a broken cursor."""

    status_code = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    """The body is not valid JSON."""

    code = "invalid_json"


class InvalidEncoding(BadRequest):
    """The body is not valid UTF-8."""

    code = "invalid_encoding"


class Unauthorized(ModerationError):
    """A key or token is missing, wrong or revoked."""

    status_code = 401
    code = "unauthorized"


class Forbidden(ModerationError):
    """The caller is known but may not do this (a banned author, a moderator's role)."""

    status_code = 403
    code = "forbidden"


class NotFound(ModerationError):
    """The site, article, comment or route does not exist (or is not the caller's to see)."""

    status_code = 404
    code = "not_found"


class Conflict(ModerationError):
    """The resource is not in a state that allows this (a closed article, a stale decision)."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(ModerationError):
    """The request body is over the service's size limit."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ModerationError):
    """The body is not `application/json`."""

    status_code = 415
    code = "unsupported_media_type"


class ValidationFailed(ModerationError):
    """The JSON parsed but a field is missing, empty, too long or of the wrong kind."""

    status_code = 422
    code = "validation_failed"


class RateLimited(ModerationError):
    """Too many comments from one author or address; `Retry-After` says when to retry."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        headers = {"Retry-After": str(retry_after)}
        super().__init__(message, field=field, headers=headers)
        self.retry_after = retry_after


class Unavailable(ModerationError):
    """A dependency (database, broker, model) is not reachable right now."""

    status_code = 503
    code = "unavailable"


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


EXCEPTION_HANDLERS = {
    ModerationError: handle_moderation_error,
    HTTPException: handle_http_error,
    ClientDisconnect: handle_client_disconnect,
    Exception: handle_unexpected,
}
