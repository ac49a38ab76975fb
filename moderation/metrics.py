"""Prometheus metrics: what the API and the workers count, and how each serves them.

The API serves `GET /metrics`; a worker serves its own on `MODERATION_WORKER_METRICS_PORT`.
Where one command runs several processes (`moderation api --workers N`, a worker's
prefork pool), they share their counts through prometheus-client's multiprocess mode:
the CLI points `PROMETHEUS_MULTIPROC_DIR` at a fresh folder before any of them imports
prometheus-client (the library picks its storage then), and a scrape of any one process
adds up all of them. That is why this module imports prometheus-client only when it
first counts or serves: importing it (the CLI does, through the importer and intake)
decides nothing. Pending comments are not counted here but read from the database at
each scrape (`moderation.routes.metrics`), so every API process reports the same.
"""

from __future__ import annotations

import hmac
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import asyncpg
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from moderation.timing import timed

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

# Seconds, for a whole scoring batch and for each of its phases.
_BATCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ApiInstruments:
    """What the API counts of its requests and intake (the API process only)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        http_labels = ["route", "method", "status"]
        self.requests = Counter(
            "moderation_http_requests_total",
            "HTTP requests, by route template, method and status.",
            http_labels,
        )
        self.request_seconds = Histogram(
            "moderation_http_request_duration_seconds",
            "HTTP request latency (to the end of the response body), by route template, "
            "method and status.",
            http_labels,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.received = Counter(
            "moderation_comments_received_total",
            "Comments accepted for moderation, by site.",
            ["site"],
        )


class DecisionInstruments:
    """Decisions: moderators' in the API, automatic ones in the workers."""

    def __init__(self) -> None:
        from prometheus_client import Counter

        self.decided = Counter(
            "moderation_comments_decided_total",
            "Comments decided, by site, the status they went to and who decided (system or "
            "moderator). Each decision counts once.",
            ["site", "status", "actor"],
        )


class ScoringInstruments:
    """What a worker counts of its scoring (worker processes only)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.reasons = Counter(
            "moderation_decision_reasons_total",
            "The rules behind automatic decisions, by site, status and rule (a reason with "
            "its scores, counts and details taken out). A decision with two reasons counts "
            "under both.",
            ["site", "status", "reason"],
        )
        self.batch_size = Histogram(
            "moderation_scoring_batch_size",
            "Comments claimed per scoring batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        self.batch_seconds = Histogram(
            "moderation_scoring_batch_duration_seconds",
            "Time from claiming a batch to committing its decisions.",
            buckets=_BATCH_BUCKETS,
        )
        self.batch_phase_seconds = Histogram(
            "moderation_scoring_batch_phase_seconds",
            "A scoring batch's time by phase: claim (the lease and what scoring needs to "
            "know, read from PostgreSQL), score (the models and the policy), write (scores "
            "and decisions committed).",
            ["phase"],
            buckets=_BATCH_BUCKETS,
        )
        self.model_info = Gauge(
            "moderation_model_info",
            "The toxicity models a worker process scores with (1 per model), and what each "
            "runs on.",
            ["model", "version", "device", "dtype", "backend"],
            # Only live processes: a model a stopped worker had is no longer in service.
            multiprocess_mode="livemax",
        )


# Each group is registered on first use, so a process reports only what it can count:
# the API's /metrics has no scoring histograms stuck at zero, a worker's no HTTP ones.
api_instruments = cache(ApiInstruments)
decision_instruments = cache(DecisionInstruments)
scoring_instruments = cache(ScoringInstruments)

# What each kind of process reports from its start, before it has counted anything.
API: tuple[Callable[[], object], ...] = (api_instruments, decision_instruments)
WORKER: tuple[Callable[[], object], ...] = (scoring_instruments, decision_instruments)


# How a reason becomes its rule, rewrite by rewrite: its details in brackets, its score
# and its count taken out ("toxicity 0.93 ≥ 0.90" is "toxicity ≥ 0.90", "3 links (site
# pre-moderates links)" is "links"), so that a rule is a label of few values. Patterns
# that Python and PostgreSQL read alike: `moderation.db.stats.overturns` groups reasons
# by these very ones, so the dashboard and the desk's statistics name rules alike.
RULE_REWRITES: tuple[tuple[str, str], ...] = (
    (r" \(.*\)$", ""),
    (r" [0-9]+(\.[0-9]+)? ≥", " ≥"),
    (r"^[0-9]+ links?$", "links"),
)
_RULE_REWRITES = tuple((re.compile(pattern), by) for pattern, by in RULE_REWRITES)


def rule(reason: str) -> str:
    for pattern, by in _RULE_REWRITES:
        reason = pattern.sub(by, reason)
    return reason


def count_received(site: str) -> None:
    api_instruments().received.labels(site=site).inc()


class DecidedChange(Protocol):
    """What counting needs of a status change (`moderation.db.transitions.Change`)."""

    @property
    def comment_id(self) -> int: ...

    @property
    def reasons(self) -> Sequence[str]: ...

    @property
    def moderator_id(self) -> int | None: ...


def count_decisions(applied: Iterable[asyncpg.Record], changes: Iterable[DecidedChange]) -> None:
    """Count the applied changes (rows of `transition`) once their transaction committed."""
    by_id = {change.comment_id: change for change in changes}
    for row in applied:
        change = by_id[row["id"]]
        actor = "system" if change.moderator_id is None else "moderator"
        decision_instruments().decided.labels(
            site=row["site"], status=row["status"], actor=actor
        ).inc()
        # Moderators' reasons are free text: as labels they would never stop growing.
        if change.moderator_id is None:
            for reason in change.reasons:
                scoring_instruments().reasons.labels(
                    site=row["site"], status=row["status"], reason=rule(reason)
                ).inc()


def observe_batch(claimed: int, phases: dict[str, float], elapsed: float) -> None:
    """One scoring batch: its size, its seconds from claim to commit, and its seconds in
    each phase (claim, score, write; a worker overlaps one batch's with the next's)."""
    counted = scoring_instruments()
    counted.batch_size.observe(claimed)
    counted.batch_seconds.observe(elapsed)
    for phase, seconds in phases.items():
        counted.batch_phase_seconds.labels(phase).observe(seconds)


class Runtime(Protocol):
    """Where a model runs (`moderation.scoring.hardware.Runtime`)."""

    @property
    def device(self) -> str: ...

    @property
    def dtype(self) -> str: ...

    @property
    def backend(self) -> str: ...


class Model(Protocol):
    """What model info needs of a toxicity model (`moderation.scoring.scorer.ToxicityScorer`)."""

    name: str
    version: str

    @property
    def runtime(self) -> Runtime | None: ...


def set_models(models: Iterable[Model]) -> None:
    """Publish the models this process scores with, and what each runs on.

    The development keyword scorer has no runtime: it shows as backend "keywords".
    """
    for model in models:
        runtime = model.runtime
        scoring_instruments().model_info.labels(
            model=model.name,
            version=model.version,
            device=runtime.device if runtime else "cpu",
            dtype=runtime.dtype if runtime else "none",
            backend=runtime.backend if runtime else "keywords",
        ).set(1)


def process_stopped(pid: int) -> None:
    """Forget a stopped process's live gauges (multiprocess mode only)."""
    if _shared_directory():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def exposition(groups: Iterable[Callable[[], object]], *extra: Collector) -> bytes:
    """Everything this process (or, in multiprocess mode, its group) reports, as text;
    `groups` (`API` or `WORKER`) are reported even before anything was counted."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

    for group in groups:
        group()
    if _shared_directory():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if extra:
        registry = CollectorRegistry()
        for collector in extra:
            registry.register(collector)
        body += generate_latest(registry)
    return body


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an `Authorization` header carries the metrics token (any, when none is set)."""
    if token is None:
        return True
    scheme, _, credentials = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.encode(), token.encode())


def _shared_directory() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


class MetricsMiddleware:
    """Counts and times every HTTP request by the template of the route that served it.

    The template ("/v1/sites/{site}/articles/{article}/comments"), never the raw path:
    ids in paths would make a label per comment. Requests no route matched share one
    label, "unmatched", for the same reason.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Before routing: a Mount extends root_path in this same scope (see `_template`).
        root = scope.get("root_path", "")

        def count(status: int, seconds: float) -> None:
            labels = {
                "route": _template(scope, root),
                "method": scope["method"],
                "status": str(status),
            }
            counted = api_instruments()
            counted.requests.labels(**labels).inc()
            counted.request_seconds.labels(**labels).observe(seconds)

        await timed(self.app, scope, receive, send, count)


# "{article:path}" reads as "{article}": the convertor says how to match, not what it is.
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def _template(scope: Scope, root: str) -> str:
    # Routers record the route they chose in the scope; a Mount (the desk) extends
    # root_path by its own path on the way in, so the two make the whole template.
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    mounted: str = scope.get("root_path", "")[len(root) :]
    # Still the Mount itself: nothing inside it matched (or it serves an app without
    # routes), and the rest of the path is anything at all.
    template = mounted + ("/{path}" if isinstance(route, Mount) else path)
    return _CONVERTOR.sub(r"{\1}", template)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line each."""


def serve(host: str, port: int, token: str | None) -> WSGIServer:
    """Serve this worker's metrics (its pool's) at http://host:port/metrics from a thread."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return iter([b"metrics are at /metrics\n"])
        if not authorized(environ.get("HTTP_AUTHORIZATION"), token):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
            )
            return iter([b"a bearer token is required (MODERATION_METRICS_TOKEN)\n"])
        from prometheus_client import CONTENT_TYPE_LATEST

        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return iter([exposition(WORKER)])

    server = make_server(host, port, app, _Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
