"""`GET /metrics`: the API's Prometheus metrics, with pending comments read at each scrape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import structlog
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import metrics as process_metrics
from moderation.db import stats as stats_queries
from moderation.errors import Unauthorized, Unavailable

log = structlog.get_logger(__name__)

# A scrape must answer even while the database does not: then without the pending figures.
_DATABASE_TIMEOUT = 2.0


class PendingComments(Collector):
    """Pending comments and the age of the oldest, per site, as read for one scrape."""

    def __init__(self, rows: list[asyncpg.Record]) -> None:
        self._rows = rows

    def collect(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            "moderation_comments_pending", "Comments awaiting scoring, by site.", labels=["site"]
        )
        oldest = GaugeMetricFamily(
            "moderation_comments_pending_oldest_seconds",
            "How long the oldest pending comment has waited since it became pending (posted, "
            "imported to score, or edited), by site (0 when none waits).",
            labels=["site"],
        )
        for row in self._rows:
            pending.add_metric([row["site"]], row["pending"])
            oldest.add_metric([row["site"]], row["oldest_seconds"])
        yield pending
        yield oldest


async def metrics(request: Request) -> Response:
    """
    summary: Prometheus metrics
    description: >
      Requests by route template and status, comments received and decided, pending
      comments and the age of the oldest, in Prometheus' text format. With
      MODERATION_METRICS_TOKEN set, only `Authorization: Bearer <token>` may read them.
    tags: [operations]
    responses:
      200:
        description: Prometheus text exposition format
        content: {text/plain: {schema: {type: string}}}
      401: {description: Missing or wrong metrics token}
    """
    token = request.state.settings.metrics_token
    if not process_metrics.authorized(
        request.headers.get("authorization"), token.get_secret_value() if token else None
    ):
        raise Unauthorized(
            "a bearer token is required for /metrics",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    extra: list[Collector] = []
    try:
        async with asyncio.timeout(_DATABASE_TIMEOUT):
            async with request.state.pool.acquire() as conn:
                extra.append(PendingComments(await stats_queries.pending(conn)))
    # Without the database the process's own metrics still answer (the pool logs the
    # outage once; it answers Unavailable, not asyncpg's errors).
    except (Unavailable, TimeoutError, asyncpg.PostgresError) as exc:
        log.warning("metrics_pending_unavailable", error=str(exc) or type(exc).__name__)
    return Response(
        process_metrics.exposition(process_metrics.API, *extra), media_type=CONTENT_TYPE_LATEST
    )


routes = [Route("/metrics", metrics, methods=["GET"])]
