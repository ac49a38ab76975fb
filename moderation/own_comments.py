"""What a reader may do with their own comments: learn their state, edit and delete them.

The POST that stored a comment answered with a secret; whoever holds it is the poster
(the widget keeps it in the reader's browser). Nothing here tells anyone else anything:
a wrong secret and a missing comment get the same answer. An edit sends the comment
back to scoring (it is moderated again); a deletion is final. Both are open for the
site's `own_edit_seconds` after posting, and closed to a banned author; an edit also
needs the article (and the site) open to comments, and room in the site's rate limits,
as a new comment does: each edit counts as one more comment of its author and of the
address the comment was posted from.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg
from pydantic import Field
from typing_extensions import TypedDict

from moderation.db import Connection, transitions
from moderation.db import comments as comment_queries
from moderation.db import reports as report_queries
from moderation.errors import Conflict, NotFound
from moderation.intake import (
    banned,
    check_length,
    closed_on_article,
    closed_on_site,
    fingerprint,
    rate_limited,
    secret_hash,
)
from moderation.payloads import Id, Payload, Text
from moderation.sites import Site
from moderation.statuses import Status
from moderation.timestamps import iso

# What a reader is told of their comment: moderation is the site's business, the outcome
# theirs. Held comments and those hidden by reports are still awaiting a person.
State = Literal["awaiting", "published", "not_published", "deleted"]
_EDITABLE: frozenset[Status] = frozenset({"pending", "review", "approved"})
_SECRET = Field(min_length=16, max_length=100)


class OwnState(TypedDict):
    id: int
    state: State
    body: str
    edited: bool
    editable_until: str | None
    # A reply whose parent readers no longer see: the thread will show it under a
    # placeholder, and the widget shows it so meanwhile.
    parent_removed: bool


class OwnStates(TypedDict):
    comments: list[OwnState]


class Edited(TypedDict):
    id: int
    state: Literal["awaiting"]
    body: str


class Deleted(TypedDict):
    id: int
    state: Literal["deleted"]


class OwnRef(Payload):
    id: Id
    secret: str = _SECRET


class StatesIn(Payload):
    comments: list[OwnRef] = Field(min_length=1, max_length=100)


class EditIn(Payload):
    body: Text = Field(min_length=1)


def state_of(status: str, hidden: bool) -> State:
    if status == "approved":
        return "awaiting" if hidden else "published"
    if status in ("pending", "review"):
        return "awaiting"
    return "deleted" if status == "deleted" else "not_published"


def _owns(row: asyncpg.Record | None, secret: str) -> bool:
    stored = row["owner_secret_hash"] if row is not None else None
    return stored is not None and hmac.compare_digest(stored, secret_hash(secret))


def _until(site: Site, created_at: datetime) -> datetime | None:
    seconds = site.settings.own_edit_seconds
    return created_at + timedelta(seconds=seconds) if seconds else None


async def states(conn: Connection, site: Site, refs: list[OwnRef]) -> list[OwnState]:
    """The state of each comment whose secret matches; the others are left out."""
    secrets = {ref.id: ref.secret for ref in refs}
    rows = await comment_queries.owned(conn, site.id, list(secrets))
    now = datetime.now(UTC)
    answer: list[OwnState] = []
    for row in sorted(rows, key=lambda r: r["id"]):
        if not _owns(row, secrets[row["id"]]):
            continue
        until = _until(site, row["created_at"])
        open_ = until is not None and until > now and row["status"] in _EDITABLE
        answer.append(
            {
                "id": row["id"],
                "state": state_of(row["status"], row["hidden"]),
                "body": row["body"],
                "edited": row["edited_at"] is not None,
                "editable_until": iso(until) if open_ else None,
                "parent_removed": row["parent_removed"],
            }
        )
    return answer


async def _locked(
    conn: Connection, site: Site, comment_id: int, secret: str | None
) -> asyncpg.Record:
    """The poster's comment, locked, while they may still change it; else why not."""
    row = await comment_queries.lock_owned(conn, site.id, comment_id)
    if row is None or secret is None or not _owns(row, secret):
        raise NotFound(f"no comment {comment_id} of yours on this site", field="comment")
    if row["author_banned"]:
        raise banned()
    until = _until(site, row["created_at"])
    if until is None or until <= datetime.now(UTC):
        raise Conflict(
            "comments can be changed only shortly after posting; this one no longer",
            code="edit_window_closed",
        )
    return row


def _check_editable(row: asyncpg.Record) -> None:
    """Refuse an edit of the poster's locked comment that its article or state rules out."""
    if not row["article_open"]:
        raise closed_on_article()
    if row["status"] not in _EDITABLE:
        raise Conflict(
            f"a comment that is {state_of(row['status'], False).replace('_', ' ')} "
            "cannot be edited",
            code="not_editable",
        )
    if row["being_scored"]:
        # Its old text is being scored right now; that verdict must not land on the new.
        raise Conflict(
            "the comment is being checked right now; try again in a few seconds",
            code="being_scored",
        )


async def edit(
    conn: Connection, site: Site, comment_id: int, secret: str | None, body: str
) -> Edited:
    """Replace the text; the comment is moderated again (the caller wakes scoring)."""
    settings = site.settings
    if not settings.comments_open:
        raise closed_on_site()
    check_length(settings, body)
    async with conn.transaction():
        # Counted, and the rate limits' locks taken, before the comment is locked: an
        # intake holding those locks may be waiting on the comment's row to reply to it.
        window = await comment_queries.edit_rate_window(
            conn,
            site.id,
            comment_id,
            settings.rate_window_seconds,
            settings.rate_per_author,
            settings.rate_per_address,
        )
        row = await _locked(conn, site, comment_id, secret)
        _check_editable(row)
        # Told only to the poster, and only of an edit that could otherwise go.
        if window is not None and window["refusal"] is not None:
            raise rate_limited(window, settings)
        # The text first: the status change's webhook event carries the comment as it is.
        await comment_queries.replace_body(
            conn, comment_id, body, fingerprint(body), row["body"], row["status"]
        )
        if row["status"] != "pending":
            reason = "edited by its author"
            await transitions.transition(
                conn,
                [
                    transitions.Change(
                        comment_id, row["status"], "pending", reason, (reason,), by_reader=True
                    )
                ],
            )
    return {"id": comment_id, "state": "awaiting", "body": body}


async def delete(conn: Connection, site: Site, comment_id: int, secret: str | None) -> Deleted:
    """Take the comment down for good; replies to it keep their place under a placeholder."""
    async with conn.transaction():
        row = await _locked(conn, site, comment_id, secret)
        if row["status"] != "deleted":
            reason = "deleted by its author"
            await transitions.transition(
                conn,
                [transitions.Change(comment_id, row["status"], "deleted", reason, by_reader=True)],
            )
            await report_queries.resolve(conn, [comment_id])
    return {"id": comment_id, "state": "deleted"}
