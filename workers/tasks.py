"""Celery tasks: thin wrappers around scoring, the sweep, retraining, retention and
webhook delivery."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import structlog
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown

from moderation import logs, metrics, privacy, webhooks
from moderation.broker import (
    DELIVER_WEBHOOKS_TASK,
    RETENTION_TASK,
    RETRAIN_TASK,
    SCORE_TASK,
    SCORING_QUEUE,
    SWEEP_TASK,
)
from moderation.config import get_settings
from moderation.db import scoring as scoring_queries
from moderation.scoring.retrain import retrain_spam as retrain
from workers import runtime
from workers.celery_app import create_celery

log = structlog.get_logger(__name__)
settings = get_settings()
app = create_celery(settings)


# A pool process that cannot load its models tells the main process why through this
# pipe, made here before the pool forks, and stops it: Celery would log the signal
# handler's error and keep the process taking tasks it can only fail.
_refusals = os.pipe()
os.set_blocking(_refusals[0], False)


def refusal() -> str | None:
    """Why a pool process refused to start, if one did (read by the main process)."""
    try:
        said = os.read(_refusals[0], 4096)
    except BlockingIOError:
        return None
    return said.decode(errors="replace").splitlines()[0] if said else None


@worker_process_init.connect
def _start_runtime(**_: Any) -> None:
    logs.configure(settings)
    try:
        models = runtime.start(settings).models()
    except Exception as exc:  # whatever it is, this process cannot score
        reason = (str(exc) or type(exc).__name__).splitlines()[0]
        log.error("worker_refused", error=str(exc))
        os.write(_refusals[1], f"{reason}\n".encode()[:512])
        os.kill(os.getppid(), signal.SIGTERM)
        os._exit(1)
    log.info("worker_ready", models=models)
    if settings.worker_ready_file is not None:
        # Written whole, then renamed: a reader never sees half of it.
        partial = settings.worker_ready_file.with_name(f".{os.getpid()}.ready")
        partial.write_text(json.dumps({"pid": os.getpid(), "models": models}))
        partial.replace(settings.worker_ready_file)


@worker_process_shutdown.connect
def _stop_runtime(**_: Any) -> None:
    runtime.stop()
    metrics.process_stopped(os.getpid())


@worker_shutdown.connect
def _no_longer_ready(**_: Any) -> None:
    if settings.worker_ready_file is not None:
        settings.worker_ready_file.unlink(missing_ok=True)


@app.task(name=SCORE_TASK)
def score_comments(comment_ids: list[int]) -> int:
    """Wake-up: score pending comments, the given ones first. Returns how many were decided."""
    worker = runtime.current()
    return worker.run(worker.score(comment_ids))


@app.task(name=SWEEP_TASK)
def sweep_pending() -> int:
    """Re-queue comments left pending too long (a lost message, a dead worker)."""
    worker = runtime.current()

    async def overdue() -> list[int]:
        async with worker.pool.acquire() as conn:
            return await scoring_queries.overdue(conn, settings.sweep_after_seconds, 10_000)

    ids = worker.run(overdue())
    size = worker.scorer.claim_size
    for start in range(0, len(ids), size):
        score_comments.apply_async(args=(ids[start : start + size],), queue=SCORING_QUEUE)
    if ids:
        log.info("sweep_requeued", comments=len(ids))
    return len(ids)


@app.task(name=RETRAIN_TASK)
def retrain_spam() -> list[int]:
    """Retrain the spam classifier of each site with new labels since its last one (its
    moderators' decisions, scoring clients' SPAM labels) or whose newest model this
    release cannot load; the new models' ids."""
    worker = runtime.current()
    return worker.run(retrain(worker.pool))


@app.task(name=RETENTION_TASK)
def apply_retention() -> int:
    """Clear client addresses and user agents past each site's retention; forget old
    webhook events. Returns how many rows were cleared."""
    worker = runtime.current()

    async def run() -> int:
        async with worker.pool.acquire() as conn:
            cleared = await privacy.apply_retention(conn)
            forgotten = await webhooks.forget_old(conn, settings)
        log.info("retention_applied", cleared=cleared, webhook_events_forgotten=forgotten)
        return cleared

    return worker.run(run())


@app.task(name=DELIVER_WEBHOOKS_TASK)
def deliver_webhooks() -> int:
    """Wake-up: send every webhook delivery that is due. Returns the attempts made."""
    worker = runtime.current()
    return worker.run(webhooks.deliver_due(worker.pool, settings))
