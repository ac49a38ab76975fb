"""Comment intake: validate a posted comment, store it as pending, hand it to scoring.

The comment is committed before anything else happens to it; scoring is asked for
only afterwards, and a lost request is recovered by the sweep, never by the poster.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pydantic import Field

from moderation.db import Connection
from moderation.db import comments as comment_queries
from moderation.errors import Conflict, Forbidden, RateLimited, ValidationFailed
from moderation.payloads import Line, Payload, Text
from moderation.sites import Site, SiteSettings

_NOT_ALNUM = re.compile(r"[\W_]+")


class AuthorIn(Payload):
    id: Line | None = Field(default=None, min_length=1, max_length=200)
    name: Line = Field(min_length=1, max_length=100)


class CommentIn(Payload):
    author: AuthorIn
    body: Text = Field(min_length=1)
    parent_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


@dataclass(frozen=True, slots=True)
class Client:
    """Who sent the request, as far as the network tells: kept for spam scoring."""

    address: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class Accepted:
    comment_id: int
    # False when an Idempotency-Key matched an earlier request: nothing new was stored.
    created: bool


async def accept(
    conn: Connection,
    site: Site,
    article: str,
    comment: CommentIn,
    client: Client,
    idempotency_key: str | None,
) -> Accepted:
    """Store `comment` as pending, or raise why it cannot be taken."""
    settings = site.settings
    if not settings.comments_open:
        raise Conflict("comments are closed on this site", code="comments_closed")
    if len(comment.body) > settings.max_length:
        raise ValidationFailed(
            f"body is {len(comment.body)} characters; this site allows {settings.max_length}",
            field="body",
            code="too_long",
        )
    if comment.author.id is None and not settings.allow_anonymous:
        raise ValidationFailed("this site needs an author id", field="author.id")
    new = comment_queries.NewComment(
        site_id=site.id,
        article=article,
        author_external_id=comment.author.id,
        author_name=comment.author.name,
        body=comment.body,
        fingerprint=fingerprint(comment.body),
        parent_id=comment.parent_id,
        client_addr=client.address,
        user_agent=client.user_agent,
        idempotency_key=idempotency_key,
        rate_window_seconds=settings.rate_window_seconds,
        rate_per_author=settings.rate_per_author,
        rate_per_address=settings.rate_per_address,
    )
    # A second attempt only after losing a race inside the statement: to create the
    # article or the author, or to store the same Idempotency-Key. The winner has
    # committed by then, and the next statement sees it.
    for _ in range(2):
        result = await comment_queries.intake(conn, new)
        if result["comment_id"] is not None:
            return Accepted(result["comment_id"], created=True)
        if result["earlier_id"] is not None:
            return _replay(result["earlier_id"], result["earlier_same"])
        if result["refusal"] is not None:
            raise _refusal(result, comment, settings)
    raise Conflict("the article or author could not be created; retry the request")


def fingerprint(body: str) -> str:
    """Equal for texts that differ only in case, spacing and punctuation: copy-paste spam."""
    letters = _NOT_ALNUM.sub("", body.casefold())
    return hashlib.md5(letters.encode(), usedforsecurity=False).hexdigest()


def _replay(earlier_id: int, same_request: bool) -> Accepted:
    if not same_request:
        # Never the earlier comment's id: it may be someone else's.
        raise Conflict(
            "this Idempotency-Key was used for a different request (another author, "
            "article, parent or text); send a new key for a new comment",
            field="Idempotency-Key",
            code="idempotency_conflict",
        )
    return Accepted(earlier_id, created=False)


def _refusal(result: asyncpg.Record, comment: CommentIn, settings: SiteSettings) -> Exception:
    refusal = result["refusal"]
    if refusal == "article_closed":
        return Conflict("comments are closed on this article", code="article_closed")
    if refusal == "author_banned":
        return Forbidden("this author may not comment on this site", code="author_banned")
    if refusal == "parent_elsewhere":
        return ValidationFailed(
            f"comment {comment.parent_id} is not in this article", field="parent_id"
        )
    who, limit, oldest = (
        ("author", settings.rate_per_author, result["author_oldest"])
        if refusal == "author_rate"
        else ("address", settings.rate_per_address, result["address_oldest"])
    )
    window = settings.rate_window_seconds
    # The window slides: a slot frees when the oldest counted comment leaves it. (That
    # comment may be a concurrent one, committed after this statement's `now`.)
    now: datetime = result["now"]
    retry_after = min(window, max(1, math.ceil(window - (now - oldest).total_seconds())))
    return RateLimited(
        f"at most {limit} comments per {window} s from one {who}; retry in {retry_after} s",
        retry_after=retry_after,
    )
