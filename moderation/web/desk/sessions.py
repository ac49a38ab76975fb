"""Moderator desk sessions: a signed cookie naming a session kept on the server, and CSRF.

The cookie is Starlette's `SessionMiddleware` (signed with itsdangerous, HttpOnly,
SameSite=Lax, Secure unless turned off for local http, path `/desk` only, so the
public API never sees it). It holds two things: a random session id, and the session's
CSRF token. The session itself is a row (`desk_sessions`, keyed by the id's hash) looked
up on every request, and by the live feed before every read: signing out deletes it, so
a copy of the cookie is worth nothing afterwards and its open feed ends; revoking or
re-issuing the moderator's token ends it too; and it expires with the cookie. The
cookie cannot be forged or altered without the server's secret.

Lax rather than Strict: a moderator following a link to a comment from chat or mail
arrives signed in. That is safe because no GET changes anything, and every request that
does must carry the session's CSRF token (a form field or the `X-CSRF-Token` header),
which another site can neither read nor guess.
"""

from __future__ import annotations

import hmac
import os
import secrets
from functools import partial
from pathlib import Path

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from moderation import events, moderators
from moderation.config import Settings
from moderation.db import moderators as moderator_queries
from moderation.errors import Forbidden, Unauthorized
from moderation.moderators import Moderator

COOKIE = "desk_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SESSION = "session"
_CSRF = "csrf"


def middleware(settings: Settings, path: str) -> Middleware:
    """The session cookie for the desk mounted at `path`; the settings must hold a secret."""
    assert settings.session_secret is not None
    return Middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        session_cookie=COOKIE,
        max_age=settings.session_max_age_seconds,
        path=path,
        same_site="lax",
        https_only=settings.session_cookie_secure,
    )


async def sign_in(request: Request, token: str) -> Moderator | None:
    """Start a session for the moderator holding `token`; None if it is unknown or revoked."""
    token_hash = moderators.hash_token(token.strip())
    session_id = secrets.token_urlsafe(32)
    max_age = request.state.settings.session_max_age_seconds
    async with request.state.pool.acquire() as conn:
        moderator = await moderators.lookup(conn, token_hash)
        if moderator is None or not await moderator_queries.start_session(
            conn, moderators.hash_token(session_id), token_hash, max_age
        ):
            return None
    # A fresh session and CSRF token: nothing set before sign-in carries over.
    request.session.clear()
    request.session.update({_SESSION: session_id, _CSRF: secrets.token_urlsafe(32)})
    return moderator


async def sign_out(request: Request) -> None:
    """End the session on the server, then forget the cookie."""
    session_hash = _session_hash(request)
    if session_hash is not None:
        async with request.state.pool.acquire() as conn:
            await moderator_queries.end_session(conn, session_hash)
    request.session.clear()


async def signed_in(request: Request) -> Moderator | None:
    """The session's moderator, looked up again now; None once the session has ended."""
    session_hash = _session_hash(request)
    if session_hash is None:
        return None
    async with request.state.pool.acquire() as conn:
        moderator = await moderators.in_session(conn, session_hash)
    if moderator is None:
        request.session.clear()
    return moderator


def still_signed_in(request: Request, site_id: int) -> events.StillAllowed:
    """For a request `require_moderator` let in that goes on (the live feed): whether its
    session is still live and still reaches `site_id`, to ask again and again."""
    session_hash = _session_hash(request)
    assert session_hash is not None
    return partial(moderators.still_in_session, session_hash=session_hash, site_id=site_id)


def _session_hash(request: Request) -> bytes | None:
    """How `desk_sessions` knows the cookie's session; None without one."""
    session_id = request.session.get(_SESSION)
    return moderators.hash_token(session_id) if isinstance(session_id, str) else None


async def require_moderator(request: Request) -> Moderator:
    """The signed-in moderator, or `Unauthorized` (pages turn it into the sign-in page)."""
    moderator = await signed_in(request)
    if moderator is None:
        raise Unauthorized("sign in to the desk first", code="signed_out")
    return moderator


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the sign-in form needs one too)."""
    token = request.session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


def check_csrf(request: Request, supplied: str | None) -> None:
    """`Forbidden` unless `supplied` is this session's CSRF token."""
    expected = request.session.get(_CSRF)
    if (
        not isinstance(expected, str)
        or not supplied
        or not hmac.compare_digest(expected.encode(), supplied.encode())
    ):
        raise Forbidden(
            "the request did not carry this session's CSRF token; reload the page",
            field=CSRF_HEADER,
            code="csrf_failed",
        )


def stored_secret(path: Path) -> str:
    """The secret kept in `path`, made on first use and readable by its owner only.

    For `moderation dev`: sessions then survive restarts of the local instance.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process made it first: theirs is the secret.
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(secret)
    return secret
