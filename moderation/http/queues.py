"""A queue's page, filters and order from the request: the API's and the desk's are one."""

from __future__ import annotations

from starlette.requests import Request

from moderation import review
from moderation.errors import BadRequest
from moderation.http.params import query_choice, query_int
from moderation.payloads import MAX_ID
from moderation.statuses import DEFAULT_SORT, Queue, require_queue

# Long enough for any phrase a moderator searches; the filters are not free text to store.
_MAX_FILTER = 200


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    if len(value) > _MAX_FILTER:
        raise BadRequest(f"{name} is at most {_MAX_FILTER} characters", field=name)
    if "\x00" in value:
        raise BadRequest(f"{name} must not contain NUL", field=name)
    return value or None


def queue_filters(request: Request) -> review.Filters:
    """`article`, `author` (id), `reason`, `language` and `q` (words in the text)."""
    author = request.query_params.get("author")
    return review.Filters(
        article=_text(request, "article"),
        author_id=query_int(request, "author", default=0, low=1, high=MAX_ID) if author else None,
        reason=_text(request, "reason"),
        language=_text(request, "language"),
        text=_text(request, "q"),
    )


def queue_sort(request: Request, queue: Queue) -> str:
    return query_choice(request, "sort", review.SORTS, DEFAULT_SORT.get(queue, "priority"))


async def requested_page(request: Request, site_id: int, limit: int) -> review.QueuePage:
    """A page of the path's `queue`, as the query string filters, orders and pages it."""
    queue = require_queue(request.path_params["queue"])
    filters = queue_filters(request)
    sort = queue_sort(request, queue)
    cursor = request.query_params.get("cursor") or None
    async with request.state.pool.acquire() as conn:
        return await review.page(conn, site_id, queue, filters, sort, cursor, limit)
