"""The reader thread: approved comments as nested threads, one page of threads at a time.

A page is a set of top-level comments (keyset-paginated by id) with every visible reply
under them. A comment that is no longer visible (not approved, or hidden by reader
reports) but has a visible reply stays in place as a placeholder with `removed: true`
and no author or text, so the reply keeps its context and the thread its shape.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, cast

import asyncpg
from typing_extensions import TypedDict

from moderation import cursors
from moderation.db import Connection
from moderation.db import threads as thread_queries
from moderation.errors import BadRequest
from moderation.sites import SiteSettings

Sort = Literal["oldest", "newest"]
# Bumped when the response shape changes, so no cache keeps an old shape alive.
_FORMAT = 4


class ArticleSummary(TypedDict):
    id: str
    open: bool
    approved_count: int
    featured_count: int


class SiteSummary(TypedDict):
    """What the site takes from readers: `max_length`, the longest comment in characters,
    and whether it takes comments at all (`open`: its `comments_open`), so that a closed
    article can say which of the two is closed."""

    max_length: int
    open: bool


class Author(TypedDict):
    name: str


class ThreadNode(TypedDict):
    """A comment with its visible replies; a removed one keeps its place, without author."""

    id: int
    parent_id: int | None
    removed: bool
    author: Author | None
    body: str | None
    created_at: str
    reply_count: int
    replies: list[ThreadNode]


class ThreadPage(TypedDict):
    article: ArticleSummary
    site: SiteSummary
    threads: list[ThreadNode]
    next_cursor: str | None


class FeaturedComment(TypedDict):
    id: int
    parent_id: int | None
    author: Author
    body: str
    created_at: str


class FeaturedPage(TypedDict):
    article: ArticleSummary | None
    comments: list[FeaturedComment]


@dataclass(frozen=True, slots=True)
class Cursor:
    sort: Sort
    after: int

    def encode(self) -> str:
        return cursors.encode({"s": self.sort, "a": self.after})

    @classmethod
    def decode(cls, text: str, sort: Sort) -> Cursor:
        position = cursors.decode(text)
        after = cursors.whole(position.get("a"))
        if position.get("s") != sort:
            raise BadRequest("the cursor belongs to another sort order", field="cursor")
        return cls(sort=sort, after=after)


def etag(article: asyncpg.Record | None, settings: SiteSettings) -> str:
    """Changes whenever anything a reader of the article could see changes, the site's
    settings the thread carries (its longest comment, whether it takes comments) included."""
    place = "none"
    if article is not None:
        place = f"{article['id']}-{article['version']}-{int(article['is_open'])}"
    return f'W/"{_FORMAT}-{place}-{settings.max_length}-{int(settings.comments_open)}"'


async def page(
    conn: Connection,
    article: asyncpg.Record,
    settings: SiteSettings,
    sort: Sort,
    limit: int,
    cursor: Cursor | None,
) -> ThreadPage:
    roots = await thread_queries.roots_page(
        conn,
        article["id"],
        after=cursor.after if cursor else None,
        newest_first=sort == "newest",
        limit=limit + 1,
    )
    more = len(roots) > limit
    roots = roots[:limit]
    replies = await thread_queries.thread_replies(conn, [r["id"] for r in roots]) if roots else []
    next_cursor = Cursor(sort, roots[-1]["id"]).encode() if more else None
    return {
        "article": describe_article(article, settings),
        "site": describe_site(settings),
        # Built as plain dicts (their "visible" flag goes before they leave): the shape
        # is ThreadNode's.
        "threads": cast(list[ThreadNode], build(roots, replies)),
        "next_cursor": next_cursor,
    }


def describe_article(article: asyncpg.Record, settings: SiteSettings) -> ArticleSummary:
    """The article as readers see it: open only while the site takes comments too."""
    return {
        "id": article["external_id"],
        "open": article["is_open"] and settings.comments_open,
        "approved_count": article["approved_count"],
        "featured_count": article["featured_count"],
    }


def describe_site(settings: SiteSettings) -> SiteSummary:
    return {"max_length": settings.max_length, "open": settings.comments_open}


async def featured(
    conn: Connection, article: asyncpg.Record, settings: SiteSettings
) -> FeaturedPage:
    """The article's featured comments as readers see them, most recently featured first."""
    rows = await thread_queries.featured(conn, article["id"], 50)
    return {
        "article": describe_article(article, settings),
        "comments": [
            {
                "id": r["id"],
                "parent_id": r["parent_id"],
                "author": {"name": r["author_name"]},
                "body": r["body"],
                "created_at": r["created_at"].isoformat(),
            }
            for r in rows
        ],
    }


def build(roots: list[asyncpg.Record], replies: list[asyncpg.Record]) -> list[dict[str, Any]]:
    """Nest `replies` (oldest first) under `roots`, keeping the order of `roots`."""
    nodes = {row["id"]: _node(row) for row in (*roots, *replies)}
    children: dict[int, list[dict[str, Any]]] = {}
    for row in replies:
        children.setdefault(row["parent_id"], []).append(nodes[row["id"]])
    # Replies always have larger ids than their parents, so walking ids downwards settles
    # every child before its parent: counts and visibility flow up in one pass.
    for node_id in sorted(nodes, reverse=True):
        node = nodes[node_id]
        visible = [child for child in children.get(node_id, ()) if child["visible"]]
        node["replies"] = visible
        # Approved comments anywhere below this one; placeholders do not count.
        node["reply_count"] = sum(
            int(not child["removed"]) + child["reply_count"] for child in visible
        )
        node["visible"] = not node["removed"] or bool(visible)
    return [_public(nodes[row["id"]]) for row in roots if nodes[row["id"]]["visible"]]


def _node(row: asyncpg.Record) -> dict[str, Any]:
    removed = not row["visible"]
    return {
        "id": row["id"],
        "parent_id": row["parent_id"],
        "removed": removed,
        "author": None if removed else {"name": row["author_name"]},
        "body": row["body"],
        "created_at": row["created_at"].isoformat(),
        "reply_count": 0,
        "replies": [],
        "visible": not removed,
    }


def _public(node: dict[str, Any]) -> dict[str, Any]:
    node.pop("visible", None)
    node["replies"] = [_public(child) for child in node["replies"]]
    return node


PageKey = tuple[str, Sort, int, str | None]


class PageCache:
    """Rendered thread pages of this process, by ETag and page parameters.

    A page is a function of what its ETag covers (the article's id, version and open
    flag, and the site settings the page carries) and of sort, limit and cursor, so an
    entry is never stale: any change a reader could see bumps the version or changes the
    settings, and the next request misses. The oldest entries go first; a breaking
    story's first pages stay.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._pages: OrderedDict[PageKey, bytes] = OrderedDict()

    def get(self, key: PageKey) -> bytes | None:
        body = self._pages.get(key)
        if body is not None:
            self._pages.move_to_end(key)
        return body

    def put(self, key: PageKey, body: bytes) -> None:
        self._pages[key] = body
        self._pages.move_to_end(key)
        if len(self._pages) > self._size:
            self._pages.popitem(last=False)
