"""Reading HTML form posts (application/x-www-form-urlencoded) within the size limit.

The desk's forms are all urlencoded, which the standard library parses; the body is
capped exactly as JSON bodies are, so a form post cannot exhaust memory either.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from moderation.errors import BadRequest, InvalidEncoding, UnsupportedMediaType
from moderation.http.bodies import read_body

_MEDIA_TYPE = "application/x-www-form-urlencoded"
# The settings form is the largest: a dozen policy fields and two per label.
_MAX_FIELDS = 200


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields, first value of each; 415, 413 or 400 as the body deserves."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != _MEDIA_TYPE:
        raise UnsupportedMediaType(
            f"send the form as {_MEDIA_TYPE}, not {media_type or 'nothing'!r}",
            field="Content-Type",
        )
    body = await read_body(request, request.state.settings.max_request_bytes)
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            max_num_fields=_MAX_FIELDS,
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeDecodeError as exc:
        raise InvalidEncoding(f"the form is not valid UTF-8 (byte {exc.start})") from exc
    except ValueError as exc:
        raise BadRequest(f"the form has more than {_MAX_FIELDS} fields") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields
