"""Timestamps as the API writes them."""

from __future__ import annotations

from datetime import datetime


def iso(value: datetime | None) -> str | None:
    """`value` in ISO 8601 with its offset, or None."""
    return value.isoformat() if value is not None else None
