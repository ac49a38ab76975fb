"""Disqus's XML export: `<thread>` elements, then `<post>` elements that name them.

As Disqus writes it (namespace `http://disqus.com`, ids in `dsq:id` attributes): a
thread has an `<id>` (the page's `disqus_identifier`, often empty), `<link>`, `<title>`,
`<isClosed>`, `<isDeleted>`; a post has `<message>` (HTML), `<createdAt>` (UTC),
`<isDeleted>`, `<isSpam>`, `<author>` (`<name>`, `<username>`, `<isAnonymous>`),
`<ipAddress>`, `<thread dsq:id>` and, for a reply, `<parent dsq:id>`. Exports also
hold threads with nothing but an empty `<id>`, and posts whose thread is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree

from moderation.errors import ImportFailed
from moderation.imports import (
    Comment,
    Record,
    Thread,
    address,
    article_id,
    html_text,
    placeholder_if_empty,
)
from moderation.imports import name as display_name
from moderation.imports.xmlstream import child, child_text, elements, flag, line, local, utc, where
from moderation.payloads import page_url

_DSQ_ID = "{http://disqus.com/disqus-internals}id"
_ROOT = "{http://disqus.com}disqus"
_TAGS = ("{http://disqus.com}thread", "{http://disqus.com}post")
WHAT = "Disqus export"


def _top_level(element: etree._Element) -> bool:
    parent = element.getparent()
    return parent is not None and local(parent) == "disqus" and local(element) in ("thread", "post")


def read(source: BinaryIO) -> Iterator[Record]:
    for element in elements(source, _ROOT, _TAGS, _top_level, WHAT):
        if local(element) == "thread":
            yield _thread(element)
        else:
            yield _post(element)


def _thread(element: etree._Element) -> Thread:
    key = element.get(_DSQ_ID)
    if not key:
        raise ImportFailed(f"{where(element, WHAT)} has no dsq:id")
    link = child_text(element, "link")
    title = child_text(element, "title")
    return Thread(
        key=key,
        article=article_id(child_text(element, "id"), link),
        title=" ".join(title.split()) if title else None,
        url=page_url(link),
        open=not flag(element, "isClosed"),
        deleted=flag(element, "isDeleted"),
    )


def _post(element: etree._Element) -> Comment:
    dsq_id = element.get(_DSQ_ID)
    own_id = (child_text(element, "id") or "").strip()
    if not dsq_id and not own_id:
        raise ImportFailed(f"{where(element, WHAT)} has neither a dsq:id nor an <id>")
    thread = child(element, "thread")
    if thread is None or not thread.get(_DSQ_ID):
        raise ImportFailed(f"{where(element, WHAT)} names no <thread dsq:id>")
    parent = child(element, "parent")
    author = child(element, "author")
    username = (child_text(author, "username") or "").strip() if author is not None else ""
    anonymous = author is None or flag(author, "isAnonymous") or not username
    deleted = flag(element, "isDeleted")
    spam = flag(element, "isSpam")
    body = "" if deleted else html_text(child_text(element, "message"))
    reasons = (
        "deleted in Disqus"
        if deleted
        else "marked spam in Disqus"
        if spam
        else "imported from Disqus",
    )
    comment = Comment(
        key=f"disqus:{dsq_id}" if dsq_id else f"disqus:id:{own_id}",
        thread=str(thread.get(_DSQ_ID)),
        parent=f"disqus:{parent.get(_DSQ_ID)}"
        if parent is not None and parent.get(_DSQ_ID)
        else None,
        author_id=None if anonymous else f"disqus:{username}",
        author_name=display_name(child_text(author, "name") if author is not None else None),
        body=body,
        created_at=utc(child_text(element, "createdAt"), element, WHAT, "createdAt"),
        status="rejected" if deleted else "spam" if spam else "approved",
        line=line(element),
        deleted=deleted,
        client_addr=address(child_text(element, "ipAddress")),
        reasons=reasons,
    )
    return placeholder_if_empty(comment)
