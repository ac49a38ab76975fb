"""Opaque pagination cursors: what a page ended on, as URL-safe text.

A cursor is only a position, never a permission: every page re-applies the caller's
access checks, so a forged cursor can at worst point at a different position.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from moderation.errors import BadRequest


def encode(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode(text: str) -> dict[str, Any]:
    """The position in `text`; 400 naming `cursor` for anything this API did not give out."""
    try:
        position = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("the cursor is not one this API gave out", field="cursor") from exc
    if not isinstance(position, dict):
        raise BadRequest("the cursor is not one this API gave out", field="cursor")
    return position
