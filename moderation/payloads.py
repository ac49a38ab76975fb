"""Reading request bodies safely, and the text rules every stored string follows.

Bodies are capped before they are read whole; JSON must be UTF-8; text is NFC
normalised and may not carry control characters (tab and newline excepted).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from moderation.errors import (
    InvalidEncoding,
    InvalidJSON,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)


class Payload(BaseModel):
    """Base of every request body: strict types (no "7" for 7), no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


Model = TypeVar("Model", bound=BaseModel)

# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; tab and newline pass.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body; 415, 413, 400 as the body deserves."""
    content_type = request.headers.get("content-type", "")
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json, not {media_type.strip() or 'nothing'!r}",
            field="Content-Type",
        )
    charset = params.strip().lower().removeprefix("charset=")
    if params.strip() and charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"the body must be UTF-8, not {charset!r}", field="Content-Type")
    body = await read_body(request, max_bytes)
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


def clean_text(value: str) -> str:
    """NFC-normalise, unify line ends, refuse control characters, trim; never empty."""
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    control = _CONTROL.search(value)
    if control is not None:
        raise ValueError(f"control character U+{ord(control.group()):04X} is not allowed")
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def clean_line(value: str) -> str:
    """`clean_text` for one-line values such as names: no newlines or tabs either."""
    value = clean_text(value)
    if "\n" in value or "\t" in value:
        raise ValueError("must be a single line")
    return value


Text = Annotated[str, AfterValidator(clean_text)]
Line = Annotated[str, AfterValidator(clean_line)]


def parse(model: type[Model], data: Any) -> Model:
    """Validate `data` into `model`; the first problem becomes a 422 naming its field."""
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        message = error["msg"].removeprefix("Value error, ")
        raise ValidationFailed(f"{field}: {message}" if field else message, field=field) from exc


async def read_payload(request: Request, model: type[Model]) -> Model:
    """The request's JSON body validated into `model`, within the configured size limit."""
    return parse(model, await read_json(request, request.state.settings.max_request_bytes))
