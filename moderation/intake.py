"""Comment intake: validate a posted comment, store it as pending, hand it to scoring.

The comment is committed before anything else happens to it; scoring is asked for
only afterwards, and a lost request is recovered by the sweep, never by the poster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from moderation.db import Connection
from moderation.db import comments as comment_queries
from moderation.errors import Conflict, Forbidden, RateLimited, ValidationFailed
from moderation.payloads import Line, Text
from moderation.sites import Site


class AuthorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Line | None = Field(default=None, min_length=1, max_length=200)
    name: Line = Field(min_length=1, max_length=100)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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

    context = await _context(conn, site, article, comment, client, idempotency_key)
    if context["earlier_id"] is not None:
        earlier_request = (context["earlier_article_id"], context["earlier_body"])
        this_request = (context["article_id"], comment.body)
        return _replay(context["earlier_id"], earlier_request == this_request)
    _check(site, context, comment)

    comment_id = await comment_queries.insert(
        conn,
        site_id=site.id,
        article_id=context["article_id"],
        parent_id=comment.parent_id,
        root_id=context["parent_root_id"],
        author_id=context["author_id"],
        author_name=comment.author.name,
        body=comment.body,
        client_addr=client.address,
        user_agent=client.user_agent,
        idempotency_key=idempotency_key,
    )
    if comment_id is not None:
        return Accepted(comment_id, created=True)
    # The same key won a race with this request between the two statements.
    assert idempotency_key is not None
    earlier = await comment_queries.get_by_idempotency_key(conn, site.id, idempotency_key)
    assert earlier is not None
    same = (earlier["article_id"], earlier["body"]) == (context["article_id"], comment.body)
    return _replay(earlier["id"], same)


async def _context(
    conn: Connection,
    site: Site,
    article: str,
    comment: CommentIn,
    client: Client,
    idempotency_key: str | None,
) -> asyncpg.Record:
    for _ in range(2):
        context = await comment_queries.intake_context(
            conn,
            site_id=site.id,
            article=article,
            author_external_id=comment.author.id,
            author_name=comment.author.name,
            parent_id=comment.parent_id,
            client_addr=client.address,
            idempotency_key=idempotency_key,
            window_seconds=site.settings.rate_window_seconds,
        )
        author_missing = comment.author.id is not None and context["author_id"] is None
        if context["article_id"] is not None and not author_missing:
            return context
    # Two lost races in a row means something else is wrong; say so rather than guess.
    raise Conflict("the article or author could not be created; retry the request")


def _replay(earlier_id: int, same_request: bool) -> Accepted:
    if not same_request:
        raise Conflict(
            "this Idempotency-Key was used for a different comment",
            field="Idempotency-Key",
            code="idempotency_key_reused",
        )
    return Accepted(earlier_id, created=False)


def _check(site: Site, context: asyncpg.Record, comment: CommentIn) -> None:
    if not context["article_open"]:
        raise Conflict("comments are closed on this article", code="article_closed")
    if context["author_status"] == "banned" and _in_force(context):
        raise Forbidden("this author may not comment on this site", code="author_banned")
    if comment.parent_id is not None and context["parent_article_id"] != context["article_id"]:
        raise ValidationFailed(
            f"comment {comment.parent_id} is not in this article", field="parent_id"
        )
    settings = site.settings
    window = settings.rate_window_seconds
    now: datetime = context["now"]
    limits = (
        ("author", settings.rate_per_author, context["author_recent"], context["author_oldest"]),
        (
            "address",
            settings.rate_per_address,
            context["address_recent"],
            context["address_oldest"],
        ),
    )
    for who, limit, recent, oldest in limits:
        if limit and recent >= limit:
            # The window slides: a slot frees when the oldest counted comment leaves it.
            retry_after = max(1, math.ceil(window - (now - oldest).total_seconds()))
            raise RateLimited(
                f"at most {limit} comments per {window} s from one {who}; retry in {retry_after} s",
                retry_after=retry_after,
            )


def _in_force(context: asyncpg.Record) -> bool:
    until: datetime | None = context["author_status_until"]
    return until is None or until > context["now"]
