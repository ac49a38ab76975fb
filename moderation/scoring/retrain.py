"""Retraining spam classifiers, one per site, from its moderators' spam / not-spam
decisions and its scoring clients' SPAM labels (`comments:suggestscore`).

Each site's classifier learns from the seed corpus and from that site's own labels,
which count `SITE_WEIGHT` times a seed comment's and give their words weights of the
site's own (`SpamClassifier.train`'s `own`): what is spam differs between communities,
and a few dozen decisions should move the model more than a thousand YouTube comments.
The seed teaches that a link is spam, which news readers citing sources are not, so a
link as such adds at most `LINK_LOGIT_CAP` to the log-odds; a site whose moderators
mark comments with links as spam raises its own cap to the log-odds of their decisions
on such comments. bench/spam_adapt.py measures this
function, the one beat runs.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import asyncpg
import structlog

from moderation.db import scoring as scoring_queries
from moderation.links import urls
from moderation.scoring.spam import (
    LINK_LOGIT_CAP,
    MODEL_FORMAT,
    SpamClassifier,
    load_seed_corpus,
)

log = structlog.get_logger(__name__)

# Chosen with bench/spam_adapt.py (3, 5 and 10 tried; 3 gave the best F1 at every K).
SITE_WEIGHT = 3.0
SITE_LINK_CAP = 2.0
# Pseudo-counts on each side of a site's link decisions: one spam label on a link
# alone lifts the cap to log(1.5 / 0.5) = 1.1, barely above the seed's.
_LINK_PRIOR = 0.5


def site_classifier(
    seed_texts: Sequence[str],
    seed_labels: Sequence[int],
    site_texts: Sequence[str],
    site_labels: Sequence[int],
) -> SpamClassifier:
    """A classifier for one site: the seed, and the site's labels weighted above it."""
    weights = [1.0] * len(seed_texts) + [SITE_WEIGHT] * len(site_texts)
    return SpamClassifier.train(
        [*seed_texts, *site_texts],
        [*seed_labels, *site_labels],
        weights,
        link_cap=site_link_cap(site_texts, site_labels),
        own=[False] * len(seed_texts) + [True] * len(site_texts),
    )


def site_link_cap(texts: Sequence[str], labels: Sequence[int]) -> float:
    """How much a link may add to the log-odds on this site, from its moderators' labels
    on comments with links (never less than the seed's cap)."""
    with_link = [label for text, label in zip(texts, labels, strict=True) if urls(text)]
    spam = sum(with_link)
    honest = len(with_link) - spam
    earned = math.log((spam + _LINK_PRIOR) / (honest + _LINK_PRIOR))
    return min(SITE_LINK_CAP, max(LINK_LOGIT_CAP, earned))


async def retrain_spam(pool: asyncpg.Pool) -> list[int]:
    """Retrain the classifier of every site with spam labels newer than its last one, or
    whose last one this release cannot load; returns the new models' ids (none when
    nothing is due)."""
    async with pool.acquire() as conn:
        due = await scoring_queries.sites_to_retrain(conn, MODEL_FORMAT)
    if not due:
        return []
    seed_texts, seed_labels = load_seed_corpus()
    trained: list[int] = []
    for site in due:
        async with pool.acquire() as conn:
            labelled = await scoring_queries.spam_labels(
                conn, site["site_id"], site["newest_event"], site["newest_label"]
            )
        texts = [row["body"] for row in labelled]
        labels = [row["label"] for row in labelled]
        # Training takes seconds of CPU; keep the event loop (and its connections) responsive.
        model = await asyncio.to_thread(site_classifier, seed_texts, seed_labels, texts, labels)
        async with pool.acquire() as conn:
            model_id = await scoring_queries.store_spam_model(
                conn,
                site["site_id"],
                model.to_bytes(),
                MODEL_FORMAT,
                len(seed_texts) + len(texts),
                len(texts),
                site["newest_event"],
                site["newest_label"],
                [row["comment_id"] for row in labelled if row["comment_id"] is not None],
            )
        if model_id is None:
            # An author was erased while it trained; the next beat trains without them.
            log.info("spam_model_discarded", site_id=site["site_id"], reason="author erased")
            continue
        log.info(
            "spam_model_trained", site_id=site["site_id"], model_id=model_id, decisions=len(texts)
        )
        trained.append(model_id)
    return trained
