"""Timestamps as the API writes them."""

from __future__ import annotations

from datetime import datetime
from typing import overload


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
def iso(value: datetime | None) -> str | None:
    """`value` in ISO 8601 with its offset, or None."""
    return value.isoformat() if value is not None else None
