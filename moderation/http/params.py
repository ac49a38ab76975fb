"""Reading path and query parameters into typed values, with a 400 naming the bad one."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request

from moderation.errors import BadRequest
from moderation.payloads import MAX_ID

# A site's own article ids (slugs, paths, CMS ids); the unique index on them needs a bound.
MAX_ARTICLE_ID = 200


def _whole(raw: str | None) -> int | None:
    # isdigit() alone accepts digits like "²" that int() refuses; 19 digits fit a bigint.
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        return None
    return int(raw)


def query_int(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = _whole(raw)
    if value is None or not low <= value <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}", field=name)
    return value


def query_choice(request: Request, name: str, choices: Sequence[str], default: str) -> str:
    value = request.query_params.get(name, default)
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}", field=name)
    return value


def path_id(request: Request, name: str) -> int:
    value = _whole(str(request.path_params[name]))
    if value is None or not 1 <= value <= MAX_ID:
        raise BadRequest(f"{name} must be a positive whole number", field=name)
    return value


def path_article(request: Request) -> str:
    return article_id(str(request.path_params["article"]))


def article_id(article: str) -> str:
    """`article` if it can be an article's id, else a 400 naming the field."""
    if not 1 <= len(article) <= MAX_ARTICLE_ID:
        raise BadRequest(f"article ids are 1 to {MAX_ARTICLE_ID} characters", field="article")
    return article
