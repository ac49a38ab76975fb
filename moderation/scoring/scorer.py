"""One scoring pass over a batch: language, toxicity with the model that covers it, spam.

The worker builds a `Scorer` once per process (models are loaded once) and calls
`score` for every batch; nothing here touches the database or the broker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from moderation.scoring.hardware import CPU_BATCH, Runtime
from moderation.scoring.language import route
from moderation.scoring.site_spam import SiteSpamModels
from moderation.scoring.spam import SpamContext, SpamVerdict, score_spam


class ToxicityScorer(Protocol):
    """What the scorer needs of a toxicity model (a detoxify model, or the dev scorer)."""

    name: str
    version: str
    languages: frozenset[str]

    @property
    def runtime(self) -> Runtime | None:
        """What it runs on, stored with its scores; None for the development keyword scorer."""

    def predict(self, texts: Sequence[str], *, urgent: bool = False) -> list[dict[str, float]]:
        """Every label's score per text; `urgent` work goes before other callers' waiting
        turns on the same model (a client waiting for an answer, not a queued comment)."""
        ...


@dataclass(frozen=True, slots=True)
class Scores:
    # The language the text was scored as: the claimed one if any, else the detected one.
    language: str | None
    # None when no configured model covers the language: policy then holds the comment.
    toxicity: dict[str, float] | None
    model: str | None
    runtime: Runtime | None
    spam: SpamVerdict
    detected: str | None = None


class Scorer:
    """Language, toxicity and spam for a claim: one prediction per toxicity model and
    one spam-classifier call per site in the batch.

    Spam runs on a thread of its own while the toxicity models run: on a GPU its CPU
    work (0.24-0.45 ms a comment on the GPU machines' hosts: features and rule signals,
    about twice the model's time) would otherwise follow the model's instead of
    overlapping it, and on a CPU it is a few percent of the claim.
    """

    def __init__(
        self,
        toxicity: Mapping[str, ToxicityScorer],
        spam: SiteSpamModels,
        detect: Callable[[Sequence[str]], list[str | None]],
        *,
        claim_size: int = CPU_BATCH,
    ) -> None:
        self.toxicity = dict(toxicity)
        self.spam = spam
        # Comments a worker claims at once: its models' device sets the default.
        self.claim_size = claim_size
        self._detect = detect

    def score(
        self,
        items: Sequence[SpamContext],
        claimed: Sequence[str | None] = (),
        *,
        urgent: bool = False,
    ) -> list[Scores]:
        """Scores for each item, in order; raises if a model fails on the batch.

        `claimed` gives, per item, the language its sender says it is in (None: detect);
        `urgent` is passed on to the toxicity models.
        """
        texts = [item.body for item in items]
        with ThreadPoolExecutor(1, thread_name_prefix="spam") as spam_thread:
            spam = spam_thread.submit(score_spam, self.spam, items)
            detected = self._detect(texts)
            languages = [
                (claimed[i] if i < len(claimed) else None) or detected[i] for i in range(len(texts))
            ]
            routes = [route(language, self.toxicity) for language in languages]
            toxicity: list[dict[str, float] | None] = [None] * len(items)
            for name, toxicity_model in self.toxicity.items():
                positions = [i for i, routed in enumerate(routes) if routed == name]
                if positions:
                    predicted = toxicity_model.predict([texts[i] for i in positions], urgent=urgent)
                    for position, labels in zip(positions, predicted, strict=True):
                        toxicity[position] = labels
            verdicts = spam.result()
        scores = []
        for i in range(len(items)):
            routed = routes[i]
            model = self.toxicity.get(routed) if routed else None
            label = f"{model.name}@{model.version}" if model else None
            runtime = model.runtime if model else None
            scores.append(
                Scores(languages[i], toxicity[i], label, runtime, verdicts[i], detected[i])
            )
        return scores
