"""Moderators: bearer tokens (only their hash is stored) and who may act on what.

Every `/v1/moderation/...` route authenticates through `http.access.authenticate`, and
reaches a site or a comment only through `require_site`, so a token for one site cannot
even learn that another site's comment exists: it gets the same 404 as for a missing one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Literal, cast

import asyncpg

from moderation.db import Connection
from moderation.db import moderators as moderator_queries
from moderation.errors import Forbidden, NotFound

Role = Literal["admin", "moderator"]
TOKEN_PREFIX = "mt_"  # noqa: S105 (a prefix that makes leaked tokens easy to spot)


@dataclass(frozen=True, slots=True)
class Moderator:
    id: int
    name: str
    role: Role
    site_ids: frozenset[int]
    # The credential this moderator was found by, so that a long-lived request (the live
    # feed) can look again and stop once the token is revoked.
    token_hash: bytes = field(repr=False)

    def require_site(self, site_id: int | None, what: str = "site") -> None:
        """404 (never 403) for anything outside this moderator's sites."""
        if site_id is None or site_id not in self.site_ids:
            raise NotFound(f"no such {what}", field=what)

    def require_admin(self) -> None:
        if self.role != "admin":
            raise Forbidden("only site admins may do this", code="admin_only")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    # Tokens are 256 random bits: a fast hash is enough, no salt or stretching needed.
    return hashlib.sha256(token.encode()).digest()


async def create(conn: Connection, name: str, role: Role, site_ids: list[int]) -> tuple[int, str]:
    """A new moderator and their token, which is shown this once and never stored."""
    token = new_token()
    moderator_id = await moderator_queries.create(conn, name, role, hash_token(token), site_ids)
    return moderator_id, token


async def issue_token(conn: Connection, moderator_id: int) -> str:
    """A new token for an existing moderator; the old one stops working at once."""
    token = new_token()
    await moderator_queries.replace_token(conn, moderator_id, hash_token(token))
    return token


async def still_watching(conn: Connection, moderator: Moderator, site_id: int) -> bool:
    """Whether `moderator`'s token still works and still reaches `site_id`."""
    return _reaches(await lookup(conn, moderator.token_hash), site_id)


async def still_in_session(conn: Connection, session_hash: bytes, site_id: int) -> bool:
    """Whether the desk session is still live and its moderator still reaches `site_id`."""
    return _reaches(await in_session(conn, session_hash), site_id)


def _reaches(moderator: Moderator | None, site_id: int) -> bool:
    return moderator is not None and site_id in moderator.site_ids


async def lookup(conn: Connection, token_hash: bytes) -> Moderator | None:
    """The moderator whose current token has this hash; None if unknown or revoked."""
    return _moderator(await moderator_queries.by_token(conn, token_hash))


async def in_session(conn: Connection, session_hash: bytes) -> Moderator | None:
    """The moderator of a live desk session; None once it ended, expired, or its token
    was revoked or re-issued."""
    return _moderator(await moderator_queries.by_session(conn, session_hash))


def _moderator(record: asyncpg.Record | None) -> Moderator | None:
    if record is None:
        return None
    return Moderator(
        id=record["id"],
        name=record["name"],
        role=cast(Role, record["role"]),
        site_ids=frozenset(record["site_ids"]),
        token_hash=bytes(record["token_hash"]),
    )
