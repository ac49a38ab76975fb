"""A site's data as JSON lines: everything needed to move it elsewhere, or back here.

The format is `moderation.imports.jsonl`'s; `moderation import json` reads it back.
Comments keep the id they were imported under (or get `moderation:<site>:<id>`), so an
export re-imported into a fresh site has the same threads, and re-importing it again
adds nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from moderation.db import Connection
from moderation.db import exports as export_queries
from moderation.imports.jsonl import COUNTED, FORMAT, VERSION, comment_key
from moderation.sites import Site


def _line(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data) + b"\n"


async def site_lines(
    conn: Connection, site: Site, since: datetime | None = None
) -> AsyncIterator[bytes]:
    """The site's export, line by line: header, articles, authors, comments, end."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        yield _line(
            {
                "type": "site",
                "format": FORMAT,
                "version": VERSION,
                "slug": site.slug,
                "name": site.name,
                "allowed_origins": list(site.allowed_origins),
                "settings": site.settings.model_dump(mode="json"),
                "exported_at": datetime.now(UTC),
                "since": since,
            }
        )
        # The end line's counts let an import tell a whole file from one cut short.
        counts = dict.fromkeys(COUNTED.values(), 0)
        async for entry in _entries(conn, site, since):
            counts[COUNTED[entry["type"]]] += 1
            yield _line(entry)
        yield _line({"type": "end", **counts})


async def _entries(
    conn: Connection, site: Site, since: datetime | None
) -> AsyncIterator[dict[str, Any]]:
    async for article in export_queries.articles(conn, site.id, since):
        yield {
            "type": "article",
            "id": article["external_id"],
            "title": article["title"],
            "url": article["url"],
            "open": article["is_open"],
            "created_at": article["created_at"],
        }
    async for author in export_queries.authors(conn, site.id, since):
        yield {
            "type": "author",
            "id": author["external_id"],
            "name": author["name"],
            "status": author["status"],
            "status_until": author["status_until"],
            "created_at": author["created_at"],
            "erased_at": author["erased_at"],
            "erased_by": author["erased_by"],
        }
    async for comment in export_queries.comments(conn, site.id, since):
        yield comment_line(site.slug, comment)


def comment_line(slug: str, comment: Any) -> dict[str, Any]:
    parent = comment["parent_id"]
    return {
        "type": "comment",
        "key": comment_key(comment["source_id"], slug, comment["id"]),
        "id": comment["id"],
        "article": comment["article"],
        "parent": comment_key(comment["parent_source_id"], slug, parent) if parent else None,
        "author": comment["author"],
        "author_name": comment["author_name"],
        "body": comment["body"],
        "status": comment["status"],
        "reasons": list(comment["reasons"]),
        "language": comment["language"],
        "scores": comment["scores"],
        "model": comment["model"],
        "created_at": comment["created_at"],
        "decided_at": comment["decided_at"],
        "hidden": comment["hidden"],
        "featured_at": comment["featured_at"],
        "client_addr": comment["client_addr"],
        "user_agent": comment["user_agent"],
        "history": comment["history"],
    }
