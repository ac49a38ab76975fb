"""Moderation routes on a site: its settings (admins), and its articles' state, title and
address."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import articles, sites
from moderation.articles import ArticleIn
from moderation.http.access import moderator_and_site
from moderation.http.bodies import read_json, read_payload
from moderation.http.params import path_article
from moderation.http.responses import JSONResponse
from moderation.sites import SiteCache, SiteDocument


async def get_settings(request: Request) -> Response:
    """
    summary: A site's settings (admins)
    tags: [moderation]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
    responses:
      200:
        description: "The policy (thresholds, premod, word lists, limits...) and origins"
        content: {application/json: {schema: {$ref: '#/components/schemas/SiteDocument'}}}
      401: {description: Missing, wrong or revoked token}
      403: {description: Not an admin}
      404: {description: "No such site, or not this moderator's"}
    """
    moderator, site = await moderator_and_site(request, request.path_params["site"])
    moderator.require_admin()
    return JSONResponse(SiteDocument.of(site).model_dump(mode="json"))


async def write_settings(request: Request) -> Response:
    """
    summary: Replace (PUT) or change (PATCH) a site's settings (admins)
    description: >
      PUT sends the whole document, as GET returns it: an omitted field takes its
      default, and a partial `thresholds` overrides only the labels it names. PATCH
      sends part of it: the fields it names change (`thresholds` label by label, each
      label with its `hold` and `reject`), every other setting stays as it is. Either is
      in effect for the next scored comment and recorded with the admin's name.
    tags: [moderation]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/SiteDocument'}
    responses:
      200:
        description: The settings now in effect
        content: {application/json: {schema: {$ref: '#/components/schemas/SiteDocument'}}}
      401: {description: Missing, wrong or revoked token}
      403: {description: Not an admin}
      404: {description: "No such site, or not this moderator's"}
      422: {description: "An invalid setting, named in `field`"}
    """
    moderator, site = await moderator_and_site(request, request.path_params["site"])
    moderator.require_admin()
    body = await read_json(request, request.state.settings.max_request_bytes)
    partial = request.method == "PATCH"
    async with request.state.pool.acquire() as conn:
        updated = await sites.write_settings(conn, site.slug, body, moderator.id, partial=partial)
    cast(SiteCache, request.state.sites).forget(site.slug)
    return JSONResponse(SiteDocument.of(updated).model_dump(mode="json"))


async def put_article(request: Request) -> Response:
    """
    summary: Open or close an article, or correct its title or address
    description: >
      Changes the fields it names, creating the article if no comment has yet. This is
      how a site corrects an article's title or page address: a reader's comment only
      fills in those the article lacks. `url` must be an http(s) address on one of the
      site's allowed origins (any, where it allows none).
    tags: [moderation]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: article, in: path, required: true, schema: {type: string, maxLength: 200}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/ArticleIn'}
    responses:
      200:
        description: The article's state now
        content: {application/json: {schema: {$ref: '#/components/schemas/ArticleState'}}}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such site, or not this moderator's"}
      422: {description: "Nothing to change, an invalid field, or a `url` off the site's origins"}
    """
    moderator, site = await moderator_and_site(request, request.path_params["site"])
    article = path_article(request)
    wanted = await read_payload(request, ArticleIn)
    async with request.state.pool.acquire() as conn:
        state = await articles.change(conn, site, moderator.id, article, wanted)
    return JSONResponse(state)


routes = [
    Route("/v1/moderation/sites/{site}/settings", get_settings, methods=["GET"]),
    Route("/v1/moderation/sites/{site}/settings", write_settings, methods=["PUT", "PATCH"]),
    Route("/v1/moderation/sites/{site}/articles/{article:path}", put_article, methods=["PUT"]),
]
