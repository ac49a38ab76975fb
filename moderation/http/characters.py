"""Refusing URLs that carry control characters, before any route or middleware reads them.

No slug, article id, cursor, token or filter of this API contains a control character,
and PostgreSQL's text cannot hold NUL; one percent-encoded into the path or the query
(`%00`, `%0A`) is a client's mistake wherever it is, answered here once, as a 400 that
names the parameter, instead of reaching a query that would fail on it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from moderation.http.errors import error_response
from moderation.payloads import control_character


class ControlCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = _refusal(scope)
            if refusal is not None:
                field, character = refusal
                message = f"control character {character} in {field} is not allowed"
                response = error_response(400, "invalid_character", message, field)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _refusal(scope: Scope) -> tuple[str, str] | None:
    character = control_character(scope["path"])
    if character is not None:
        return "path", character
    query: bytes = scope["query_string"]
    if query:
        # Decoded as Starlette decodes it for the routes.
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            character = control_character(name) or control_character(value)
            if character is not None:
                return name, character
    return None
