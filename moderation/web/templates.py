"""The one Jinja environment for every page the service renders (the desk, the demo)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape

# Autoescaped: comment text, names and reasons are readers' words, never markup.
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def path_segment(value: object) -> str:
    """`value` as one segment of a path, its slashes included: an article id such as
    "a/../b" must not be read as dot segments, which browsers resolve."""
    return quote(str(value), safe="")


TEMPLATES.filters["segment"] = path_segment
