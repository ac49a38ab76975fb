"""Conditional requests: whether a client's cached copy is still current."""

from __future__ import annotations

from starlette.requests import Request


def still_current(request: Request, tag: str) -> bool:
    """Whether `If-None-Match` names `tag`, compared weakly as RFC 9110 (13.1.2) has it
    (`W/"x"` and `"x"` match), or is `*`: the client's copy is current, answer 304."""
    header = request.headers.get("if-none-match", "")
    seen = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in seen or tag.removeprefix("W/") in seen
