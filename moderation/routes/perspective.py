"""Perspective's API, served here: `comments:analyze`, `comments:suggestscore` and the
discovery document. Errors come in Google's shape, which Perspective clients read."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation.db import perspective as perspective_queries
from moderation.errors import ModerationError, NotFound
from moderation.http.access import scoring_client
from moderation.http.bodies import read_payload
from moderation.http.errors import google_error
from moderation.http.responses import JSONResponse
from moderation.perspective import discovery
from moderation.perspective.analyzer import Analyzer
from moderation.perspective.api import AnalyzeIn, SuggestIn, SuggestOut, analyze_response

Endpoint = Callable[[Request], Awaitable[Response]]


def _google_errors(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ModerationError as exc:
            return google_error(exc)

    return answer


@_google_errors
async def analyze(request: Request) -> Response:
    """
    summary: Score a comment, as Perspective's comments:analyze does
    description: >
      The API key comes as `?key=` or `X-Goog-Api-Key`. Attributes: TOXICITY,
      SEVERE_TOXICITY, IDENTITY_ATTACK, INSULT, PROFANITY, THREAT, SEXUALLY_EXPLICIT
      (where the model has it) and SPAM. With `doNotStore` nothing of the request is kept;
      otherwise a scoring record is (the text only if the site keeps texts). Errors are
      Google's `{"error": {"code", "message", "status"}}`.
    tags: [perspective]
    x-errors: GoogleError
    parameters:
      - {name: key, in: query, schema: {type: string}}
      - {name: X-Goog-Api-Key, in: header, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/AnalyzeIn'}
    responses:
      200:
        description: The scores of the requested attributes
        content: {application/json: {schema: {$ref: '#/components/schemas/AnalyzeOut'}}}
      400: {description: "INVALID_ARGUMENT: unknown attribute, empty text, language not covered"}
      403: {description: "PERMISSION_DENIED: missing, unknown or revoked key"}
      429: {description: "RESOURCE_EXHAUSTED: the key's quota is spent; see Retry-After"}
      503: {description: "UNAVAILABLE: no worker took the request in time"}
      504: {description: "DEADLINE_EXCEEDED: a worker took it but did not finish in time"}
    """
    client = await scoring_client(request)
    body = await read_payload(request, AnalyzeIn)
    text = body.comment.plain()
    started = time.perf_counter()
    answer = await cast(Analyzer, request.state.analyzer).analyze(text, body.language())
    latency_ms = (time.perf_counter() - started) * 1000
    response = analyze_response(body, text, answer)
    if not body.doNotStore:
        async with request.state.pool.acquire() as conn:
            await perspective_queries.record_analysis(
                conn,
                client.site.id,
                client.key_id,
                "analyze",
                answer.model,
                answer.language,
                answer.scores,
                latency_ms,
                text if client.site.settings.analyze_keep_text else None,
            )
    return JSONResponse(response)


@_google_errors
async def suggest_score(request: Request) -> Response:
    """
    summary: Label a comment, as Perspective's comments:suggestscore does
    description: >
      Stores each `attributeScores.<ATTR>.summaryScore.value` (0 to 1) with the text as
      training data of the key's site: SPAM labels join the spam classifier's next
      retraining; the others are kept for threshold calibration and stats. ATTR is an
      attribute analyze scores, or Coral's moderation feedback: APPROVED, DELETED,
      HIGHLIGHTED.
    tags: [perspective]
    x-errors: GoogleError
    parameters:
      - {name: key, in: query, schema: {type: string}}
      - {name: X-Goog-Api-Key, in: header, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/SuggestIn'}
    responses:
      200:
        description: Stored
        content: {application/json: {schema: {$ref: '#/components/schemas/SuggestOut'}}}
      400: {description: "INVALID_ARGUMENT: unknown attribute, empty text"}
      403: {description: PERMISSION_DENIED}
      429: {description: RESOURCE_EXHAUSTED}
    """
    client = await scoring_client(request)
    body = await read_payload(request, SuggestIn)
    text = body.comment.plain()
    labels = [(name, score.summaryScore.value) for name, score in body.attributeScores.items()]
    async with request.state.pool.acquire() as conn:
        await perspective_queries.add_labels(
            conn,
            client.site.id,
            client.key_id,
            labels,
            text,
            body.language(),
            body.clientToken,
            body.communityId,
        )
    response: SuggestOut = {"requestedLanguages": body.languages}
    if body.clientToken is not None:
        response["clientToken"] = body.clientToken
    return JSONResponse(response)


@_google_errors
async def discovery_document(request: Request) -> Response:
    """
    summary: Perspective's discovery document, pointing at this service
    description: >
      What Google's client libraries build a `commentanalyzer` v1alpha1 client from;
      its `rootUrl` is MODERATION_PUBLIC_URL, else the URL this request came to.
    tags: [perspective]
    x-errors: GoogleError
    parameters:
      - {name: version, in: query, schema: {type: string, enum: [v1alpha1]}}
    responses:
      200:
        description: A discovery document (discovery#restDescription)
        content: {application/json: {schema: {type: object}}}
      404: {description: Another version}
    """
    version = request.query_params.get("version", discovery.VERSION)
    if version != discovery.VERSION:
        raise NotFound(
            f"Discovery document not found for API service: {discovery.NAME} {version[:32]}"
        )
    root = request.state.settings.public_url or str(request.base_url)
    return JSONResponse(discovery.document(root.rstrip("/") + "/"))


routes = [
    Route("/v1alpha1/comments:analyze", analyze, methods=["POST"]),
    Route("/v1alpha1/comments:suggestscore", suggest_score, methods=["POST"]),
    Route("/$discovery/rest", discovery_document, methods=["GET"]),
]
