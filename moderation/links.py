"""Links in a comment, as both the site policy (`premod: links`) and the spam signals
count them: with a scheme, after "www.", a bare domain with a TLD that prose does not
produce, or a URL shortener's.
"""

from __future__ import annotations

import re

# A bare domain's labels and their dots, before its TLD. The match starts where the first
# label does, never after a label and its dot or hyphen: every later start in "a.b-c.d"
# walks the same labels to the same end, and trying each made a 20,000-character
# "a.a.a..." cost seconds; now each character is walked from one start at most. The
# price: labels right after "_" or a non-ASCII letter and a dot or hyphen are not read
# ("my_blog.example.com" was the link "example.com"), nor those after three hyphens or a
# label of hyphens alone.
_BARE_DOMAIN_LABELS = r"\b(?<![a-z0-9][.-])(?<![a-z0-9-]-[.-])(?:[a-z0-9][a-z0-9-]*\.)+"
# Bare domains ("murdev.com/free") count as links only with a TLD that prose does not
# produce, in lower case or all capitals ("EXAMPLE.COM"): "agreed.It was" (a missing
# space) must not read as a link to a .it site. A country's two letters count before a
# path ("lemonde.fr/budget"), where prose has none: not those that are words or file
# endings ("it.is/was", "index.js/", "readme.md/").
TLDS = "com|net|org|info|biz|ru|pl|io|cc|xyz|top|site|online|club|shop|store|click|ws|su|ua|uk|tv"
_COUNTRIES = (
    "ar|at|au|be|br|ca|ch|cl|cn|co|cz|de|dk|es|fi|fr|gr|hk|hu|id|ie|il|in|it|jp|kr|ly|me|mx|"
    "my|nl|no|nz|pe|ph|pk|pt|ro|rs|se|sg|sk|th|tk|tr|tw|us|vn|za"
)
SHORTENERS = frozenset(
    {
        "bit.ly", "goo.gl", "tinyurl.com", "t.co", "ow.ly", "is.gd", "cutt.ly", "buff.ly",
        "rebrand.ly", "shorturl.at", "tiny.cc", "t.ly", "rb.gy", "bl.ink", "adf.ly", "shorte.st",
        "v.gd", "s.id", "lnkd.in", "t.me", "wa.me", "linktr.ee", "shhort.com", "linkbucks.com",
        "bc.vc", "ouo.io", "soo.gd", "clck.ru", "qps.ru", "u.to", "tr.im", "x.co",
    }
)  # fmt: skip
_SHORTENER_HOSTS = "|".join(re.escape(host) for host in sorted(SHORTENERS))
URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+"
    # The labels read once for both endings: a TLD, or a country's two letters and a path.
    rf"|{_BARE_DOMAIN_LABELS}(?:(?-i:{TLDS}|{TLDS.upper()})\b(?:/[^\s<>\"']*)?"
    rf"|(?-i:{_COUNTRIES}|{_COUNTRIES.upper()})/[^\s<>\"']*)"
    rf"|\b(?:{_SHORTENER_HOSTS})/[^\s<>\"']+",
    re.IGNORECASE,
)
# What every match of URL holds: a scheme's "://", "www.", or a dot before a letter or
# digit (a bare domain's TLD, a shortener's host). Most comments have none of these, and
# this scan costs a small part of URL's, which tries its domain branch at every word.
_URL_HINT = re.compile(r"://|www\.|\.\w", re.IGNORECASE)
# What comes before a link's host, if anything.
SCHEME = re.compile(r"^(?:https?://)?(?:www\.)?", re.IGNORECASE)


def urls(text: str) -> list[str]:
    """The links in `text`, with or without a scheme."""
    return URL.findall(text) if _URL_HINT.search(text) else []


def domain(url: str) -> str:
    """The host of `url`, lower-cased, without scheme or a leading `www.`."""
    rest = SCHEME.sub("", url.lower())
    return re.split(r"[/?#:]", rest, maxsplit=1)[0]
