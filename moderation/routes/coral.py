"""Coral's external moderation phase: `POST /v1/integrations/coral/phase?site=SLUG`."""

from __future__ import annotations

import time
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation.db import perspective as perspective_queries
from moderation.errors import BadRequest, NotFound, Unauthorized
from moderation.http.bodies import json_of, read_body, require_json
from moderation.http.responses import JSONResponse
from moderation.payloads import parse
from moderation.perspective import coral
from moderation.perspective.analyzer import Analyzer
from moderation.sites import Site, SiteCache


async def phase(request: Request) -> Response:
    """
    summary: Coral's external moderation phase
    description: >
      Takes Coral's ExternalModerationRequest, signed in X-Coral-Signature with a secret
      from `moderation coral secret --site SLUG`, scores the comment and answers by the
      site's policy: 204 when it passes, else `{"status": "REJECTED"|"SYSTEM_WITHHELD",
      "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"|
      "COMMENT_DETECTED_SPAM"}]}`. Without a valid signature, 401 whatever the body.
    tags: [coral]
    parameters:
      - {name: site, in: query, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/ExternalModerationRequest'}
    responses:
      200: {description: The comment is held or rejected}
      204: {description: The comment passes; Coral goes on with its own phases}
      401: {description: No valid X-Coral-Signature (or an unknown site)}
      503: {description: No worker answered in time}
    """
    slug = request.query_params.get("site")
    if not slug:
        raise BadRequest("name the site with ?site=SLUG", field="site")
    body = await read_body(request, request.state.settings.max_request_bytes)
    site = await _signed_for(request, slug, body)
    require_json(request)
    moderation = parse(coral.ExternalModerationRequest, json_of(body))
    text = moderation.comment.body
    if not text.strip():
        return Response(status_code=204)
    started = time.perf_counter()
    answer = await cast(Analyzer, request.state.analyzer).analyze(text, None)
    latency_ms = (time.perf_counter() - started) * 1000
    async with request.state.pool.acquire() as conn:
        await perspective_queries.record_analysis(
            conn,
            site.id,
            None,
            "coral",
            answer.model,
            answer.language,
            answer.scores,
            latency_ms,
            text if site.settings.analyze_keep_text else None,
        )
    verdict = coral.verdict(site.settings, moderation, answer)
    if verdict is None:
        return Response(status_code=204)
    return JSONResponse(verdict)


async def _signed_for(request: Request, slug: str, body: bytes) -> Site:
    """The site, if the body is signed with one of its secrets; 401 alike otherwise (an
    unknown site too: nobody learns which sites exist)."""
    try:
        site: Site | None = await cast(SiteCache, request.state.sites).get(slug)
    except NotFound:
        site = None
    valid: list[str] = []
    if site is not None:
        async with request.state.pool.acquire() as conn:
            valid = await perspective_queries.coral_secrets(conn, site.id)
    if site is None or not coral.signed(body, request.headers.get(coral.SIGNATURE_HEADER), valid):
        raise Unauthorized(
            f"{coral.SIGNATURE_HEADER} does not sign this body with a secret of this site",
            field=coral.SIGNATURE_HEADER,
        )
    return site


routes = [Route("/v1/integrations/coral/phase", phase, methods=["POST"])]
