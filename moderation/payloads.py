"""Request payloads as validated models, and the text rules every stored string follows.

Text is NFC normalised and may not carry control characters (tab and newline excepted).
Scoring clients' comments (Perspective's, Coral's) are taken as sent but for NUL, which
PostgreSQL's text cannot hold: it is dropped.
Reading the body off the wire is `moderation.http.bodies`'s job.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from moderation.errors import ValidationFailed
from moderation.lookalikes import disguised_word


class Payload(BaseModel):
    """Base of every request body: strict types (no "7" for 7), no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


Model = TypeVar("Model", bound=BaseModel)

# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; in text, tab and
# newline pass. PostgreSQL's text cannot hold NUL at all.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_character(text: str) -> str | None:
    """The first control character in `text`, tab and newline included, as U+XXXX."""
    found = _ANY_CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def clean_text(value: str) -> str:
    """NFC-normalise, unify line ends, refuse control characters, trim; never empty."""
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    control = CONTROL.search(value)
    if control is not None:
        raise ValueError(f"control character U+{ord(control.group()):04X} is not allowed")
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def clean_line(value: str) -> str:
    """`clean_text` for one-line values such as names: no newlines or tabs either."""
    value = clean_text(value)
    if "\n" in value or "\t" in value:
        raise ValueError("must be a single line")
    return value


# Bidirectional embeddings, overrides and isolates reorder what follows them: in a name,
# "\u202eniamoD eht morf rotide" reads "editor from the Domain".
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BIDI_CONTROL = re.compile(f"[{''.join(sorted(BIDI_CONTROLS))}]")
# Characters that show nothing and belong to no script: zero-width space, word joiner,
# invisible operators, the Mongolian vowel separator, a byte-order mark. ZWJ and ZWNJ are
# not among them: Persian, Indic scripts and emoji are written with them.
INVISIBLE = frozenset("\u200b\u2060\u2061\u2062\u2063\u2064\u180e\ufeff")
_INVISIBLE_CHARACTER = re.compile(f"[{''.join(sorted(INVISIBLE))}]")


def clean_name(value: str) -> str:
    """`clean_line` for a person's name, which must read as it is written: without the
    characters that show nothing ("Mod<ZWSP>erator" is "Moderator", as it reads; a site's
    user names can carry a stray one, so they go rather than refuse the comment)."""
    value = clean_line(_INVISIBLE_CHARACTER.sub("", value))
    found = _BIDI_CONTROL.search(value)
    if found is not None:
        raise ValueError(f"bidirectional control U+{ord(found.group()):04X} is not allowed")
    # "Ann" with a Cyrillic A (U+0410) reads as Ann, and would pass for her.
    disguised = disguised_word(value)
    if disguised is not None:
        raise ValueError(f"{disguised!r} mixes letters of scripts that look alike")
    return value


def web_address(value: str) -> str:
    """`value`, if it is an http or https address with a host: what a page's link may be
    (a `javascript:` or `data:` one would run in whoever clicks it)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https address")
    return value


def page_url(value: str | None) -> str | None:
    """An article's address if it is one intake would take (http or https, with a host),
    else None: moderators' pages link to it, whatever stored it."""
    if not value:
        return None
    try:
        return web_address(value.strip())
    except ValueError:
        return None


PAGE_TITLE_LENGTH = 300
PAGE_URL_LENGTH = 2000


def page_title(value: str | None) -> str | None:
    """A page's title as moderators see it, made of whatever the page had: one line,
    without control characters, at most 300 characters; None when nothing is left. Pages
    carry mis-decoded characters and line breaks in their titles, and the title is only
    for moderators: refusing it would refuse the reader's comment with it."""
    if value is None:
        return None
    text = _ANY_CONTROL.sub(" ", unicodedata.normalize("NFC", value))
    return " ".join(text.split())[:PAGE_TITLE_LENGTH] or None


def page_address(value: str | None) -> str | None:
    """`page_url` for an address a page gave: None, rather than a refusal, when it is
    none intake would take."""
    if value is None or len(value) > PAGE_URL_LENGTH or control_character(value):
        return None
    return page_url(value)


def drop_nul(value: str) -> str:
    """`value` without its NUL characters, which PostgreSQL's text cannot hold."""
    return value.replace("\x00", "")


def refuse_nul(value: str) -> str:
    """`value`, if it has no NUL: for what is stored as written and must stay so."""
    if "\x00" in value:
        raise ValueError("control character U+0000 is not allowed")
    return value


Text = Annotated[str, AfterValidator(clean_text)]
Line = Annotated[str, AfterValidator(clean_line)]
Name = Annotated[str, AfterValidator(clean_name)]
# Ids are PostgreSQL bigints: a larger number names nothing, and would fail in the query.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# A comment scoring clients send (Perspective's, Coral's): scored and kept as sent, save
# NULs, which mean nothing to a score; refusing them would fail Coral's phase, and Coral
# publishes a comment whose phase failed unchecked.
ScoredText = Annotated[str, AfterValidator(drop_nul)]
# A client's identifier that is stored and must match what the client sent.
StoredToken = Annotated[str, AfterValidator(refuse_nul)]


def parse(model: type[Model], data: Any, *, strict: bool | None = None) -> Model:
    """Validate `data` into `model` (`strict` overrides the model's own setting); the
    first problem becomes a 422 naming its field."""
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object")
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        message = _message(error)
        raise ValidationFailed(f"{field}: {message}" if field else message, field=field) from exc


def _message(error: ErrorDetails) -> str:
    if error["type"] == "too_long" and isinstance(error["input"], str):
        # The length limit of a cleaned `Text` or `Line` is checked after the cleaning,
        # where pydantic words it as for a list ("at most 500 items after validation").
        return f"String should have at most {error['ctx']['max_length']} characters"
    return error["msg"].removeprefix("Value error, ")
