"""What every desk page of a site starts with: who is looking, at which of their sites."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from starlette.requests import Request

from moderation.db import sites as site_queries
from moderation.http.access import site_of
from moderation.moderators import Moderator
from moderation.sites import Site
from moderation.web.desk import sessions


@dataclass(frozen=True, slots=True)
class SitePage:
    """Who is looking at which of their sites, and the sites they can switch to."""

    moderator: Moderator
    site: Site
    sites: list[asyncpg.Record]

    def context(self) -> dict[str, Any]:
        return {"moderator": self.moderator, "site": self.site, "sites": self.sites}


async def site_page(request: Request) -> SitePage:
    """The signed-in moderator and the path's site, if it is theirs (else 404)."""
    moderator = await sessions.require_moderator(request)
    site = await site_of(request, moderator, request.path_params["site"])
    async with request.state.pool.acquire() as conn:
        sites = await site_queries.names(conn, sorted(moderator.site_ids))
    return SitePage(moderator, site, sites)
