"""What every moderation route starts with: who is asking, and for which site."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request

from moderation.errors import BadRequest, NotFound
from moderation.moderators import Moderator, authenticate
from moderation.sites import Site, SiteCache


async def moderator_and_site(request: Request, slug: str | None = None) -> tuple[Moderator, Site]:
    """The authenticated moderator and the site named by `slug` (or `?site=`), theirs only."""
    moderator = await authenticate(request)
    return moderator, await site_of(request, moderator, slug)


async def site_of(request: Request, moderator: Moderator, slug: str | None = None) -> Site:
    """The site named by `slug` (or `?site=`) if it is `moderator`'s; 404 alike otherwise."""
    slug = slug or request.query_params.get("site")
    if not slug:
        raise BadRequest("name the site with ?site=SLUG", field="site")
    try:
        site = await cast(SiteCache, request.state.sites).get(slug)
    except NotFound:
        site = None
    # The same 404 for a missing site and someone else's: no probing for site names.
    moderator.require_site(site.id if site else None)
    assert site is not None
    return site
