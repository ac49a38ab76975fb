"""Comment intake: validate a posted comment, store it as pending, hand it to scoring.

The comment is committed before anything else happens to it; scoring is asked for
only afterwards, and a lost request is recovered by the sweep, never by the poster.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import jwt
from pydantic import AfterValidator, Field

from moderation import metrics
from moderation.db import Connection
from moderation.db import comments as comment_queries
from moderation.errors import Conflict, Forbidden, RateLimited, Unauthorized, ValidationFailed
from moderation.payloads import Id, Line, Name, Payload, Text, page_address, page_title
from moderation.sites import Site, SiteSettings

_NOT_ALNUM = re.compile(r"[\W_]+")
_RATE_REFUSALS = frozenset({"author_rate", "address_rate"})


class AuthorIn(Payload):
    id: Line | None = Field(default=None, min_length=1, max_length=200)
    name: Name = Field(min_length=1, max_length=100)
    # The site's word that `id` is this reader: a JWT signed with its reader secret.
    token: str | None = Field(default=None, min_length=1, max_length=4000)


class ArticlePage(Payload):
    """The page the comment was written on, as the widget finds it: moderators see it.
    What a page gets wrong here is cleaned or left out, never the comment refused. It
    only fills in what the article lacks: anyone can send it."""

    title: Annotated[str | None, AfterValidator(page_title)] = None
    url: Annotated[str | None, AfterValidator(page_address)] = None


class CommentIn(Payload):
    author: AuthorIn
    body: Text = Field(min_length=1)
    parent_id: Id | None = None
    article: ArticlePage | None = None


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
    # For the poster alone: it lets them ask the comment's state, edit and delete it.
    secret: str


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
    check_reader(site, comment.author)
    page = comment.article or ArticlePage()
    secret = owner_secret()
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
        article_title=page.title,
        article_url=_own_address(site, page.url),
        owner_secret_hash=secret_hash(secret),
    )
    if not settings.comments_open:
        # A retry of a post stored before the site closed still gets its answer.
        found = await comment_queries.earlier(conn, new) if idempotency_key else None
        if found is None:
            raise closed_on_site()
        return await _replay(conn, found["id"], found["same"], secret)
    check_length(settings, comment.body)
    if comment.author.id is None and not settings.allow_anonymous:
        raise ValidationFailed(
            "this site needs an author id", field="author.id", code="author_required"
        )
    # A second attempt only after losing a race inside the statement: to create the
    # article or the author, or to store the same Idempotency-Key. The winner has
    # committed by then, and the next statement sees it.
    for _ in range(2):
        result = await comment_queries.intake(conn, new)
        if result["comment_id"] is not None:
            if result["fills_page"]:
                await comment_queries.fill_page(
                    conn, result["article_id"], new.article_title, new.article_url
                )
            metrics.count_received(site.slug)
            return Accepted(result["comment_id"], created=True, secret=secret)
        if result["earlier_id"] is not None:
            return await _replay(conn, result["earlier_id"], result["earlier_same"], secret)
        if result["refusal"] in _RATE_REFUSALS and idempotency_key is not None:
            # The same request sent twice at once: the other took the last slot while
            # this one waited to count (intake_rate_window), after this statement's look-up
            # for the key. A statement of its own sees it.
            found = await comment_queries.earlier(conn, new)
            if found is not None:
                return await _replay(conn, found["id"], found["same"], secret)
        if result["refusal"] is not None:
            raise _refusal(result, comment, settings)
    raise Conflict("the article or author could not be created; retry the request")


def fingerprint(body: str) -> str:
    """Equal for texts that differ only in case, spacing and punctuation: copy-paste spam."""
    letters = _NOT_ALNUM.sub("", body.casefold())
    return hashlib.md5(letters.encode(), usedforsecurity=False).hexdigest()


def owner_secret() -> str:
    return secrets.token_urlsafe(24)


def secret_hash(secret: str) -> bytes:
    # 192 random bits: a plain hash suffices, as for moderator tokens.
    return hashlib.sha256(secret.encode()).digest()


def _own_address(site: Site, url: str | None) -> str | None:
    """The page address, if it is on one of the site's origins: moderators click it."""
    return url if url is None or site.owns_address(url) else None


async def _replay(conn: Connection, earlier_id: int, same_request: bool, secret: str) -> Accepted:
    if not same_request:
        # Never the earlier comment's id: it may be someone else's.
        raise Conflict(
            "this Idempotency-Key was used for a different request (another author, "
            "article, parent or text); send a new key for a new comment",
            field="Idempotency-Key",
            code="idempotency_conflict",
        )
    # Only a hash of the first answer's secret is kept, and that answer may be the one
    # that got lost: the retry gets a new secret, which replaces it. Only the holder of
    # the idempotency key (the poster's browser) can ask for that.
    await comment_queries.replace_secret(conn, earlier_id, secret_hash(secret))
    return Accepted(earlier_id, created=False, secret=secret)


def check_reader(site: Site, author: AuthorIn) -> None:
    """Where the site signs its readers' ids, an id is taken only with its token: a JWT
    (HS256) by the site's reader secret, whose `sub` is the id and whose `exp` is ahead.
    Without it anyone holding the widget key could post as any reader, and inherit their
    standing (trusted) or get them banned."""
    if site.reader_secret is None or author.id is None:
        return
    if author.token is None:
        raise _unverified("this site signs its readers' ids: send author.token")
    claims = _reader_claims(author.token, site.reader_secrets())
    if claims["sub"] != author.id:
        raise _unverified("author.token is for another reader than author.id")


def _reader_claims(token: str, keys: list[str]) -> dict[str, Any]:
    """The token's claims if one of the reader secrets `keys` signed it (a rotation keeps
    the previous one valid a while), else `author_unverified` saying why."""
    # Another key's signature means "try the next"; any other fault ends it there.
    problem: jwt.InvalidTokenError = jwt.InvalidSignatureError("no secret")
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["HS256"], options={"require": ["sub", "exp"]}
            )
            return claims
        except jwt.InvalidSignatureError as exc:
            problem = exc
        except jwt.InvalidTokenError as exc:
            problem = exc
            break
    raise _unverified(f"author.token is not valid: {problem}") from problem


def _unverified(message: str) -> Unauthorized:
    return Unauthorized(message, field="author.token", code="author_unverified")


# Refusals that a reader's edit meets as well as a new comment (`own_comments`).
def check_length(settings: SiteSettings, body: str) -> None:
    if len(body) > settings.max_length:
        raise ValidationFailed(
            f"body is {len(body)} characters; this site allows {settings.max_length}",
            field="body",
            code="too_long",
        )


def closed_on_site() -> Conflict:
    return Conflict("comments are closed on this site", code="comments_closed")


def closed_on_article() -> Conflict:
    return Conflict("comments are closed on this article", code="article_closed")


def banned() -> Forbidden:
    return Forbidden("this author may not comment on this site", code="author_banned")


def _refusal(result: asyncpg.Record, comment: CommentIn, settings: SiteSettings) -> Exception:
    refusal = result["refusal"]
    if refusal == "article_closed":
        return closed_on_article()
    if refusal == "author_banned":
        return banned()
    if refusal == "parent_unseen":
        # The same answer whether the comment is missing, elsewhere or hidden: a reply
        # must not tell anyone that a hidden comment exists.
        return ValidationFailed(
            f"there is no comment {comment.parent_id} to reply to in this article",
            field="parent_id",
        )
    return rate_limited(result, settings)


def rate_limited(result: asyncpg.Record, settings: SiteSettings) -> RateLimited:
    """The answer to a post or an edit that `refusal` says is over a rate limit."""
    who, limit, oldest = (
        ("author", settings.rate_per_author, result["author_oldest"])
        if result["refusal"] == "author_rate"
        else ("address", settings.rate_per_address, result["address_oldest"])
    )
    window = settings.rate_window_seconds
    # The window slides: a slot frees when the oldest counted comment or edit leaves it.
    # (It may be a concurrent one, committed after this statement's `now`.)
    now: datetime = result["now"]
    retry_after = min(window, max(1, math.ceil(window - (now - oldest).total_seconds())))
    return RateLimited(
        f"at most {limit} comments and edits per {window} s from one {who}; "
        f"retry in {retry_after} s",
        retry_after=retry_after,
    )
