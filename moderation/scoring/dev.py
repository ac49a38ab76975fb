"""A development stand-in for detoxify, for `moderation dev` on a machine without weights.

It scores from a short word list, so a local instance can show approve / hold / reject
without a 500 MB download. Only `moderation dev` enables it (and says so on start);
a production worker without weights refuses to start instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
_WORDS: dict[str, tuple[str, ...]] = {
    "idiot": ("toxicity", "insult"),
    "idiots": ("toxicity", "insult"),
    "stupid": ("toxicity", "insult"),
    "moron": ("toxicity", "insult"),
    "scum": ("toxicity", "insult", "severe_toxicity"),
    "kill": ("toxicity", "threat"),
    "shit": ("toxicity", "obscene"),
    "fuck": ("toxicity", "obscene", "severe_toxicity"),
}
_MILD = {"nonsense": 0.6, "ridiculous": 0.55, "clueless": 0.6}


class KeywordToxicity:
    name = "dev-keywords"
    version = "1"
    languages = frozenset({"en"})
    runtime = None

    def predict(self, texts: Sequence[str], *, urgent: bool = False) -> list[dict[str, float]]:
        return [self._score(text) for text in texts]

    def _score(self, text: str) -> dict[str, float]:
        scores = dict.fromkeys(_LABELS, 0.01)
        for word in re.findall(r"[a-z]+", text.lower()):
            for label in _WORDS.get(word, ()):
                scores[label] = 0.95
            if word in _MILD:
                scores["toxicity"] = max(scores["toxicity"], _MILD[word])
        return scores
