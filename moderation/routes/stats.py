"""Moderation statistics: where the automatic policy and moderators disagree."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation.db import stats as stats_queries
from moderation.http.access import moderator_and_site
from moderation.http.params import query_int
from moderation.http.responses import JSONResponse

_FIELDS = (
    "decisions",
    "reviewed",
    "approved_by_moderators",
    "removed_by_moderators",
    "overturned",
)


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
      200: {description: "`{site, days, rules: [...], overturned}`"}
      401: {description: Missing, wrong or revoked token}
      404: {description: "No such site, or not this moderator's"}
    """
    _, site = await moderator_and_site(request)
    days = query_int(request, "days", default=30, low=1, high=365)
    async with request.state.pool.acquire() as conn:
        rows = await stats_queries.overturns(conn, site.id, days)
    rules = [
        {"rule": row["rule"], "automatic": row["automatic"], **{f: row[f] for f in _FIELDS}}
        for row in rows
    ]
    return JSONResponse(
        {
            "site": site.slug,
            "days": days,
            "rules": rules,
            "overturned": sum(rule["overturned"] for rule in rules),
        }
    )


routes = [Route("/v1/moderation/stats", stats, methods=["GET"])]
