"""Authors as moderators manage them: their record, ban / premod / trust / normal, and
moderators' notes on them (each kept with who wrote it and when)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from pydantic import AwareDatetime, Field, field_validator
from typing_extensions import TypedDict

from moderation import metrics
from moderation.db import Connection, transitions
from moderation.db import authors as author_queries
from moderation.errors import NotFound, ValidationFailed
from moderation.moderators import Moderator
from moderation.payloads import Line, Payload, Text
from moderation.statuses import AuthorStatus, Status
from moderation.timestamps import iso


class AuthorStatusIn(Payload):
    status: AuthorStatus
    # A suspension: the status lapses back to normal at this time.
    # JSON has no datetime type: an ISO 8601 string is the strict form here.
    until: AwareDatetime | None = Field(default=None, strict=False)
    reason: Line | None = Field(default=None, max_length=500)
    # With a ban: reject the author's pending and held comments in the same step.
    reject_open: bool = False

    @field_validator("until", mode="before")
    @classmethod
    def _a_time_not_a_number(cls, value: object) -> object:
        # Lax datetimes take numbers as Unix times: `0` would be a suspension to 1970.
        if value is None or isinstance(value, str | datetime):
            return value
        raise ValueError("until is a date and time with its offset, as ISO 8601 text")


class NoteIn(Payload):
    body: Text = Field(min_length=1, max_length=2000)


class AuthorCounts(TypedDict):
    approved: int
    review: int
    pending: int
    rejected: int
    spam: int


class RecentArticle(TypedDict):
    id: str
    title: str | None


class RecentComment(TypedDict):
    id: int
    status: Status
    body: str
    reasons: list[str]
    article: RecentArticle
    created_at: str


class ModeratorName(TypedDict):
    id: int | None
    name: str | None


StatusEvent = TypedDict(
    "StatusEvent",
    {
        "from": AuthorStatus,
        "to": AuthorStatus,
        "until": str | None,
        "reason": str,
        "moderator": ModeratorName,
        "at": str,
    },
)


class Note(TypedDict):
    id: int
    body: str
    moderator: ModeratorName
    at: str


class AuthorRecord(TypedDict):
    """An author as moderators see them: their standing, record, comments and notes."""

    id: int
    external_id: str
    name: str
    status: AuthorStatus
    status_until: str | None
    created_at: str
    history: AuthorCounts
    recent_comments: list[RecentComment]
    status_history: list[StatusEvent]
    notes: list[Note]


class AuthorStatusChange(TypedDict):
    id: int
    previous_status: AuthorStatus
    status: AuthorStatus
    until: str | None
    rejected_comments: list[int]


async def load(conn: Connection, moderator: Moderator, author_id: int) -> AuthorRecord:
    """The author's record, history and recent comments (404 outside the moderator's sites)."""
    author = await author_queries.get(conn, author_id)
    moderator.require_site(author["site_id"] if author else None, "author")
    assert author is not None
    recent = await author_queries.recent_comments(conn, author_id, 20)
    events = await author_queries.events(conn, author_id)
    notes = await author_queries.notes(conn, author_id)
    return {
        "id": author["id"],
        "external_id": author["external_id"],
        "name": author["name"],
        "status": author["status"],
        "status_until": iso(author["status_until"]),
        "created_at": iso(author["created_at"]),
        "history": {
            "approved": author["approved"],
            "review": author["review"],
            "pending": author["pending"],
            "rejected": author["rejected"],
            "spam": author["spam"],
        },
        "recent_comments": [
            {
                "id": c["id"],
                "status": c["status"],
                "body": c["body"],
                "reasons": list(c["reasons"]),
                "article": {"id": c["article"], "title": c["article_title"]},
                "created_at": iso(c["created_at"]),
            }
            for c in recent
        ],
        "status_history": [
            {
                "from": e["from_status"],
                "to": e["to_status"],
                "until": iso(e["until"]),
                "reason": e["reason"],
                "moderator": {"id": e["moderator_id"], "name": e["moderator"]},
                "at": iso(e["created_at"]),
            }
            for e in events
        ],
        "notes": [
            {
                "id": n["id"],
                "body": n["body"],
                "moderator": {"id": n["moderator_id"], "name": n["moderator"]},
                "at": iso(n["created_at"]),
            }
            for n in notes
        ],
    }


async def add_note(conn: Connection, moderator: Moderator, author_id: int, note: NoteIn) -> Note:
    """A moderator's note on an author of their sites (404 for anyone else's)."""
    author = await author_queries.get(conn, author_id)
    moderator.require_site(author["site_id"] if author else None, "author")
    row = await author_queries.add_note(conn, author_id, moderator.id, note.body)
    return {
        "id": row["id"],
        "body": note.body,
        "moderator": {"id": moderator.id, "name": moderator.name},
        "at": iso(row["created_at"]),
    }


async def set_status(
    conn: Connection, moderator: Moderator, author_id: int, change: AuthorStatusIn
) -> AuthorStatusChange:
    """Apply a status change (and, for a ban, reject what is open) in one transaction."""
    if change.reject_open and change.status != "banned":
        raise ValidationFailed("reject_open goes with a ban only", field="reject_open")
    if change.until is not None and change.status == "normal":
        raise ValidationFailed("an expiry needs a status other than normal", field="until")
    if change.until is not None and change.until <= datetime.now(UTC):
        raise ValidationFailed("until has passed: a status ends in the future", field="until")
    reason = change.reason or f"{change.status} by {moderator.name}"
    async with conn.transaction():
        author = await author_queries.get(conn, author_id)
        if author is None or author["site_id"] not in moderator.site_ids:
            raise NotFound("no such author", field="author")
        previous = await author_queries.set_status(
            conn, author_id, change.status, change.until, moderator.id, reason
        )
        changes: list[transitions.Change] = []
        if change.reject_open:
            open_comments = await author_queries.open_comments(conn, author_id)
            changes = [
                transitions.Change(
                    c["id"],
                    c["status"],
                    "rejected",
                    f"author banned: {reason}",
                    moderator_id=moderator.id,
                )
                for c in open_comments
            ]
        applied = await transitions.transition(conn, changes) if changes else []
    metrics.count_decisions(applied, changes)
    return {
        "id": author_id,
        "previous_status": cast(AuthorStatus, previous),
        "status": change.status,
        "until": iso(change.until),
        "rejected_comments": [row["id"] for row in applied],
    }
