"""Moderation queues as moderators see them: counts, pages of items, one item in full."""

from __future__ import annotations

from typing import Any

import asyncpg

from moderation import cursors
from moderation.db import Connection
from moderation.db import queues as queue_queries
from moderation.errors import BadRequest

QUEUES = queue_queries.QUEUES
SORTS = ("priority", "oldest", "newest")
Filters = queue_queries.Filters


async def page(
    conn: Connection,
    site_id: int,
    queue: str,
    filters: Filters,
    sort: str,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    after = _position(cursor, queue, sort) if cursor else None
    rows = await queue_queries.page(conn, site_id, queue, filters, sort, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        key = queue_queries.sort_key(rows[-1], sort, queue)
        next_cursor = cursors.encode({"q": queue, "s": sort, "k": key})
    return {"items": [describe(row) for row in rows], "next_cursor": next_cursor}


def _position(cursor: str, queue: str, sort: str) -> list[Any]:
    position = cursors.decode(cursor)
    if position.get("q") != queue or position.get("s") != sort:
        raise BadRequest("the cursor belongs to another queue or sort order", field="cursor")
    key = position.get("k")
    if not isinstance(key, list) or not all(isinstance(v, int | float) for v in key):
        raise BadRequest("the cursor is not one this API gave out", field="cursor")
    return key


def describe(row: asyncpg.Record) -> dict[str, Any]:
    """An item as the API shows it (the same shape in queues and on the comment page)."""
    author = None
    if row["author_id"] is not None:
        author = {
            "id": row["author_id"],
            "external_id": row["author_external_id"],
            "name": row["author_name"],
            "status": row["author_status"],
            "status_until": _iso(row["author_status_until"]),
            "history": {
                "approved": row["author_approved"],
                "rejected": row["author_rejected"],
                "spam": row["author_spam"],
            },
        }
    parent = None
    if row["parent_id"] is not None:
        parent = {
            "id": row["parent_id"],
            "author_name": row["parent_author"],
            "status": row["parent_status"],
            "body": row["parent_body"],
        }
    return {
        "id": row["id"],
        "status": row["status"],
        "version": row["version"],
        "body": row["body"],
        "language": row["language"],
        "scores": row["scores"] or {},
        "risk": row["risk"],
        "reasons": list(row["reasons"]),
        "model": row["model"],
        "hidden": row["hidden"],
        "created_at": _iso(row["created_at"]),
        "decided_at": _iso(row["decided_at"]),
        "article": {"id": row["article"]},
        "author_name": row["author_name"],
        "author": author,
        "parent": parent,
        "reports": {"count": row["report_count"], "reasons": list(row["report_reasons"])},
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
