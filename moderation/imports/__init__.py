"""Importers: each format's reader turns its file into the same neutral records.

A reader streams (bounded memory whatever the file's size) and yields `Thread`,
`Author`, `Comment` and `Skipped` records in file order; `moderation.importer` stages
them in PostgreSQL and resolves threads, parents and authors there. A reader raises
`ImportFailed` naming the line or element for a file it cannot read.
"""

from __future__ import annotations

import html.parser
import ipaddress
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from moderation.payloads import BIDI_CONTROLS, CONTROL, INVISIBLE, clean_name, clean_text
from moderation.statuses import Status

# The reader API's limits on what it takes: imports keep to them too.
MAX_ARTICLE_ID = 200
MAX_NAME = 100
ANONYMOUS = "Anonymous"


@dataclass(frozen=True, slots=True)
class Thread:
    """A source's discussion of one page; it becomes the article `article`."""

    key: str  # how the source's comments name the thread
    article: str | None  # the article id here; None when the source gives nothing usable
    title: str | None = None
    url: str | None = None
    open: bool = True
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Author:
    """An author with their standing (only this service's own export carries these)."""

    external_id: str
    name: str
    status: str = "normal"
    status_until: datetime | None = None
    # Erased before the export (who erased them): an import brings none of it back.
    erased_at: datetime | None = None
    erased_by: str | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """One comment as its source kept it. `key` is unique within the source."""

    key: str
    thread: str
    parent: str | None
    author_id: str | None  # the author's external id here; None: anonymous
    author_name: str
    body: str
    created_at: datetime
    status: Status
    line: int
    # Deleted at the source: kept only as a placeholder above replies that stay.
    deleted: bool = False
    # Without text at the source (only an image, say): kept as a deleted one is.
    empty: bool = False
    client_addr: str | None = None
    user_agent: str | None = None
    reasons: tuple[str, ...] = ()
    language: str | None = None
    scores: dict[str, float] | None = None
    model: str | None = None
    decided_at: datetime | None = None
    hidden: bool = False
    featured_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something in the file that is not a reader's comment (a pingback, a trackback)."""

    reason: str
    line: int


Record = Thread | Author | Comment | Skipped


def article_id(identifier: str | None, url: str | None, *, query: bool = False) -> str | None:
    """The article id for a source thread: its own identifier, else its page's path.

    The path is what a page knows of itself without a CMS id, so the widget can be given
    the same value as `data-article`; the query counts only where it names the page
    (WordPress's `/?p=4`), not where it is tracking noise (Disqus's `?utm_source=`).
    """
    candidate = (identifier or "").strip()
    if not candidate and url:
        try:
            parts = urlsplit(url.strip())
        except ValueError:  # not an address ("http://[gazette.example/"): no path to use
            return None
        candidate = (parts.path or "/") + (f"?{parts.query}" if query and parts.query else "")
    if not candidate or len(candidate) > MAX_ARTICLE_ID:
        return None
    return candidate


def placeholder_if_empty(comment: Comment) -> Comment:
    """`comment`, or where it has no text (only an image, say), a removed placeholder as
    for a deleted comment: its replies keep their place, and where none replies it is
    skipped as an empty comment."""
    if comment.body or comment.deleted:
        return comment
    return replace(
        comment,
        status="rejected",
        deleted=True,
        empty=True,
        reasons=(*comment.reasons, "no text to import"),
    )


def text(value: str | None) -> str:
    """Stored text as intake would store it, with control characters dropped, not refused."""
    if not value:
        return ""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = CONTROL.sub("", value)
    try:
        return clean_text(value)
    except ValueError:  # nothing left
        return ""


# What intake keeps out of a name (`clean_name`), dropped here rather than refused.
_UNSEEN = dict.fromkeys(map(ord, INVISIBLE | BIDI_CONTROLS))


def name(value: str | None) -> str:
    """An author's display name on one line, within intake's length, as intake would
    take it; never empty."""
    flat = " ".join(text(value).translate(_UNSEEN).split())[:MAX_NAME]
    try:
        return clean_name(flat)
    except ValueError:
        return ANONYMOUS


def escaped_name(value: str | None) -> str:
    """`name` of one the source stored HTML-escaped: WordPress (`_wp_specialchars`) and
    Isso (`html.escape`) keep `Smith & Sons <3` as `Smith &amp; Sons &lt;3`."""
    return name(html.unescape(value) if value else value)


def address(value: str | None) -> str | None:
    """A client address PostgreSQL's `inet` takes, or None for anything else."""
    if not value:
        return None
    try:
        parsed = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # WordPress writes IPv4 clients as IPv4-mapped IPv6 (::ffff:82.119.20.7).
    mapped = parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else None
    return str(mapped or parsed)


_BLOCKS = frozenset({"p", "div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4"})
_SKIP = frozenset({"script", "style"})
_BLANK_LINES = re.compile(r"\n{3,}")
_SCHEME = re.compile(r"^(?:[a-z]+://)?(?:www\.)?")


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._href: str | None = None
        self._link_text: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self._end_link()
            self.parts.append("\n\n")
        elif tag == "a":
            self._end_link()
            self._href = dict(attrs).get("href") or None
            self._link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self._end_link()
            self.parts.append("\n\n")
        elif tag == "a":
            self._end_link()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if self._href is not None:
            self._link_text.append(data)
        else:
            self.parts.append(data)

    def close(self) -> None:
        super().close()
        self._end_link()

    def _end_link(self) -> None:
        # WordPress and Disqus leave an <a> unclosed at times: a paragraph, the next link
        # or the comment's end closes it, and its text is the comment's all the same.
        if self._href is not None:
            label = "".join(self._link_text)
            self.parts.append(_link(" ".join(label.split()), self._href))
            # "<a>that </a>one": the space the label ended with still parts the words.
            if label[-1:].isspace():
                self.parts.append(" ")
            self._href = None


def _link(label: str, href: str) -> str:
    # Disqus shortens long links' labels ("http://blogs.msdn.com/b/b8/..."): the address
    # is what a reader (and spam scoring) needs, the label only when it says more.
    shortened = _bare(label.removesuffix("...").removesuffix("…"))
    if not shortened or _bare(href).startswith(shortened):
        return href
    return f"{label} ({href})"


def _bare(url: str) -> str:
    return _SCHEME.sub("", url.strip().lower())


def html_text(markup: str | None) -> str:
    """Plain text from a comment's HTML: paragraphs and breaks as newlines, links kept."""
    if not markup:
        return ""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    joined = "".join(parser.parts)
    lines = "\n".join(line.strip() for line in joined.split("\n"))
    return text(_BLANK_LINES.sub("\n\n", lines))


def describe(value: Any, limit: int = 60) -> str:
    """A value as an error message quotes it: short enough to read."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
