"""Perspective's request and response shapes, its attributes, and its error shape.

Attributes map onto the toxicity model's labels (PROFANITY is detoxify's `obscene`) and
onto the spam scorer (SPAM). An attribute the model scoring the text does not have, or a
language no configured model covers, is refused the way Perspective refuses it:
`Attribute TOXICITY does not support request languages: hy`.

A comment's NUL characters are dropped before it is scored or stored (PostgreSQL's text
cannot hold one); identifiers stored as written refuse them.

Request models ignore fields they do not know: Perspective clients send some this service
has no use for (`context`, `sessionId`), and refusing them would break the drop-in.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Literal, NotRequired, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from typing_extensions import TypedDict

from moderation.errors import BadRequest
from moderation.imports import html_text
from moderation.payloads import ScoredText, StoredToken
from moderation.scoring.analyze import AnalyzeAnswer

# Perspective attribute -> the label this service scores it by.
ATTRIBUTES: dict[str, str] = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": "severe_toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "obscene",
    "THREAT": "threat",
    "SEXUALLY_EXPLICIT": "sexual_explicit",
    "SPAM": "spam",
}
# Perspective's own limit on a comment's text.
MAX_TEXT_BYTES = 20480
# What the scorer calls a text it found no letters in (emoji, numbers): the default.
DEFAULT_LANGUAGE = "en"
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*$")
# Labels clients may suggest: the attributes, and the moderation feedback Coral sends
# under names of its own.
SUGGESTED = (*ATTRIBUTES, "APPROVED", "DELETED", "HIGHLIGHTED")
Value = TypeVar("Value")


class _Message(BaseModel):
    # Field names are Perspective's own, camelCase and all.
    model_config = ConfigDict(extra="ignore", strict=True)


class TextEntry(_Message):
    text: ScoredText
    type: Literal["PLAIN_TEXT", "HTML", "TEXT_TYPE_UNSPECIFIED"] = "PLAIN_TEXT"

    def plain(self) -> str:
        """The text to score: HTML reduced to its text, then refused if empty or too long."""
        text = html_text(self.text) if self.type == "HTML" else self.text
        if not text.strip():
            raise BadRequest("Comment must be non-empty.", field="comment.text")
        if len(text.encode()) > MAX_TEXT_BYTES:
            raise BadRequest(
                f"Comment text too long: at most {MAX_TEXT_BYTES} bytes.", field="comment.text"
            )
        return text


class AttributeParameters(_Message):
    scoreType: Literal["PROBABILITY"] | None = None
    scoreThreshold: float | None = Field(default=None, ge=0, le=1)


class AnalyzeIn(_Message):
    comment: TextEntry
    requestedAttributes: dict[str, AttributeParameters] = Field(min_length=1)
    languages: list[str] = Field(default_factory=list, max_length=20)
    doNotStore: bool = False
    clientToken: str | None = Field(default=None, max_length=1000)
    spanAnnotations: bool = False

    @field_validator("requestedAttributes")
    @classmethod
    def _known_attributes(
        cls, value: dict[str, AttributeParameters]
    ) -> dict[str, AttributeParameters]:
        return _known(value, ATTRIBUTES)

    def language(self) -> str | None:
        """The client's language for the text (the first it names), None to detect it."""
        if not self.languages:
            return None
        return normalise_language(self.languages[0])


class SummaryScore(_Message):
    value: float = Field(ge=0, le=1)


class SuggestedScore(_Message):
    summaryScore: SummaryScore


class SuggestIn(_Message):
    comment: TextEntry
    attributeScores: dict[str, SuggestedScore] = Field(min_length=1, max_length=50)
    languages: list[str] = Field(default_factory=list, max_length=20)
    clientToken: StoredToken | None = Field(default=None, max_length=1000)
    communityId: StoredToken | None = Field(default=None, max_length=1000)

    @field_validator("attributeScores")
    @classmethod
    def _known_attributes(cls, value: dict[str, SuggestedScore]) -> dict[str, SuggestedScore]:
        return _known(value, SUGGESTED)

    def language(self) -> str | None:
        return normalise_language(self.languages[0]) if self.languages else None


class Score(TypedDict):
    value: float
    type: Literal["PROBABILITY"]


class SpanScore(TypedDict):
    begin: int
    end: int
    score: Score


class AttributeScores(TypedDict):
    spanScores: list[SpanScore]
    summaryScore: Score


class AnalyzeOut(TypedDict):
    """Perspective's AnalyzeCommentResponse."""

    attributeScores: dict[str, AttributeScores]
    languages: list[str]
    detectedLanguages: list[str]
    clientToken: NotRequired[str]


class SuggestOut(TypedDict):
    """Perspective's SuggestCommentScoreResponse."""

    requestedLanguages: list[str]
    clientToken: NotRequired[str]


def _known(attributes: dict[str, Value], known: Collection[str]) -> dict[str, Value]:
    """`attributes` if each name is in `known`; else Perspective's refusal, a 400."""
    for name in attributes:
        if name not in known:
            raise ValueError(f"Unknown attribute {name[:64]}; known here: {', '.join(known)}")
    return attributes


def normalise_language(code: str) -> str:
    """`en-US` -> `en`; 400 for anything that is not a language code."""
    match = _LANGUAGE.match(code.strip().lower())
    if match is None:
        raise BadRequest(f"Unsupported language code: {code[:32]!r}", field="languages")
    return match.group(1)


def analyze_response(request: AnalyzeIn, text: str, answer: AnalyzeAnswer) -> AnalyzeOut:
    """Perspective's AnalyzeCommentResponse for `answer`; 400 for an attribute the model
    that scored the text lacks (or when no model covers its language)."""
    language = answer.language or DEFAULT_LANGUAGE
    scores: dict[str, AttributeScores] = {}
    for attribute, parameters in request.requestedAttributes.items():
        value = answer.scores.get(ATTRIBUTES[attribute])
        if value is None:
            raise BadRequest(
                f"Attribute {attribute} does not support request languages: {language}",
                field="requestedAttributes",
                code="language_not_supported",
            )
        if parameters.scoreThreshold is not None and value < parameters.scoreThreshold:
            continue
        score: Score = {"value": value, "type": "PROBABILITY"}
        # One span, the whole text: the score is the text's as a whole.
        span: SpanScore = {"begin": 0, "end": len(text), "score": score}
        scores[attribute] = {"spanScores": [span], "summaryScore": score}
    response: AnalyzeOut = {
        "attributeScores": scores,
        "languages": [language],
        "detectedLanguages": [answer.detected] if answer.detected else [],
    }
    if request.clientToken is not None:
        response["clientToken"] = request.clientToken
    return response
