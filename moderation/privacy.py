"""Readers' privacy: what is stored about an author, erasing it, and address retention.

Erasure removes the author's name, their comments' text, client addresses and user
agents, and moves each of their comments to deleted through the usual transition (so
each has an audit row): out of readers' sight, and out of every moderator action, so an
emptied comment cannot be published again. Replies stay, under removed placeholders, so
threads keep their shape. The author row is kept, marked with who erased it and when.
"""

from __future__ import annotations

from asyncpg import Record
from typing_extensions import TypedDict

from moderation.db import Connection, transitions
from moderation.db import authors as author_queries
from moderation.db import privacy as privacy_queries
from moderation.errors import NotFound
from moderation.moderators import Moderator
from moderation.sites import IP_RETENTION_DAYS, Site
from moderation.statuses import AuthorStatus, Status
from moderation.timestamps import iso

_IN_VIEW: frozenset[Status] = frozenset({"pending", "review", "approved"})


class StoredAuthor(TypedDict):
    id: int
    site: str
    external_id: str
    name: str
    status: AuthorStatus
    status_until: str | None
    created_at: str
    erased_at: str | None
    erased_by: str | None


class StoredArticle(TypedDict):
    id: str
    title: str | None
    url: str | None


class StoredComment(TypedDict):
    id: int
    article: StoredArticle
    parent_id: int | None
    name: str
    body: str
    status: Status
    reasons: list[str]
    language: str | None
    created_at: str
    decided_at: str | None
    client_addr: str | None
    user_agent: str | None
    imported_from: str | None


class StoredNote(TypedDict):
    body: str
    by: str | None
    created_at: str


class StoredEdit(TypedDict):
    comment_id: int
    replaced_text: str | None
    at: str


class StoredStatusChange(TypedDict):
    from_status: AuthorStatus
    to_status: AuthorStatus
    until: str | None
    reason: str
    by: str | None
    at: str


class AuthorData(TypedDict):
    """Everything stored about an author: what an access request gets."""

    author: StoredAuthor
    comments: list[StoredComment]
    moderator_notes: list[StoredNote]
    status_changes: list[StoredStatusChange]
    edits: list[StoredEdit]


class Erased(TypedDict):
    id: int
    erased_at: str | None
    erased_by: str | None
    comments_scrubbed: int
    comments_removed: int
    # Spam models trained on decisions about their comments, deleted (retrained by beat).
    spam_models_dropped: int
    # Erased before, with nothing of theirs stored since: nothing changed, and `erased_at`
    # and `erased_by` are that first erasure's.
    already_erased: bool


async def find_author(conn: Connection, site: Site, external_id: str) -> int:
    """The id of the site's author known to the site as `external_id`, or `NotFound`."""
    record = await privacy_queries.author(conn, site.id, external_id)
    if record is None:
        raise NotFound(f"no author {external_id!r} on site {site.slug!r}", field="author")
    author_id: int = record["id"]
    return author_id


async def _reach(conn: Connection, author_id: int, moderator: Moderator | None) -> Record:
    """The author's record; for a moderator, only on their sites (404) and as admin (403)."""
    author = await privacy_queries.author_record(conn, author_id)
    if moderator is not None:
        moderator.require_site(author["site_id"] if author else None, "author")
        moderator.require_admin()
    if author is None:
        raise NotFound("no such author", field="author")
    return author


async def author_data(
    conn: Connection, author_id: int, moderator: Moderator | None = None
) -> AuthorData:
    """Everything stored about the author, as a JSON-ready document (an access request)."""
    author = await _reach(conn, author_id, moderator)
    comments = await privacy_queries.author_comments(conn, author_id)
    edits = await privacy_queries.replaced_texts(conn, author_id)
    notes = await author_queries.notes(conn, author_id)
    changes = await author_queries.events(conn, author_id)
    return {
        "author": {
            "id": author["id"],
            "site": author["site"],
            "external_id": author["external_id"],
            "name": author["name"],
            "status": author["status"],
            "status_until": iso(author["status_until"]),
            "created_at": iso(author["created_at"]),
            "erased_at": iso(author["erased_at"]),
            "erased_by": author["erased_by"],
        },
        "comments": [
            {
                "id": c["id"],
                "article": {
                    "id": c["article"],
                    "title": c["article_title"],
                    "url": c["article_url"],
                },
                "parent_id": c["parent_id"],
                "name": c["author_name"],
                "body": c["body"],
                "status": c["status"],
                "reasons": list(c["reasons"]),
                "language": c["language"],
                "created_at": iso(c["created_at"]),
                "decided_at": iso(c["decided_at"]),
                "client_addr": c["client_addr"],
                "user_agent": c["user_agent"],
                "imported_from": c["source_id"],
            }
            for c in comments
        ],
        # What moderators wrote about the author is data about them too.
        "moderator_notes": [
            {"body": n["body"], "by": n["moderator"], "created_at": iso(n["created_at"])}
            for n in reversed(notes)
        ],
        # So are their bans and holds: who, when, until when and why.
        "status_changes": [
            {
                "from_status": e["from_status"],
                "to_status": e["to_status"],
                "until": iso(e["until"]),
                "reason": e["reason"],
                "by": e["moderator"],
                "at": iso(e["created_at"]),
            }
            for e in changes
        ],
        "edits": [
            {
                "comment_id": e["comment_id"],
                "replaced_text": e["previous_body"],
                "at": iso(e["created_at"]),
            }
            for e in edits
        ],
    }


async def erase(
    conn: Connection, author_id: int, erased_by: str, moderator: Moderator | None = None
) -> Erased:
    """Erase the author's data in one transaction; says what was done."""
    moderator_id = moderator.id if moderator else None
    async with conn.transaction():
        site_id = (await _reach(conn, author_id, moderator))["site_id"]
        # Scrubbed first: the audit rows and webhook events of the removals below then
        # carry no text either. The scrub locks the author and their comments, so a worker
        # deciding one of them now waits, and the statuses read next stay as read.
        scrub = await privacy_queries.scrub_author(conn, author_id, erased_by)
        dropped = await privacy_queries.drop_spam_models_trained_on(conn, site_id, author_id)
        remaining = await privacy_queries.undeleted(conn, author_id)
        reason = f"author's data erased by {erased_by}"
        changes = [
            transitions.Change(row["id"], row["status"], "deleted", reason, (reason,), moderator_id)
            for row in remaining
        ]
        applied = {row["id"] for row in await transitions.transition(conn, changes)}
        author = await privacy_queries.author_record(conn, author_id)
    assert author is not None
    return {
        "id": author_id,
        "erased_at": iso(author["erased_at"]),
        "erased_by": author["erased_by"],
        "comments_scrubbed": scrub["scrubbed"],
        # Removed from readers' view: those they saw or might yet have seen.
        "comments_removed": sum(
            1 for c in changes if c.comment_id in applied and c.expected in _IN_VIEW
        ),
        "spam_models_dropped": dropped,
        "already_erased": not scrub["erased"],
    }


async def apply_retention(conn: Connection) -> int:
    """Clear client addresses and user agents past each site's retention; how many rows."""
    return await privacy_queries.clear_expired_clients(conn, IP_RETENTION_DAYS)
