"""Reading request bodies safely: capped before they are read whole, JSON in UTF-8 only,
and validated into the payload model a route expects.
"""

from __future__ import annotations

from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any

import orjson
from starlette.requests import Request

from moderation.errors import InvalidEncoding, InvalidJSON, PayloadTooLarge, UnsupportedMediaType
from moderation.payloads import Model, parse


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body; 415, 413, 400 as the body deserves."""
    require_json(request)
    return json_of(await read_body(request, max_bytes))


def require_json(request: Request) -> None:
    """415 unless the body is declared as UTF-8 JSON."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0]
    if media_type.strip().lower() != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json, not {media_type.strip() or 'nothing'!r}",
            field="Content-Type",
        )
    charset = _charset(content_type)
    if charset is not None and charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"the body must be UTF-8, not {charset!r}", field="Content-Type")


def _charset(content_type: str) -> str | None:
    """The charset parameter of a Content-Type, lower-cased, as RFC 9110 reads it: quoted
    or not, among other parameters or not."""
    header = Message()
    header["content-type"] = content_type
    charset = header.get_param("charset")
    return None if charset is None else collapse_rfc2231_value(charset).lower()


def json_of(body: bytes) -> Any:
    """`body` parsed as UTF-8 JSON; 400 when it is empty or is not (a body read already,
    as a signature check needs it)."""
    if not body.strip():
        raise InvalidJSON("the body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEncoding(f"the body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"the body is not valid JSON: {exc}") from exc


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request's body; 413 as soon as it is known to be over `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
    return bytes(body)


async def read_payload(request: Request, model: type[Model]) -> Model:
    """The request's JSON body validated into `model`, within the configured size limit."""
    return parse(model, await read_json(request, request.state.settings.max_request_bytes))
