"""One scoring pass over a batch: language, toxicity with the model that covers it, spam.

The worker builds a `Scorer` once per process (models are loaded once) and calls
`score` for every batch; nothing here touches the database or the broker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from moderation.scoring.language import route
from moderation.scoring.spam import SpamClassifier, SpamContext, SpamVerdict, score_spam


class ToxicityScorer(Protocol):
    """What the scorer needs of a toxicity model (a detoxify model, or the dev scorer)."""

    name: str
    version: str
    languages: frozenset[str]

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
    spam: SpamVerdict
    detected: str | None = None


class Scorer:
    def __init__(
        self,
        toxicity: Mapping[str, ToxicityScorer],
        spam: SpamClassifier,
        detect: Callable[[Sequence[str]], list[str | None]],
    ) -> None:
        self.toxicity = dict(toxicity)
        self.spam = spam
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
        detected = self._detect(texts)
        languages = [
            (claimed[i] if i < len(claimed) else None) or detected[i] for i in range(len(texts))
        ]
        routes = [route(language, self.toxicity) for language in languages]
        toxicity: list[dict[str, float] | None] = [None] * len(items)
        for name, model in self.toxicity.items():
            positions = [i for i, routed in enumerate(routes) if routed == name]
            if positions:
                predicted = model.predict([texts[i] for i in positions], urgent=urgent)
                for position, labels in zip(positions, predicted, strict=True):
                    toxicity[position] = labels
        verdicts = score_spam(self.spam, items)
        return [
            Scores(
                languages[i], toxicity[i], self._model_label(routes[i]), verdicts[i], detected[i]
            )
            for i in range(len(items))
        ]

    def _model_label(self, name: str | None) -> str | None:
        model = self.toxicity.get(name) if name else None
        return f"{model.name}@{model.version}" if model else None
