"""Reviewing comments: the queues as moderators see them, and their decisions.

Queues are pages of items (the comment with everything a moderator weighs: scores,
reasons, author history, parent, reports) in priority, oldest or newest order.

A decision (approve, reject, spam, restore) names the status the moderator saw
(`expected_status`). It applies only if the comment is still in that status, so of two
moderators deciding the same comment at the same moment exactly one wins and the other
gets a conflict with the comment as it now is. A decision may also name the item's
`version` the moderator read (`expected_version`; the desk always does): its author's
edit keeps a pending comment pending but moves the version on, so a decision on the old
text is a conflict too. Without it only the status is checked, as before there was one.
A decision also closes the comment's open reports: approving a reported comment keeps it
and clears them (and shows it again if reports had hidden it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from pydantic import Field, field_validator
from typing_extensions import TypedDict

from moderation import cursors, metrics
from moderation.db import Connection, transitions
from moderation.db import reports as report_queries
from moderation.db import review as review_queries
from moderation.errors import BadRequest, Conflict
from moderation.moderators import Moderator
from moderation.payloads import MAX_ID, Id, Line, Payload, page_url
from moderation.statuses import ACTION_FROM, ACTION_TARGET, Action, AuthorStatus, Queue, Status
from moderation.timestamps import iso

DecisionOutcome = Literal["applied", "conflict", "invalid", "not_found"]


# What the API answers with, as mypy checks the code that builds it and as the OpenAPI
# document describes it (`moderation.routes.docs`).
class ModeratorRef(TypedDict):
    id: int
    name: str


class AuthorHistory(TypedDict):
    approved: int
    rejected: int
    spam: int


class ItemAuthor(TypedDict):
    id: int
    external_id: str
    name: str
    status: AuthorStatus
    status_until: str | None
    history: AuthorHistory


class ItemParent(TypedDict):
    id: int
    author_name: str
    status: Status
    body: str


class ItemArticle(TypedDict):
    id: str
    title: str | None
    url: str | None


class ItemReports(TypedDict):
    count: int
    reasons: list[str]


class ModelRuntime(TypedDict):
    device: str | None
    dtype: str | None
    backend: str


class QueueItem(TypedDict):
    """A comment with everything a moderator weighs, in queues and on its own page."""

    id: int
    status: Status
    # Every queue it is in, `reported` only while reports are open, `auto` only until a
    # person decides it: the desk keeps a card only where it still belongs.
    queues: list[Queue]
    version: int
    body: str
    language: str | None
    scores: dict[str, float]
    risk: float
    reasons: list[str]
    model: str | None
    model_runtime: ModelRuntime | None
    hidden: bool
    created_at: str
    decided_at: str | None
    article: ItemArticle
    featured: bool
    edited_at: str | None
    author_name: str
    author: ItemAuthor | None
    parent: ItemParent | None
    reports: ItemReports


class QueuePage(TypedDict):
    items: list[QueueItem]
    next_cursor: str | None


class QueueCounts(TypedDict):
    site: str
    counts: dict[Queue, int]


# "from" is a keyword: the functional form.
HistoryEvent = TypedDict(
    "HistoryEvent",
    {
        "id": int,
        "kind": str,
        "actor": str,
        "moderator": ModeratorRef | None,
        "from": str,
        "to": str,
        "reason": str,
        "previous_body": str | None,
        "at": str,
    },
)


class ThreadComment(TypedDict):
    id: int
    parent_id: int | None
    author_name: str
    author_id: int | None
    body: str
    status: Status
    featured: bool
    hidden: bool
    created_at: str


class Featured(TypedDict):
    id: int
    featured: bool


class DecisionOut(TypedDict):
    id: int
    outcome: DecisionOutcome
    status: str | None
    message: str


class DecisionsOut(TypedDict):
    results: list[DecisionOut]


SORTS = ("priority", "oldest", "newest", "sample")
Filters = review_queries.Filters


async def page(
    conn: Connection,
    site_id: int,
    queue: Queue,
    filters: Filters,
    sort: str,
    cursor: str | None,
    limit: int,
) -> QueuePage:
    """One page of `queue`, after the position in `cursor`, as the API shows it."""
    after = _position(cursor, queue, sort) if cursor else None
    rows = await review_queries.page(conn, site_id, queue, filters, sort, after, limit + 1)
    more = len(rows) > limit and sort != "sample"
    rows = rows[:limit]
    next_cursor = None
    if more:
        key = review_queries.sort_key(rows[-1], sort, queue)
        next_cursor = cursors.encode({"q": queue, "s": sort, "k": key})
    return {"items": [describe(row) for row in rows], "next_cursor": next_cursor}


async def item(conn: Connection, moderator: Moderator, comment_id: int) -> QueueItem:
    """One comment as queues show it (404 outside the moderator's sites)."""
    row = await review_queries.item(conn, comment_id)
    moderator.require_site(row["site_id"] if row else None, "comment")
    assert row is not None
    return describe(row)


def _position(cursor: str, queue: str, sort: str) -> list[Any]:
    position = cursors.decode(cursor)
    if position.get("q") != queue or position.get("s") != sort:
        raise BadRequest("the cursor belongs to another queue or sort order", field="cursor")
    key = position.get("k")
    columns = review_queries.keyset(sort, queue)
    if not isinstance(key, list) or len(key) != len(columns):
        raise cursors.forged()
    return [
        cursors.number(value) if column == "risk" else cursors.whole(value)
        for column, value in zip(columns, key, strict=True)
    ]


def describe(row: asyncpg.Record) -> QueueItem:
    """An item as the API shows it (the same shape in queues and on the comment page)."""
    author: ItemAuthor | None = None
    if row["author_id"] is not None:
        author = {
            "id": row["author_id"],
            "external_id": row["author_external_id"],
            "name": row["author_name"],
            "status": row["author_status"],
            "status_until": iso(row["author_status_until"]),
            "history": {
                "approved": row["author_approved"],
                "rejected": row["author_rejected"],
                "spam": row["author_spam"],
            },
        }
    parent: ItemParent | None = None
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
        "queues": list(row["queues"]),
        "version": row["version"],
        "body": row["body"],
        "language": row["language"],
        "scores": row["scores"] or {},
        "risk": row["risk"],
        "reasons": list(row["reasons"]),
        "model": row["model"],
        # What the toxicity scores were computed on: scores from int8 or half-precision weights
        # can differ from float32 ones by a hundredth or so.
        "model_runtime": (
            {
                "device": row["model_device"],
                "dtype": row["model_dtype"],
                "backend": row["model_backend"],
            }
            if row["model"] and row["model_backend"]
            else None
        ),
        "hidden": row["hidden"],
        "created_at": iso(row["created_at"]),
        "decided_at": iso(row["decided_at"]),
        "article": {
            "id": row["article"],
            "title": row["article_title"],
            "url": page_url(row["article_url"]),
        },
        "featured": row["featured_at"] is not None,
        "edited_at": iso(row["edited_at"]),
        "author_name": row["author_name"],
        "author": author,
        "parent": parent,
        "reports": {"count": row["report_count"], "reasons": list(row["report_reasons"])},
    }


def describe_history(events: Sequence[asyncpg.Record]) -> list[HistoryEvent]:
    """A comment's audit rows as the API shows them, oldest first."""
    return [
        {
            "id": e["id"],
            "kind": e["kind"],
            "actor": e["actor"],
            "moderator": {"id": e["moderator_id"], "name": e["moderator"]}
            if e["moderator_id"]
            else None,
            "from": e["from_status"],
            "to": e["to_status"],
            "reason": e["reason"],
            "previous_body": e["previous_body"],
            "at": iso(e["created_at"]),
        }
        for e in events
    ]


def describe_thread(rows: Sequence[asyncpg.Record]) -> list[ThreadComment]:
    """A thread for moderators, oldest first: every comment whatever its status."""
    return [
        {
            "id": r["id"],
            "parent_id": r["parent_id"],
            "author_name": r["author_name"],
            "author_id": r["author_id"],
            "body": r["body"],
            "status": r["status"],
            "featured": r["featured"],
            "hidden": r["hidden"],
            "created_at": iso(r["created_at"]),
        }
        for r in rows
    ]


class FeatureIn(Payload):
    featured: bool


async def feature(
    conn: Connection, moderator: Moderator, comment_id: int, featured: bool
) -> Featured:
    """Feature an approved comment of the moderator's sites for readers (or stop)."""
    current = await transitions.statuses(conn, [comment_id])
    site_id, status = current.get(comment_id, (None, None))
    moderator.require_site(site_id, "comment")
    async with conn.transaction():
        row = await review_queries.set_featured(conn, comment_id, moderator.id, featured)
    if row is None:
        raise Conflict(
            f"only approved comments can be featured; this one is {status}",
            field="featured",
            code="not_approved",
        )
    return {"id": comment_id, "featured": featured}


class DecisionIn(Payload):
    action: Action
    expected_status: Status
    expected_version: int | None = Field(default=None, ge=0, le=MAX_ID)
    reason: Line | None = Field(default=None, max_length=500)


class BulkItemIn(DecisionIn):
    id: Id


class BulkIn(Payload):
    decisions: list[BulkItemIn] = Field(min_length=1, max_length=200)

    @field_validator("decisions")
    @classmethod
    def _one_decision_per_comment(cls, decisions: list[BulkItemIn]) -> list[BulkItemIn]:
        if len({item.id for item in decisions}) != len(decisions):
            raise ValueError("decide each comment at most once per request")
        return decisions


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What became of one moderator decision: applied, or why not (conflict: the status
    or the version moved on, as `field` says; invalid: the action is not allowed from the
    expected status)."""

    comment_id: int
    outcome: DecisionOutcome
    status: str | None
    message: str = ""
    field: str | None = None

    def as_dict(self) -> DecisionOut:
        return {
            "id": self.comment_id,
            "outcome": self.outcome,
            "status": self.status,
            "message": self.message,
        }


async def apply_decisions(
    conn: Connection, moderator: Moderator, items: Sequence[BulkItemIn]
) -> list[DecisionResult]:
    """Apply each decision that is allowed and not stale, in one transaction."""
    current = await transitions.statuses(conn, [item.id for item in items])
    results: dict[int, DecisionResult] = {}
    changes: list[transitions.Change] = []
    for item in items:
        site_id, status = current.get(item.id, (None, None))
        if site_id is None or site_id not in moderator.site_ids:
            results[item.id] = DecisionResult(item.id, "not_found", None, "no such comment")
        elif item.expected_status not in ACTION_FROM[item.action]:
            message = f"cannot {item.action} a comment that is {item.expected_status}"
            results[item.id] = DecisionResult(item.id, "invalid", status, message)
        else:
            reason = item.reason or f"{item.action} by {moderator.name}"
            changes.append(
                transitions.Change(
                    item.id,
                    item.expected_status,
                    ACTION_TARGET[item.action],
                    reason,
                    moderator_id=moderator.id,
                    version=item.expected_version,
                )
            )
    async with conn.transaction():
        applied = {row["id"]: row for row in await transitions.transition(conn, changes)}
        await report_queries.resolve(conn, list(applied))
    metrics.count_decisions(applied.values(), changes)
    stale = [change for change in changes if change.comment_id not in applied]
    # Read again: a concurrent decision may have moved the comment after the first read.
    now = await transitions.statuses(conn, [change.comment_id for change in stale])
    for change in changes:
        if change.comment_id in applied:
            status = applied[change.comment_id]["status"]
            results[change.comment_id] = DecisionResult(change.comment_id, "applied", status)
        else:
            results[change.comment_id] = _stale(change, now[change.comment_id][1])
    return [results[item.id] for item in items]


def _stale(change: transitions.Change, status: str) -> DecisionResult:
    """The conflict of a change that did not apply, now that the comment is in `status`."""
    if status == change.expected and change.version is not None:
        message = f"the comment has changed since version {change.version}"
        return DecisionResult(change.comment_id, "conflict", status, message, "expected_version")
    message = f"the comment is no longer {change.expected}"
    return DecisionResult(change.comment_id, "conflict", status, message, "expected_status")
