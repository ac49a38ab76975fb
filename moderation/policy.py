"""The per-site policy: turn what scoring found into a status and reasons in words.

Every rule yields a finding of one severity: `spam` and `reject` end a comment at once,
`hold` and `firm_hold` send it to a human. The strongest severity found decides, and
every finding of that severity is kept as a reason. Trusted authors skip `hold` rules,
never `firm_hold` (a language no model covers) or the reject rules. Scores are compared
with `>=`: a threshold is the first score it catches.
"""

from __future__ import annotations

import decimal
import functools
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from moderation.links import urls
from moderation.lookalikes import unmasked
from moderation.payloads import BIDI_CONTROLS, INVISIBLE
from moderation.sites import SiteSettings, Threshold
from moderation.statuses import UNDETERMINED, Decided

Severity = Literal["spam", "reject", "firm_hold", "hold"]
# The family of rules a finding comes from: what Coral's phase reports as its flag.
Rule = Literal["author", "words", "spam", "language", "toxicity", "premod"]

_ORDER: tuple[tuple[Decided, frozenset[Severity]], ...] = (
    ("spam", frozenset({"spam"})),
    ("rejected", frozenset({"reject"})),
    ("review", frozenset({"firm_hold", "hold"})),
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about one comment when it is decided."""

    body: str
    language: str | None
    # None when no configured toxicity model covers the language.
    toxicity: Mapping[str, float] | None
    spam_score: float
    spam_reasons: Sequence[str] = ()
    author_status: str | None = None  # None: anonymous
    author_approved: int = 0
    # The author's other comments held as spam: marked spam, or in review or deleted by
    # them at or above the site's spam hold line.
    author_spam: int = 0


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The status a comment earns under its site's policy, and every reason for it."""

    status: Decided
    reasons: tuple[str, ...] = field(default=())
    # The rule families behind the reasons.
    rules: frozenset[Rule] = frozenset()


def evaluate(settings: SiteSettings, facts: Facts) -> PolicyDecision:
    """The status `facts` earn under `settings`, and why."""
    trusted = _trusted(settings, facts)
    families: tuple[tuple[Rule, list[tuple[Severity, str]]], ...] = (
        ("author", _author_findings(facts)),
        ("words", _word_findings(settings, facts.body)),
        ("spam", _spam_findings(settings, facts)),
        ("language", _language_findings(facts)),
        ("toxicity", _toxicity_findings(settings, facts)),
        ("premod", _premod_findings(settings, facts)),
    )
    findings = [
        (rule, severity, reason)
        for rule, found in families
        for severity, reason in found
        if not (trusted and severity == "hold")
    ]
    for status, severities in _ORDER:
        decisive = [(rule, reason) for rule, severity, reason in findings if severity in severities]
        if decisive:
            return PolicyDecision(
                status,
                tuple(reason for _, reason in decisive),
                frozenset(rule for rule, _ in decisive),
            )
    if trusted:
        return PolicyDecision("approved", (f"trusted author ({facts.author_approved} approved)",))
    return PolicyDecision("approved", ("scores below every threshold",))


def cut(score: float, places: int = 2) -> str:
    """`score` (0 to 1) to `places` decimals, cut rather than rounded: 0.8999 held under a
    reject line of 0.90 reads "0.89", never as if it had reached the line. From the
    float's shortest spelling, so 0.29 stays 0.29 and 0.8999999996 is 0.89."""
    if not math.isfinite(score):
        return str(score)  # "nan": a model's fault, shown as it is
    exact = decimal.Decimal(repr(max(score, 0.0) or 0.0))
    return str(exact.quantize(decimal.Decimal(1).scaleb(-places), rounding=decimal.ROUND_DOWN))


def count_links(body: str) -> int:
    return len(urls(body))


def _trusted(settings: SiteSettings, facts: Facts) -> bool:
    if facts.author_status == "trusted":
        return True
    earned = settings.trusted_after and facts.author_approved >= settings.trusted_after
    return bool(earned) and facts.author_status == "normal"


def _author_findings(facts: Facts) -> list[tuple[Severity, str]]:
    if facts.author_status == "banned":
        return [("reject", "author is banned")]
    if facts.author_status == "premod":
        return [("hold", "author is on pre-moderation")]
    return []


def _word_findings(settings: SiteSettings, body: str) -> list[tuple[Severity, str]]:
    if not (settings.banned_words or settings.suspect_words):
        return []  # most sites: no need to read every comment word by word
    text = _comparable(body)
    words = set(_WORD.findall(text))
    lists: tuple[tuple[Severity, tuple[str, ...], str], ...] = (
        ("reject", settings.banned_words, "banned word"),
        ("hold", settings.suspect_words, "suspect word"),
    )
    findings: list[tuple[Severity, str]] = []
    for severity, listed, label in lists:
        for entry, needed, pattern in _listed(listed):
            # Every word of the entry first, in a set: most comments stop there.
            if needed <= words and (pattern is None or pattern.search(text)):
                findings.append((severity, f"{label} {entry!r}"))
    return findings


# A word: letters and digits; "_" parts words, as in "scum_bag".
_WORD = re.compile(r"[^\W_]+")
# What a word list compares: width variants folded (NFKC: full-width letters), no
# character that shows nothing splitting a word (a zero-width space, a soft hyphen), a
# word that reads as Latin in lookalike letters of another script spelled in Latin ones,
# one space for any run of blanks, one case.
_UNSEEN = dict.fromkeys(map(ord, INVISIBLE | BIDI_CONTROLS | {"\u00ad"}))
_BLANKS = re.compile(r"\s+")


def _comparable(text: str) -> str:
    folded = unmasked(unicodedata.normalize("NFKC", text).translate(_UNSEEN))
    return _BLANKS.sub(" ", folded).casefold().strip()


@functools.lru_cache(maxsize=256)
def _listed(
    entries: tuple[str, ...],
) -> tuple[tuple[str, frozenset[str], re.Pattern[str] | None], ...]:
    """A word list as comments are compared with it, once per list: each entry, its words,
    and for a phrase or a word with signs ("f*ck") a pattern matching it only where a
    word starts and ends ("kill you" is not in "skill you"); a whole word needs none
    ("ass" is not in "class"). An entry of invisible characters alone finds nothing."""
    found = []
    for entry in entries:
        needle = _comparable(entry)
        if not needle:
            continue
        pattern = (
            None
            if _WORD.fullmatch(needle)
            else re.compile(rf"(?<![^\W_]){re.escape(needle)}(?![^\W_])")
        )
        found.append((entry, frozenset(_WORD.findall(needle)), pattern))
    return tuple(found)


def _spam_findings(settings: SiteSettings, facts: Facts) -> list[tuple[Severity, str]]:
    threshold = settings.thresholds["spam"]
    detail = f" ({'; '.join(facts.spam_reasons)})" if facts.spam_reasons else ""
    findings: list[tuple[Severity, str]] = []
    if facts.spam_score >= threshold.reject:
        findings.append(("spam", f"spam {cut(facts.spam_score)} ≥ {threshold.reject:.2f}{detail}"))
    elif facts.spam_score >= threshold.hold:
        findings.append(("hold", f"spam {cut(facts.spam_score)} ≥ {threshold.hold:.2f}{detail}"))
    if facts.author_spam and facts.author_approved == 0:
        # A spammer's next comment is more of the same, whatever its words: an author the
        # site has yet to approve waits while it holds any of theirs as spam (until one
        # of theirs is approved, or those held are decided otherwise). Held, never
        # removed, on that alone.
        findings.append(("hold", f"new author with comments held as spam ({facts.author_spam})"))
    return findings


def _language_findings(facts: Facts) -> list[tuple[Severity, str]]:
    if facts.toxicity is not None:
        return []
    if facts.language == UNDETERMINED:
        return [("firm_hold", "language not determined")]
    return [("firm_hold", f"language {facts.language} not covered")]


def _toxicity_findings(settings: SiteSettings, facts: Facts) -> list[tuple[Severity, str]]:
    if facts.toxicity is None:
        return []
    thresholds: dict[str, Threshold] = {str(k): v for k, v in settings.thresholds.items()}
    findings: list[tuple[Severity, str]] = []
    for label, score in sorted(facts.toxicity.items(), key=lambda item: -item[1]):
        threshold = thresholds.get(label)
        if threshold is None:
            continue
        if score >= threshold.reject:
            findings.append(("reject", f"{label} {cut(score)} ≥ {threshold.reject:.2f}"))
        elif score >= threshold.hold:
            findings.append(("hold", f"{label} {cut(score)} ≥ {threshold.hold:.2f}"))
    return findings


def _premod_findings(settings: SiteSettings, facts: Facts) -> list[tuple[Severity, str]]:
    mode = settings.premod
    if mode == "all":
        return [("hold", "site pre-moderates every comment")]
    if mode == "new_authors" and facts.author_approved == 0:
        return [("hold", "new author (site pre-moderates new authors)")]
    links = count_links(facts.body) if mode == "links" else 0
    if links:
        return [("hold", f"{links} link{'s' * (links != 1)} (site pre-moderates links)")]
    return []
