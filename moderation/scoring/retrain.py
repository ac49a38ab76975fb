"""Retraining the spam classifier from moderators' spam / not-spam decisions and scoring
clients' SPAM labels (`comments:suggestscore`)."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from moderation.db import scoring as scoring_queries
from moderation.scoring.spam import SpamClassifier, load_seed_corpus

log = structlog.get_logger(__name__)


async def retrain_spam(pool: asyncpg.Pool) -> int | None:
    """Train on the seed corpus plus every moderator verdict and client label, store the model.

    Returns the new model's id, or None when no moderator decided anything and no client
    labelled anything since the last training (there is nothing new to learn).
    """
    async with pool.acquire() as conn:
        latest = await scoring_queries.latest_spam_model(conn)
        labelled, newest_event, newest_label = await scoring_queries.spam_labels(
            conn,
            latest["last_event_id"] if latest else 0,
            latest["last_label_id"] if latest else 0,
        )
    if not labelled:
        return None
    texts, labels = load_seed_corpus()
    texts += [row["body"] for row in labelled]
    labels += [row["label"] for row in labelled]
    # Training takes seconds of CPU; keep the event loop (and its connections) responsive.
    model = await asyncio.to_thread(SpamClassifier.train, texts, labels)
    async with pool.acquire() as conn:
        model_id = await scoring_queries.store_spam_model(
            conn, model.to_bytes(), len(texts), len(labelled), newest_event, newest_label
        )
    log.info("spam_model_trained", model_id=model_id, samples=len(texts), labels=len(labelled))
    return model_id
