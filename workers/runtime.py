"""What a worker process holds for its life: an event loop, a pool, the scorer and the
analyze server (a thread answering scoring clients with the same scorer).

Started by `worker_process_init` (models load once per process, never per task) and
closed by `worker_process_shutdown`. Tasks are synchronous (Celery's prefork pool); they
run the async query layer on this process's own loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import asyncpg
import structlog

from moderation import db
from moderation.config import Settings
from moderation.db import scoring as scoring_queries
from moderation.errors import ModelMissing, SpamModelError
from moderation.scoring import batch
from moderation.scoring.dev import KeywordToxicity
from moderation.scoring.language import detect
from moderation.scoring.scorer import Scorer, ToxicityScorer
from moderation.scoring.spam import SpamClassifier
from moderation.scoring.toxicity import ToxicityModel, require_model
from workers.analyze import AnalyzeServer

log = structlog.get_logger(__name__)
T = TypeVar("T")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.pool: asyncpg.Pool = self.loop.run_until_complete(
            db.create_pool(settings.model_copy(update={"db_pool_min": 1, "db_pool_max": 2}))
        )
        self.spam_model_id = 0
        self.scorer = Scorer(load_toxicity(settings), SpamClassifier.seed(), detect)
        self.run(self.refresh_spam_model())
        self.analyze_server = AnalyzeServer(settings, self.scorer)
        self.analyze_server.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    async def score(self, hinted: Sequence[int]) -> int:
        await self.refresh_spam_model()
        return await batch.score_pending(self.pool, self.scorer, self.settings, hinted)

    async def refresh_spam_model(self) -> None:
        """Use the newest retrained spam classifier, if one appeared since the last look."""
        async with self.pool.acquire() as conn:
            newer = await scoring_queries.latest_spam_model(conn, self.spam_model_id)
        if newer is None:
            return
        # Looked at once either way: a model this code cannot read is not retried per batch.
        self.spam_model_id = newer["id"]
        try:
            self.scorer.spam = SpamClassifier.from_bytes(newer["model"])
        except SpamModelError as exc:
            log.error("spam_model_unreadable", model_id=newer["id"], error=exc.message)
            return
        log.info("spam_model_loaded", model_id=newer["id"])

    def close(self) -> None:
        self.analyze_server.stop()
        self.run(self.pool.close())
        self.loop.close()


def check_models(settings: Settings) -> None:
    """Raise `ModelMissing` (naming the file and the fix) unless every model is in place."""
    if settings.dev_scorer:
        return
    for name in settings.toxicity_models:
        require_model(settings.models_path, name)


def load_toxicity(settings: Settings) -> dict[str, ToxicityScorer]:
    """The configured toxicity models; the dev scorer only where settings allow it."""
    try:
        return {
            name: ToxicityModel.load(settings.models_path, name, threads=settings.torch_threads)
            for name in settings.toxicity_models
        }
    except ModelMissing as exc:
        if not settings.dev_scorer:
            raise
        log.warning("dev_scorer_in_use", reason=exc.message)
        return {KeywordToxicity.name: KeywordToxicity()}


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
