"""The spam classifiers a worker holds: the seed's, and each site's newest retrained one.

Sites are retrained apart (moderation/scoring/retrain.py), so a batch mixing sites is
scored by one classifier call per site in it. A worker keeps the models of the sites it
met most recently (a model is tens of MB in memory); the others fall back to a reload.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import structlog

from moderation.db import Connection
from moderation.db import scoring as scoring_queries
from moderation.errors import SpamModelError
from moderation.scoring.spam import SpamClassifier, SpamContext

log = structlog.get_logger(__name__)

MAX_SITES = 32


class SiteSpamModels:
    """Spam probabilities by each comment's site model, the seed's for sites without one."""

    def __init__(self, seed: SpamClassifier, max_sites: int = MAX_SITES) -> None:
        self.seed = seed
        self.max_sites = max_sites
        # site id -> (model id, classifier); the model id is kept even for a blob that
        # would not load, so that it is not fetched again for every batch.
        self._sites: OrderedDict[int, tuple[int, SpamClassifier]] = OrderedDict()

    def classifier(self, site_id: int | None) -> SpamClassifier:
        held = self._sites.get(site_id) if site_id is not None else None
        return held[1] if held else self.seed

    def model_id(self, site_id: int) -> int:
        held = self._sites.get(site_id)
        return held[0] if held else 0

    def probabilities(self, contexts: Sequence[SpamContext]) -> list[float]:
        by_site: dict[int | None, list[int]] = {}
        for index, ctx in enumerate(contexts):
            by_site.setdefault(ctx.site_id, []).append(index)
        found = [0.0] * len(contexts)
        for site_id, positions in by_site.items():
            texts = [contexts[i].body for i in positions]
            for position, p in zip(positions, self.classifier(site_id).predict(texts), strict=True):
                found[position] = p
        return found

    async def refresh(self, conn: Connection, site_ids: Iterable[int]) -> None:
        """Load each site's newest model where it is newer than the one held."""
        wanted = sorted(set(site_ids))
        for site_id in wanted:
            if site_id in self._sites:
                self._sites.move_to_end(site_id)
        newest = await scoring_queries.latest_spam_models(conn, wanted)
        for site_id in wanted:
            # Its models were deleted (an erased author's words were in them): the seed's
            # until beat has trained the site again.
            if site_id not in newest:
                self._sites.pop(site_id, None)
        for site_id, model_id in newest.items():
            if self.model_id(site_id) == model_id:
                continue
            blob = await scoring_queries.spam_model(conn, model_id)
            classifier = self.classifier(site_id)
            try:
                classifier = SpamClassifier.from_bytes(blob or b"")
                log.info("spam_model_loaded", site_id=site_id, model_id=model_id)
            except SpamModelError as exc:
                log.error("spam_model_unreadable", model_id=model_id, error=exc.message)
            self._sites[site_id] = (model_id, classifier)
            self._sites.move_to_end(site_id)
        while len(self._sites) > self.max_sites:
            self._sites.popitem(last=False)
