"""What a worker process holds for its life: an event loop, a pool, the scorer and the
analyze server (a thread answering scoring clients with the same scorer).

Started by `worker_process_init` (models load once per process, never per task) and
closed by `worker_process_shutdown`. Tasks are synchronous (Celery's prefork pool); they
run the async query layer on this process's own loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import asyncpg
import structlog
import torch

from moderation import db, metrics
from moderation.config import Settings
from moderation.errors import DatabaseUnavailable, ModelMissing
from moderation.scoring import batch, hardware
from moderation.scoring.dev import KeywordToxicity
from moderation.scoring.language import detect
from moderation.scoring.scorer import Scorer, ToxicityScorer
from moderation.scoring.site_spam import SiteSpamModels
from moderation.scoring.spam import SpamClassifier
from moderation.scoring.toxicity import ToxicityModel, require_model
from workers.analyze import AnalyzeServer

log = structlog.get_logger(__name__)
T = TypeVar("T")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        # No connection is opened up front: a worker started while PostgreSQL is down (or
        # before it, as compose may start them) comes up, and its tasks meet the outage.
        self.pool: asyncpg.Pool = self.loop.run_until_complete(
            db.create_pool(settings.model_copy(update={"db_pool_min": 0, "db_pool_max": 2}))
        )
        toxicity = load_toxicity(settings)
        self.scorer = Scorer(
            toxicity,
            SiteSpamModels(SpamClassifier.seed()),
            detect,
            claim_size=claim_size(settings, toxicity),
        )
        log.info("scorer_ready", **describe(self.scorer))
        metrics.set_models(toxicity.values())
        self.analyze_server = AnalyzeServer(settings, self.scorer)
        self.analyze_server.start()
        self.outage = db.Outage("database")

    def models(self) -> list[str]:
        """The toxicity models this process scores with, as `name@version`."""
        return [f"{model.name}@{model.version}" for model in self.scorer.toxicity.values()]

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a task's work on this process's loop. An outage of PostgreSQL leaves as
        `DatabaseUnavailable`, an expected failure, and is logged once while it lasts."""
        try:
            done = self.loop.run_until_complete(work)
        except db.OUTAGE as exc:
            self.outage.began(exc)
            raise DatabaseUnavailable(
                f"the database is not reachable ({type(exc).__name__}); a later task retries"
            ) from exc
        self.outage.ended()
        return done

    async def score(self, hinted: Sequence[int]) -> int:
        return await batch.score_pending(self.pool, self.scorer, self.settings, hinted)

    def close(self) -> None:
        self.analyze_server.stop()
        self.run(self.pool.close())
        self.loop.close()


def check_models(settings: Settings) -> None:
    """Raise `ModelMissing` (naming the file and the fix) unless every model is in place,
    or `DeviceUnavailable` (naming the setting) unless its device is there."""
    if settings.dev_scorer:
        return
    hardware.check(settings)
    export = hardware.onnx_export(settings.toxicity_dtype, settings.toxicity_backend)
    for name in settings.toxicity_models:
        require_model(settings.models_path, name, export)


def load_toxicity(settings: Settings) -> dict[str, ToxicityScorer]:
    """The configured toxicity models; the dev scorer only where settings allow it."""
    try:
        runtime = hardware.from_settings(settings)
        return {
            name: ToxicityModel.load(
                settings.models_path,
                name,
                runtime,
                batch_size=settings.scoring_batch,
                token_budget=settings.scoring_token_budget,
                threads=settings.torch_threads,
            )
            for name in settings.toxicity_models
        }
    except ModelMissing as exc:
        if not settings.dev_scorer:
            raise
        log.warning("dev_scorer_in_use", reason=exc.message)
        return {KeywordToxicity.name: KeywordToxicity()}


def claim_size(settings: Settings, toxicity: dict[str, ToxicityScorer]) -> int:
    """MODERATION_SCORING_BATCH, else the default of the device the models run on."""
    if settings.scoring_batch:
        return settings.scoring_batch
    runtimes = [model.runtime for model in toxicity.values() if model.runtime]
    return max((hardware.default_batch(r) for r in runtimes), default=hardware.CPU_BATCH)


def describe(scorer: Scorer) -> dict[str, object]:
    """What a worker process says it scores with when it starts: models, runtime, claim
    size and memory (the GPU's, for a model on one)."""
    found: dict[str, object] = {"claim": scorer.claim_size, "rss_mib": rss_mib()}
    for name, model in scorer.toxicity.items():
        runtime = model.runtime
        found[name] = runtime.describe() if runtime else "development keyword scorer"
        if runtime and runtime.on_gpu:
            found["gpu_mib"] = round(torch.cuda.memory_allocated(runtime.device) / 2**20)
    return found


def rss_mib() -> int:
    """This process's resident memory now, in MiB."""
    with open("/proc/self/statm") as statm:  # Linux: resident pages are the second field
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20)


_current: Runtime | None = None


def start(settings: Settings) -> Runtime:
    global _current
    _current = Runtime(settings)
    return _current


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the worker runtime starts in worker_process_init; none is running")
    return _current


def stop() -> None:
    global _current
    if _current is not None:
        _current.close()
        _current = None
