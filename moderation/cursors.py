"""Opaque pagination cursors: what a page ended on, as URL-safe text.

A cursor is only a position, never a permission: every page re-applies the caller's
access checks, so a forged cursor can at worst point at a different position. Its values
are checked here before any query sees them: a forged one is a 400, never a value
PostgreSQL refuses.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import orjson

from moderation.errors import BadRequest
from moderation.payloads import MAX_ID


def encode(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode(text: str) -> dict[str, Any]:
    """The position in `text`; 400 naming `cursor` for anything this API did not give out."""
    try:
        position = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise forged() from exc
    if not isinstance(position, dict):
        raise forged()
    return position


def whole(value: Any) -> int:
    """`value` if it is an id or count a cursor can hold (a bigint, not negative)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID:
        return value
    raise forged()


def number(value: Any) -> float:
    """`value` if it is a finite number (a score)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise forged()


def forged() -> BadRequest:
    return BadRequest("the cursor is not one this API gave out", field="cursor")
