"""Moderation statistics: where the automatic policy and moderators disagree."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typing_extensions import TypedDict

from moderation.db import stats as stats_queries
from moderation.http.access import moderator_and_site
from moderation.http.params import query_int
from moderation.http.responses import JSONResponse


class RuleStats(TypedDict):
    rule: str
    automatic: str
    decisions: int
    reviewed: int
    approved_by_moderators: int
    removed_by_moderators: int
    overturned: int


class Stats(TypedDict):
    site: str
    days: int
    rules: list[RuleStats]
    overturned: int


async def stats(request: Request) -> Response:
    """
    summary: Automatic decisions moderators overturned, per rule
    description: >
      For the last `days` days: per rule (a reason with its score left out, such as
      "toxicity ≥ 0.90") and automatic outcome, how many decisions it made, how many
      moderators looked at again, approved, removed, and overturned. A rule that is
      often overturned is a threshold to tune.
    tags: [moderation]
    parameters:
      - {name: site, in: query, required: true, schema: {type: string}}
      - {name: days, in: query, schema: {type: integer, minimum: 1, maximum: 365}}
    responses:
      200:
        description: Per rule and automatic outcome, what moderators made of its decisions
        content: {application/json: {schema: {$ref: '#/components/schemas/Stats'}}}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such site, or not this moderator's"}
    """
    _, site = await moderator_and_site(request)
    days = query_int(request, "days", default=30, low=1, high=365)
    async with request.state.pool.acquire() as conn:
        rows = await stats_queries.overturns(conn, site.id, days)
    rules: list[RuleStats] = [
        {
            "rule": row["rule"],
            "automatic": row["automatic"],
            "decisions": row["decisions"],
            "reviewed": row["reviewed"],
            "approved_by_moderators": row["approved_by_moderators"],
            "removed_by_moderators": row["removed_by_moderators"],
            "overturned": row["overturned"],
        }
        for row in rows
    ]
    body: Stats = {
        "site": site.slug,
        "days": days,
        "rules": rules,
        "overturned": sum(rule["overturned"] for rule in rules),
    }
    return JSONResponse(body)


routes = [Route("/v1/moderation/stats", stats, methods=["GET"])]
