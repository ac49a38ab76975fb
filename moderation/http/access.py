"""What every moderation route and desk page starts with: who is asking, for which site;
for the widget's routes, the path's site (and its widget key); and for scoring clients
(Perspective's API), whose key it is."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request

from moderation.errors import BadRequest, NotFound, Unauthorized
from moderation.moderators import Moderator, hash_token, lookup
from moderation.perspective.keys import Client, client_for
from moderation.sites import Site, SiteCache


async def authenticate(request: Request) -> Moderator:
    """The moderator behind the request's bearer token; 401 when missing, wrong or revoked."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send a moderator token as 'Authorization: Bearer <token>'",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    async with request.state.pool.acquire() as conn:
        moderator = await lookup(conn, hash_token(token.strip()))
    if moderator is None:
        raise Unauthorized(
            "the token is not valid (unknown or revoked)",
            field="Authorization",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return moderator


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


async def path_site(request: Request) -> Site:
    """The path's site, as readers' routes (public, no key) find it."""
    return await cast(SiteCache, request.state.sites).get(request.path_params["site"])


async def widget_site(request: Request) -> Site:
    """The path's site, for routes that only its widget may call: 401 without its key."""
    site = await path_site(request)
    site.check_key(request.headers.get("x-site-key"))
    return site


async def scoring_client(request: Request) -> Client:
    """The scoring client behind the request's API key: `?key=` as Perspective's clients
    send it, or the `X-Goog-Api-Key` header; 403 or 429 as `keys.client_for` decides."""
    key = request.query_params.get("key") or request.headers.get("x-goog-api-key")
    return await client_for(request.state.pool, cast(SiteCache, request.state.sites), key)
