"""Scoring a text on request (Perspective's `comments:analyze`, Coral's phase).

The API puts an `AnalyzeRequest` on the broker's analyze queue (`broker.ANALYZE_QUEUE`);
a worker gathers the requests waiting there into one batch, scores them with its
`Scorer` and sends each an `AnalyzeAnswer` on the PostgreSQL channel the request names.
This module holds what both sides agree on (the messages) and the worker's scoring of a
batch, which touches neither the broker nor the database. It imports no model: the API
loads none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from moderation.scoring.spam_signals import SpamContext

if TYPE_CHECKING:
    from moderation.scoring.scorer import Scorer

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AnalyzeRequest:
    id: str
    text: str
    # The language the client says the text is in; None: detect it.
    language: str | None
    # The LISTEN channel of the API process waiting for the answer.
    reply_to: str
    # Wall-clock time (time.time()) after which nobody waits for the answer.
    deadline: float

    def to_message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "language": self.language,
            "reply_to": self.reply_to,
            "deadline": self.deadline,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> AnalyzeRequest:
        return cls(
            id=str(message["id"]),
            text=str(message["text"]),
            language=message.get("language"),
            reply_to=str(message["reply_to"]),
            deadline=float(message["deadline"]),
        )


@dataclass(frozen=True, slots=True)
class AnalyzeAnswer:
    id: str
    # The language the text was scored as (the client's, else the detected one; None for
    # a text without letters), and the one detected.
    language: str | None
    detected: str | None
    # `name@version` of the toxicity model; None when no model covers the language.
    model: str | None
    # Every label of that model, and "spam".
    scores: dict[str, float] = field(default_factory=dict)
    spam_reasons: tuple[str, ...] = ()
    # Set when scoring failed; the API answers 503 with it.
    error: str | None = None

    @property
    def toxicity(self) -> dict[str, float] | None:
        """The toxicity labels' scores; None when no model covers the language."""
        if self.model is None:
            return None
        return {label: score for label, score in self.scores.items() if label != "spam"}

    def to_message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "language": self.language,
            "detected": self.detected,
            "model": self.model,
            "scores": self.scores,
            "spam_reasons": list(self.spam_reasons),
            "error": self.error,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> AnalyzeAnswer:
        return cls(
            id=str(message["id"]),
            language=message.get("language"),
            detected=message.get("detected"),
            model=message.get("model"),
            scores={str(k): float(v) for k, v in (message.get("scores") or {}).items()},
            spam_reasons=tuple(message.get("spam_reasons") or ()),
            error=message.get("error"),
        )


def score_requests(scorer: Scorer, requests: Sequence[AnalyzeRequest]) -> list[AnalyzeAnswer]:
    """An answer for each request, in order, scored as one batch ahead of comment scoring.

    Scoring clients send a text alone: the spam signals that need an author's history or
    other comments (velocity, duplicates, a new author's links) have nothing to go on.
    """
    contexts = [
        SpamContext(
            body=r.text,
            author_name="",
            new_author=False,
            author_recent=0,
            address_recent=0,
            duplicates=0,
        )
        for r in requests
    ]
    try:
        scored = scorer.score(contexts, claimed=[r.language for r in requests], urgent=True)
    except Exception as exc:  # any model failure: every request in the batch learns it
        # Only the kind of error: its message may quote a text that must not be logged.
        error = f"scoring failed: {type(exc).__name__}"
        log.error("analyze_batch_failed", requests=len(requests), error=error)
        return [AnalyzeAnswer(r.id, r.language, None, None, error=error) for r in requests]
    return [
        AnalyzeAnswer(
            id=request.id,
            language=scores.language,
            detected=scores.detected,
            model=scores.model,
            scores={**(scores.toxicity or {}), "spam": round(scores.spam.score, 6)},
            spam_reasons=scores.spam.reasons,
        )
        for request, scores in zip(requests, scored, strict=True)
    ]
