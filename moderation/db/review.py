"""Queries behind the review queues: counts, pages of items, one comment, its thread and
its history, and featuring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from moderation.db import Connection
from moderation.db.authors import STATUS_IN_FORCE, UNTIL_IN_FORCE
from moderation.statuses import QUEUE_STATUS, QUEUES, Queue

_OPEN_REPORTS = (
    "EXISTS (SELECT 1 FROM reports AS r WHERE r.comment_id = c.id AND r.dismissed_at IS NULL)"
)
# Statuses are constants of this code (statuses.py), never a caller's text.
_QUEUE_CONDITION: dict[Queue, str] = {
    queue: f"c.status = '{status}'" for queue, status in QUEUE_STATUS.items()
}
_QUEUE_CONDITION["reported"] += f" AND {_OPEN_REPORTS}"
# Approved by scoring, and no person has decided it since (see transitions: decided_by).
_AUTO = "c.decided_by IS NULL AND c.decided_at IS NOT NULL"
_QUEUE_CONDITION["auto"] += f" AND {_AUTO}"
# The queues a comment is in, by the conditions that make them up: what the desk asks of a
# comment the feed or a conflict brings, rather than a second copy of these rules.
_IN_QUEUES = ", ".join(
    f"CASE WHEN {condition} THEN '{queue}' END" for queue, condition in _QUEUE_CONDITION.items()
)
# The words of a moderator's search: the expression of the `comments_search` index.
_SEARCH = "to_tsvector('simple', c.body) @@ websearch_to_tsquery('simple', {})"

# Everything a moderator sees about an item: the text, why it was held, the author's
# record, the parent for context and the readers' reports.
_ITEM = f"""
    SELECT c.id, c.site_id, c.status, array_remove(ARRAY[{_IN_QUEUES}], NULL) AS queues,
           c.body, c.language, c.scores, c.risk, c.reasons,
           c.model, c.model_device, c.model_dtype, c.model_backend,
           c.created_at, c.decided_at, c.version, c.hidden_at IS NOT NULL AS hidden,
           a.external_id AS article, a.title AS article_title, a.url AS article_url,
           c.featured_at, c.edited_at, c.parent_id IS NULL AS top_level,
           c.author_name, c.author_id,
           au.external_id AS author_external_id,
           {STATUS_IN_FORCE.format(a="au")} AS author_status,
           {UNTIL_IN_FORCE.format(a="au")} AS author_status_until,
           coalesce(history.approved, 0) AS author_approved,
           coalesce(history.rejected, 0) AS author_rejected,
           coalesce(history.spam, 0) AS author_spam,
           p.id AS parent_id, p.author_name AS parent_author, p.status AS parent_status,
           p.body AS parent_body,
           coalesce(open_reports.n, 0) AS report_count,
           coalesce(open_reports.reasons, '{{}}') AS report_reasons
    FROM comments AS c
    JOIN articles AS a ON a.id = c.article_id
    LEFT JOIN authors AS au ON au.id = c.author_id
    LEFT JOIN comments AS p ON p.id = c.parent_id
    LEFT JOIN LATERAL (
        SELECT count(*) AS n, array_agg(r.reason ORDER BY r.id DESC) AS reasons
        FROM reports AS r WHERE r.comment_id = c.id AND r.dismissed_at IS NULL
    ) AS open_reports ON true
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE h.status = 'approved') AS approved,
               count(*) FILTER (WHERE h.status = 'rejected') AS rejected,
               count(*) FILTER (WHERE h.status = 'spam') AS spam
        FROM comments AS h WHERE h.author_id = c.author_id
    ) AS history ON c.author_id IS NOT NULL
"""


@dataclass(frozen=True, slots=True)
class Filters:
    article: str | None = None
    author_id: int | None = None
    reason: str | None = None
    language: str | None = None
    # Words to find in the text (web search syntax: "a phrase", -without, or).
    text: str | None = None

    def __bool__(self) -> bool:
        return any(
            v is not None
            for v in (self.article, self.author_id, self.reason, self.language, self.text)
        )


async def counts(conn: Connection, site_id: int) -> dict[Queue, int]:
    rows = await conn.fetch(
        f"""
        SELECT status AS queue, count(*) AS n FROM comments WHERE site_id = $1 GROUP BY status
        UNION ALL
        SELECT 'reported', count(*) FROM comments AS c
        WHERE c.site_id = $1 AND {_QUEUE_CONDITION["reported"]}
        UNION ALL
        SELECT 'auto', count(*) FROM comments AS c
        WHERE c.site_id = $1 AND {_QUEUE_CONDITION["auto"]}
        """,
        site_id,
    )
    found = {row["queue"]: row["n"] for row in rows}
    return {queue: found.get(queue, 0) for queue in QUEUES}


async def page(
    conn: Connection,
    site_id: int,
    queue: Queue,
    filters: Filters,
    sort: str,
    after: list[Any] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """One page of a queue in `sort` order, after the keyset `after` (see `sort_key`).

    `sample` is a random draw of the queue (no keyset: each call draws anew).
    """
    args: list[Any] = [site_id]

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = ["c.site_id = $1", _QUEUE_CONDITION[queue]]
    if filters.article is not None:
        conditions.append(f"a.external_id = {param(filters.article)}")
    if filters.author_id is not None:
        conditions.append(f"c.author_id = {param(filters.author_id)}")
    if filters.language is not None:
        conditions.append(f"c.language = {param(filters.language)}")
    if filters.reason is not None:
        pattern = param("%" + _escape_like(filters.reason) + "%")
        conditions.append(
            f"EXISTS (SELECT 1 FROM unnest(c.reasons) AS why WHERE why ILIKE {pattern})"
        )
    if filters.text is not None:
        conditions.append(_SEARCH.format(param(filters.text)))
    keys: tuple[str, ...] = ()
    if sort == "sample":
        order = "random()"
    else:
        order, keys = _ORDER[(sort, queue == "reported")]
    outer = ""
    if after is not None and keys:
        placeholders = ", ".join(param(value) for value in after)
        comparison = "<" if "DESC" in order else ">"
        outer = f"WHERE ({', '.join(keys)}) {comparison} ({placeholders})"
    return await conn.fetch(
        f"""
        SELECT * FROM ({_ITEM} WHERE {" AND ".join(conditions)}) AS item
        {outer}
        ORDER BY {order}
        LIMIT {param(limit)}
        """,
        *args,
    )


# Sort order and the columns of its keyset, by (sort, is the reported queue). Priority is
# riskiest first: the most reports (reported queue), then the highest score, then the newest.
_ORDER: dict[tuple[str, bool], tuple[str, tuple[str, ...]]] = {
    ("priority", False): ("risk DESC, id DESC", ("risk", "id")),
    ("priority", True): ("report_count DESC, risk DESC, id DESC", ("report_count", "risk", "id")),
    ("oldest", False): ("id ASC", ("id",)),
    ("oldest", True): ("id ASC", ("id",)),
    ("newest", False): ("id DESC", ("id",)),
    ("newest", True): ("id DESC", ("id",)),
}


def keyset(sort: str, queue: str) -> tuple[str, ...]:
    """The columns a page in `sort` order continues after: ids and counts, or `risk`;
    none for a random sample, which has no next page."""
    order = _ORDER.get((sort, queue == "reported"))
    return order[1] if order else ()


def sort_key(record: asyncpg.Record, sort: str, queue: str) -> list[Any]:
    """The keyset values of `record` for a cursor that continues after it."""
    return [record[key] for key in keyset(sort, queue)]


async def item(conn: Connection, comment_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_ITEM} WHERE c.id = $1", comment_id)


async def history(conn: Connection, comment_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT e.id, e.kind, e.actor, e.moderator_id, m.name AS moderator, e.from_status,
               e.to_status, e.reason, e.previous_body, e.created_at
        FROM comment_events AS e LEFT JOIN moderators AS m ON m.id = e.moderator_id
        WHERE e.comment_id = $1 ORDER BY e.id
        """,
        comment_id,
    )


async def thread(conn: Connection, comment_id: int) -> list[asyncpg.Record]:
    """Every comment of `comment_id`'s thread in any status, oldest first: its context."""
    return await conn.fetch(
        """
        SELECT t.id, t.parent_id, t.author_name, t.author_id, t.body, t.status, t.created_at,
               t.featured_at IS NOT NULL AS featured, t.hidden_at IS NOT NULL AS hidden
        FROM comments AS c
        JOIN comments AS t
          ON t.id = coalesce(c.root_id, c.id) OR t.root_id = coalesce(c.root_id, c.id)
        WHERE c.id = $1
        ORDER BY t.id
        """,
        comment_id,
    )


async def set_featured(
    conn: Connection, comment_id: int, moderator_id: int, featured: bool
) -> asyncpg.Record | None:
    """Feature an approved comment (or stop), with its audit row; None if it is not approved.

    Featuring it again changes nothing and records nothing.
    """
    return await conn.fetchrow(
        """
        WITH target AS (
            SELECT id, status, featured_at IS NOT NULL AS was_featured FROM comments
            WHERE id = $1 AND status = 'approved' FOR UPDATE
        ), changed AS (
            UPDATE comments
               SET featured_at = CASE WHEN $3 THEN now() END,
                   featured_by = CASE WHEN $3 THEN $2::bigint END
              FROM target
             WHERE comments.id = target.id AND target.was_featured <> $3
            RETURNING comments.id
        ), audit AS (
            INSERT INTO comment_events (comment_id, actor, moderator_id, from_status, to_status,
                                        reason, kind)
            SELECT changed.id, 'moderator', $2, 'approved', 'approved',
                   CASE WHEN $3 THEN 'featured' ELSE 'no longer featured' END,
                   CASE WHEN $3 THEN 'featured' ELSE 'unfeatured' END
            FROM changed
        )
        SELECT id, $3 AS featured FROM target
        """,
        comment_id,
        moderator_id,
        featured,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
