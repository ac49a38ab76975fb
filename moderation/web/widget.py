"""Serving the reader widget script: one file a news site embeds with a script tag."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

import rjsmin
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation.http.conditional import still_current

WIDGET = Path(__file__).parent / "static" / "widget.js"


async def widget_js(request: Request) -> Response:
    """
    summary: The reader widget script
    description: >
      Embed with `<script src="https://HOST/widget.js" data-site="S" data-article="A"
      data-key="K" async></script>`; it renders the article's approved thread in place.
    tags: [widget]
    responses:
      200:
        description: JavaScript
        content: {text/javascript: {schema: {type: string}}}
      304: {description: Not modified}
    """
    plain, packed, tag = _widget()
    compressed = accepts_gzip(request.headers.get("accept-encoding", ""))
    headers = {
        # Each encoding is its own representation, with a tag of its own.
        "ETag": f'"{tag}-gzip"' if compressed else f'"{tag}"',
        "Vary": "Accept-Encoding",
        # Short: a fixed widget reaches every page within minutes; ETags make it cheap.
        "Cache-Control": "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
        # Any news page may load the script; what it may then do is CORS's business.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if compressed:
        headers["Content-Encoding"] = "gzip"
    if still_current(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    body = packed if compressed else plain
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header takes gzip: named, or `*`, with a q above 0
    (`gzip;q=0` refuses it, which a substring test would miss)."""
    weights: dict[str, float] = {}
    for part in header.split(","):
        coding, *parameters = (item.strip() for item in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.lower()] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0


@lru_cache(maxsize=1)
def _widget() -> tuple[bytes, bytes, str]:
    """The script minified, the same gzipped, and their tag. Once per process: every
    article page loads it, and its comments are for whoever reads the source."""
    body = rjsmin.jsmin(WIDGET.read_text(encoding="utf-8")).encode()
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    return body, packed, hashlib.sha256(body).hexdigest()[:16]


routes = [Route("/widget.js", widget_js, methods=["GET"])]
