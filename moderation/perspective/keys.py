"""Scoring clients' API keys: shown once, stored as a hash, each bound to one site.

A key is all a Perspective client sends (`?key=` or `X-Goog-Api-Key`), so the key alone
says whose site a request counts for: its policy, quota, records and labels. Each key
has its own quota, the site's `analyze_requests_per_minute`.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from moderation.db import Connection, Database
from moderation.db import perspective as perspective_queries
from moderation.errors import Forbidden, RateLimited
from moderation.moderators import hash_token
from moderation.sites import Site, SiteCache, load_site

KEY_PREFIX = "ak_"


@dataclass(frozen=True, slots=True)
class Client:
    """Who sent a scoring request: the key's id and the site it belongs to."""

    key_id: int
    site: Site


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create(conn: Connection, site_slug: str, name: str | None = None) -> tuple[int, str]:
    """A new key for the site: its id, and the key itself, shown this once."""
    site = await load_site(conn, site_slug)
    key = new_key()
    key_id = await perspective_queries.create_key(
        conn, site.id, name or f"{site_slug} scoring client", hash_token(key)
    )
    return key_id, key


async def client_for(pool: Database, sites: SiteCache, key: str | None) -> Client:
    """The client behind `key`, one request taken from its quota.

    403 for a missing, unknown or revoked key (as Perspective answers), 429 once the
    key's quota is spent.
    """
    if not key:
        raise Forbidden(
            "The request is missing a valid API key.", field="key", code="permission_denied"
        )
    async with pool.acquire() as conn:
        record = await perspective_queries.key_by_hash(conn, hash_token(key))
    if record is None:
        raise Forbidden(
            "API key not valid. Please pass a valid API key.",
            field="key",
            code="permission_denied",
        )
    site = await sites.get(record["slug"])
    per_minute = site.settings.analyze_requests_per_minute
    if per_minute:
        async with pool.acquire() as conn:
            taken = await perspective_queries.take_quota(conn, record["id"], per_minute)
        if not taken:
            raise RateLimited(
                f"Quota exceeded: this key may send {per_minute} requests per minute.",
                retry_after=math.ceil(60 / per_minute),
                field="key",
            )
    return Client(record["id"], site)
