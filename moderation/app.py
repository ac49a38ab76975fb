"""The ASGI application: assembles routes, middleware and the lifespan, nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from moderation import db, logs
from moderation.broker import ScoringWakeups, celery_app, publisher
from moderation.config import Settings, get_settings
from moderation.db.listen import Listener
from moderation.events import EventHub
from moderation.http.characters import ControlCharacters
from moderation.http.cors import SiteCORSMiddleware
from moderation.http.errors import EXCEPTION_HANDLERS
from moderation.http.hosts import TrustedHosts
from moderation.metrics import MetricsMiddleware
from moderation.perspective.analyzer import Analyzer
from moderation.routes import (
    authors,
    coral,
    docs,
    events,
    health,
    metrics,
    own_comments,
    perspective,
    privacy,
    public,
    review,
    site_admin,
    stats,
    webhooks,
)
from moderation.sites import SiteCache
from moderation.threads import PageCache
from moderation.web import widget
from moderation.web.desk.app import PATH as DESK_PATH
from moderation.web.desk.app import create_desk


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        pool = await db.open_database(settings)
        scoring = ScoringWakeups(publisher(celery_app(settings)) if settings.broker_url else None)
        listener = Listener(str(settings.database_url))
        hub = EventHub(listener)
        analyzer = Analyzer(settings.broker_url, settings.analyze_timeout_seconds)
        analyzer.attach(listener)
        listener.start()
        senders = [asyncio.create_task(scoring.run()), asyncio.create_task(analyzer.run())]
        try:
            yield {
                "settings": settings,
                "pool": pool,
                "sites": SiteCache(pool, settings.site_cache_seconds),
                "pages": PageCache(),
                "scoring": scoring,
                "events": hub,
                "analyzer": analyzer,
            }
        finally:
            for sender in senders:
                sender.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
            await listener.stop()
            await pool.close()

    # Outermost first: metrics and the access log see every response, errors included;
    # nothing after them reads a URL with a control character in it. Probes and scrapes
    # come by address, not by name: their paths skip the Host check.
    probes = [route.path for route in (*health.routes, *metrics.routes)]
    middleware = [
        Middleware(MetricsMiddleware),
        Middleware(ControlCharacters),
        Middleware(TrustedHosts, allowed_hosts=settings.allowed_hosts, exempt=probes),
        Middleware(SiteCORSMiddleware),
    ]
    if settings.access_log:
        middleware.insert(1, Middleware(logs.AccessLogMiddleware))
    return Starlette(
        routes=[
            *health.routes,
            *metrics.routes,
            *docs.routes,
            *own_comments.routes,
            *public.routes,
            *review.routes,
            *authors.routes,
            *privacy.routes,
            *webhooks.routes,
            *site_admin.routes,
            *events.routes,
            *stats.routes,
            *perspective.routes,
            *coral.routes,
            *widget.routes,
            Mount(DESK_PATH, app=create_desk(settings)),
        ],
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
