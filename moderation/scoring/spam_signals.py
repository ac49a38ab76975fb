"""Rule-based spam signals: what a comment and its author's recent behaviour give away.

Each signal has a reason in words and a strength: how likely the comment is spam on that
signal alone (see `spam.combine` for how strengths meet the classifier's probability).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from moderation.links import SCHEME, SHORTENERS, TLDS, URL, domain, urls
from moderation.lookalikes import disguised_word, script_of
from moderation.payloads import BIDI_CONTROLS, INVISIBLE


@dataclass(frozen=True, slots=True)
class SpamContext:
    """What the worker knows about one comment besides its text."""

    body: str
    author_name: str
    new_author: bool  # the author has no approved comment on this site yet (anonymous: True)
    author_recent: int  # comments by the same author in the last 10 minutes, this one excluded
    address_recent: int  # comments from the same client address in the last 10 minutes, same
    duplicates: int  # same normalised text on other articles or by other authors in 24 h
    site_id: int | None = None  # whose spam model scores it (None: the seed's)


@dataclass(frozen=True, slots=True)
class Signal:
    """One piece of evidence: why, and how likely spam it makes the comment on its own."""

    reason: str
    strength: float


# A link that carries its sharer's referral or affiliate code: ?ref=4436607, ?r=HuPwEH5ab,
# ?AffiliateID=..., /ref/name99. A code has a digit: news sites tag their own links with
# words (?ref=homepage, ?partner=rss), which readers citing them copy.
_REFERRAL = re.compile(
    r"[?&;](?:ref|r|referr\w*|partner\w*)=[^&#?\s]*\d|[?&;]aff\w*=[^&#?\s]"
    r"|/(?:ref|aff|referral)/[^/?#\s]*\d",
    re.IGNORECASE,
)
# A link spelled so that filters miss it and readers can still type it: "mtvema. com/vote",
# "greatdeals .com", "site[dot]shop". Not "the dot com bubble", "the Department of
# Transportation (DOT)", nor a sentence ending before a lower-case word: only com, net and
# org, which prose does not start a sentence with, and only before a "/", a "(" or the end.
_SPELLED_LINK = re.compile(
    r"(?<![\w-])[a-z0-9-]{3,}+(?: \. ?|\. )(?-i:com|net|org)(?=/|\s*+\(|\s*+$)"
    rf"|(?<![\w-])[a-z0-9-]{{3,}}+ ?[(\[](?-i:dot)[)\]] ?(?-i:{TLDS})\b",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<![\w.])@(\w{3,})")
_NAME_WORD = re.compile(r"[^\W\d_]{4,}")
_NOT_NAME = re.compile(r"[\W_]+")
_PATH_PART = re.compile(r"[/?&=#.]")
_SLUG_PART = re.compile(r"[-_+]")

# Phrases that put a reader in touch with a seller, push money or promote a channel, each
# with its strength; English plus the Russian that shows up on the same sites. Money talk
# that news readers also use ("nurses earn $40,000 a year") stays weak on its own.
_MESSENGERS = r"whats\s?app|telegram|viber|wechat|kik|skype|snapchat"
# fmt: off
_PHRASES: tuple[tuple[str, float, str], ...] = (
    # Blanks are possessive (what follows them is never one, so giving them back cannot
    # help): backtracking through them cost "whatsapp" and 20,000 spaces seconds.
    ("contact phrase", 0.5, rf"(?:{_MESSENGERS})\s*+(?:me|us|now|:?\s*+@\w+|"
                            r":?\s*+\+?\d[\d -]{6,})\b"),
    ("contact phrase", 0.5, r"(?:message|contact|text|call|reach|dm|add|write to|chat with) "
                            r"(?:me|us) (?:on|via|at|through) "
                            rf"(?:{_MESSENGERS}|instagram|signal)\b"),
    ("contact phrase", 0.4, r"call (?:now|today|me at|us at)\b"),
    ("contact phrase", 0.5, r"(?:пиши|напиши)(?:те)? (?:мне |нам )?в (?:whats\s?app|telegram|"
                            r"телеграм\w*|вацап\w*|ватсап\w*|личку|лс)"),
    ("ad phrase", 0.3, r"earn (?:[$€£]\s?\d[\d,.]*k?|money|cash|extra)|financial freedom|"
                       r"[$€£]\s?\d[\d,.]*k? (?:per|a|an|every) (?:day|week|hour)\b|"
                       r"(?:buy|order) now\b"),
    ("ad phrase", 0.3, r"click (?:here|the link|this link|my link|on my)\b|limited offer|"
                       r"promo code"),
    ("ad phrase", 0.5, r"work(?:ing)? from home|(?:passive|extra) income|guaranteed (?:profit|"
                       r"returns?|income)|заработ\w* (?:от |до )?\d+|заработок в интернете"),
    ("ad phrase", 0.5, r"(?:free|cheap|buy) (?:followers|likes|views|subscribers|gift ?cards?|"
                       r"robux|v-?bucks|psn codes?)\b"),
    ("ad phrase", 0.5, r"(?:bitcoin|btc|crypto|forex|binary options?)(?: \w+)? (?:investment|"
                       r"trading|profits?|signals?|mining|platform|account manager)\b|"
                       r"invest(?:ment)? (?:platform|opportunity|plan)\b|пассивный доход"),
    # A reader pointing others at their own channel or blog reaches the hold line (0.55 on
    # every new site) on that alone: a moderator decides, whatever the words around it.
    # Not "check my account" (a bank's outage), "come see my street" or "this is my album
    # of the year": only "check out my" takes any page, the rest want a channel's wares.
    ("self-promotion", 0.55, r"check out my (?:new |latest |first |own )?(?:youtube )?"
                            r"(?:channel|videos?|page|music|songs?|blog|website|site|profile|"
                            r"account|mixtape|covers?|app|tracks?|playlists?|raps?|beats?|vlogs?|"
                            r"album)\b|"
                            r"(?:check|come (?:and )?(?:watch|see|check out|listen to)) my "
                            r"(?:new |latest |first |own )?(?:youtube )?"
                            r"(?:channel|videos?|music|songs?|mixtape|covers?|tracks?|playlists?|"
                            r"raps?|beats?|vlogs?|album)\b|"
                            r"(?:see|watch|listen to|hear|visit|look up) my "
                            r"(?:new |latest |first )?(?:youtube )?"
                            r"(?:channel|videos|music|songs?|blog|tracks?|playlists?|"
                            r"raps?|beats|vlogs?|mixtape|covers?|album)\b|"
                            r"(?:this is|here'?s|here is) my (?:new |latest |first )?(?:youtube )?"
                            r"(?:channel|playlist|mixtape|vlog|album)\b(?! of\b)|"
                            r"(?:follow|like|sub)s? ?4 ?(?:follow|like|sub)s?\b|"
                            r"(?:follow|sub)s? for (?:follow|sub)s?\b|"
                            r"(?:suscr|subscr)\w* a mi canal\b"),
    # Asking for likes, not a reader who likes a comment ("I really like this comment").
    ("like-farming", 0.4, r"(?:please |pls |plz )like (?:this|my) comment\b|"
                          r"like (?:this|my) comment (?:if (?:you|u|ur|your|you're|youre)\b|"
                          r"for no reason|please\b)|how many (?:people )?like (?:this|my) comment|"
                          r"give (?:it|this|me) a like\b"),
    ("self-promotion", 0.4, r"subscribe to (?:my|me|our)\b|visit my (?:channel|page|blog|website|"
                            r"site|profile)\b|check my (?:page|blog|website|site|profile)\b|"
                            r"follow (?:me|my page) on\b"),
)
# fmt: on
# (?<!\w) rather than \b: a phrase may start with a currency sign.
_PHRASE_PATTERNS = tuple(
    (kind, strength, re.compile(rf"(?<!\w)(?:{pattern})", re.IGNORECASE))
    for kind, strength, pattern in _PHRASES
)
# Any of them, in one scan: most comments hold none, and this costs about a third of
# trying each pattern in turn, which tests every position eleven times.
_ANY_PHRASE_PATTERN = rf"(?<!\w)(?:{'|'.join(f'(?:{pattern})' for _, _, pattern in _PHRASES)})"
_ANY_PHRASE = re.compile(_ANY_PHRASE_PATTERN, re.IGNORECASE)
# The patterns are lower case: on ASCII text, lower() is exactly what IGNORECASE compares,
# and a case-sensitive scan of the lowered text takes half the time.
_ANY_PHRASE_LOWERED = re.compile(_ANY_PHRASE_PATTERN)

# Always suspicious in a comment: zero-width spaces and joiners of no script, invisible
# operators, and bidi embeddings/overrides/isolates that reorder what a reader sees.
_INVISIBLE = INVISIBLE | BIDI_CONTROLS
# ZWNJ/ZWJ are part of writing Persian, Indic scripts and emoji; only between letters of
# scripts that never use them are they a trick.
_JOINERS = frozenset("\u200c\u200d")
_TAGS = re.compile("[\U000e0000-\U000e007f]")
# A flag such as England's is a black flag followed by tag characters: that is an emoji.
_FLAG_SEQUENCE = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")

_SHOUTING_MIN_LETTERS = 25
_SHOUTING_SHARE = 0.85
_RUN = re.compile(r"(\S)\1{9,}")
_DUPLICATE_MIN_CHARS = 20


def strip_invisible(text: str) -> str:
    """`text` without zero-width, joiner, bidi-control and tag characters."""
    if text.isascii():  # most comments: none of those is ASCII
        return text
    return _TAGS.sub("", "".join(c for c in text if c not in _INVISIBLE and c not in _JOINERS))


def link_signals(ctx: SpamContext) -> Iterator[Signal]:
    """Links, more damning from an author the site has never approved; bare links; shorteners."""
    # These carry the weight of links: the classifier counts a link as such for little
    # (spam.LINK_LOGIT_CAP). One link from a new author may well be a reader citing a
    # source, so alone it can send a comment to review but not mark it spam.
    text = strip_invisible(ctx.body)
    found = urls(text)
    count = len(found)
    if count:
        noun = "link" if count == 1 else "links"
        if ctx.new_author:
            strength = {1: 0.4, 2: 0.6}.get(count, 0.8)
            yield Signal(f"{count} {noun} from a new author", strength)
        elif count >= 2:
            yield Signal(f"{count} {noun}", 0.2 if count == 2 else 0.5)
        if not any(char.isalpha() for char in URL.sub("", text)):
            # A source is introduced ("Source:", "see"); a link dropped with no word is not.
            yield Signal("nothing but a link" if count == 1 else "nothing but links", 0.3)
    shorteners = sorted({domain(url) for url in found} & SHORTENERS)
    for host in shorteners:
        yield Signal(f"URL shortener {host}", 0.6)
    if any(_REFERRAL.search(url) for url in found):
        # Paid per visitor or sign-up: a reader citing a source has no code of their own.
        yield Signal("referral link", 0.3)
    if ctx.new_author and _SPELLED_LINK.search(text):
        # Weighed as a link is: a reader the site knows may spell out a source.
        yield Signal("link spelled to slip past filters", 0.4)
    handles = _HANDLE.findall(text) if "@" in text else []
    if (found or handles) and names_its_author(ctx.author_name, found, handles):
        # Readers cite others' pages and address others; a link to one's own page or one's
        # own handle is the author promoting themselves.
        yield Signal("link or handle with the author's own name", 0.2)


def names_its_author(name: str, links: Sequence[str], handles: Sequence[str]) -> bool:
    """Whether an @handle or a link's profile slot carries the author's display name.

    The slot is the first part of a link's path when it is a user name rather than an
    article's slug of many words: facebook.com/TLouXmusic, reverbnation.com/slicknick313.
    It must be the name, hold a name of several words run together ("TLouX music"), two
    of its words of four letters or more, or one of them beside a digit, as user names do
    when the plain name was taken ("Nick M", slicknick313). A word alone is a word: "News
    Junkie" citing theguardian.com/uk-news/..., "Bill Thompson" citing
    bills.parliament.uk/bills/3456, "Mark" citing ft.com/markets name nobody. A handle
    counts when it is the name, holds a name of several words, or holds the last of
    them in a longer handle ("Fredrik Jonsson", @axeljonssons), not a first name that a
    reply's namesake may share."""
    lowered = name.lower()
    parts = _NOT_NAME.sub(" ", lowered).split()
    whole, several = "".join(parts), len(parts) > 1
    words = _NAME_WORD.findall(lowered)
    if len(whole) < 4 or not words:
        return False
    for url in links:
        slot = _PATH_PART.split(SCHEME.sub("", url.lower()).partition("/")[2], maxsplit=1)[0]
        if len(_SLUG_PART.split(slot)) > 2:  # an article's slug, not a user name
            continue
        named = sum(word in slot for word in words)
        digit = any(char.isdigit() for char in slot)
        if slot == whole or (several and whole in slot) or named >= 2 or (named and digit):
            return True
    last = words[-1]
    return any(
        handle == whole or (several and (whole in handle or (last in handle and last != handle)))
        for handle in map(str.lower, handles)
    )


def phrase_signals(ctx: SpamContext) -> Iterator[Signal]:
    """Contact, advertising and self-promotion phrases, each quoted once."""
    text = unicodedata.normalize("NFKC", strip_invisible(ctx.body))
    if not may_hold_phrase(text):
        return
    seen: set[str] = set()
    for kind, strength, pattern in _PHRASE_PATTERNS:
        for match in pattern.finditer(text):
            phrase = " ".join(match.group(0).lower().split())
            if phrase not in seen:
                seen.add(phrase)
                yield Signal(f"{kind} '{phrase}'", strength)


def may_hold_phrase(text: str) -> bool:
    """False when none of the phrase patterns can match `text` (one scan for all)."""
    if text.isascii():
        return _ANY_PHRASE_LOWERED.search(text.lower()) is not None
    return _ANY_PHRASE.search(text) is not None


def repetition_signals(ctx: SpamContext) -> Iterator[Signal]:
    """Long runs of one character and mostly-capital text: weak alone, telling with others."""
    run = max((len(m.group(0)) for m in _RUN.finditer(ctx.body)), default=0)
    if run:
        yield Signal(f"one character repeated {run} times", 0.15)
    upper, cased = cased_letters(ctx.body)
    if cased >= _SHOUTING_MIN_LETTERS and upper >= _SHOUTING_SHARE * cased:
        yield Signal("mostly capital letters", 0.1)


def behaviour_signals(ctx: SpamContext) -> Iterator[Signal]:
    """The same text elsewhere, and how fast the author or the address is posting."""
    if ctx.duplicates >= 2 and len(ctx.body.strip()) >= _DUPLICATE_MIN_CHARS:
        # Short texts ("Agreed.", "Thank you!") repeat honestly; long ones rarely do.
        strength = 0.9 if ctx.duplicates >= 9 else 0.7 if ctx.duplicates >= 4 else 0.4
        yield Signal(f"same text posted {ctx.duplicates + 1} times", strength)
    if ctx.author_recent >= 4:
        strength = 0.6 if ctx.author_recent >= 9 else 0.3
        yield Signal(f"{ctx.author_recent + 1} comments in 10 minutes by this author", strength)
    # An address is often shared (offices, mobile networks), so it needs more to count.
    if ctx.address_recent >= 9:
        strength = 0.5 if ctx.address_recent >= 19 else 0.3
        yield Signal(f"{ctx.address_recent + 1} comments in 10 minutes from this address", strength)


def disguise_signals(ctx: SpamContext) -> Iterator[Signal]:
    """Invisible characters and words spelled with letters of another script."""
    if ctx.body.isascii():  # one script, nothing invisible: most comments stop here
        return
    hidden = list(hidden_characters(ctx.body))
    if hidden:
        # One that splits a word ("vi<ZWSP>agra") is made to slip past filters.
        yield Signal("invisible characters", 0.6 if any(hidden) else 0.3)
    # Words of three letters or more: a disguise hides a brand or an address from filters,
    # and "Oh" typed with a Greek keyboard's omicron in an English comment hides nothing.
    if disguised_word(strip_invisible(ctx.body), shortest=3) is not None:
        yield Signal("homoglyphs mixing scripts", 0.6)


def hidden_characters(text: str) -> Iterator[bool]:
    """For each invisible character that serves no script or emoji: whether it splits a word."""
    # A byte-order mark at either end is a copy-paste artefact, not a disguise.
    text = _FLAG_SEQUENCE.sub("", text.strip("\ufeff"))
    for i, char in enumerate(text):
        if char in _INVISIBLE or char in _JOINERS or _TAGS.match(char):
            before = text[i - 1] if i else ""
            after = text[i + 1 : i + 2]
            if char in _JOINERS and not (script_of(before) and script_of(after)):
                continue
            yield before.isalpha() and after.isalpha()


_ASCII_UPPER = string.ascii_uppercase.encode()
_ASCII_LOWER = string.ascii_lowercase.encode()


def cased_letters(text: str) -> tuple[int, int]:
    """How many of `text`'s characters are capitals, and how many have a case at all."""
    if text.isascii():  # most comments: bytes.translate counts in C, ten times faster
        data = text.encode("ascii")
        upper = len(data) - len(data.translate(None, _ASCII_UPPER))
        return upper, upper + len(data) - len(data.translate(None, _ASCII_LOWER))
    upper = sum(map(str.isupper, text))  # no character is both upper and lower case
    return upper, upper + sum(map(str.islower, text))


def spam_signals(ctx: SpamContext) -> list[Signal]:
    """Every rule-based signal that fires for `ctx`, strongest first."""
    found = [
        *link_signals(ctx),
        *phrase_signals(ctx),
        *repetition_signals(ctx),
        *behaviour_signals(ctx),
        *disguise_signals(ctx),
    ]
    return sorted(found, key=lambda s: -s.strength)
