"""WordPress's WXR export: RSS `<item>`s (posts, pages) with their `<wp:comment>`s.

As WordPress writes it (namespace `http://wordpress.org/export/1.x/`): an item has
`<title>`, `<link>`, `<wp:post_id>`, `<wp:comment_status>` (open/closed); a comment has
`<wp:comment_id>`, `<wp:comment_author>`, `<wp:comment_author_IP>`, `<wp:comment_date>`
(site time) and `<wp:comment_date_gmt>` (UTC, `0000-00-00 00:00:00` when WordPress never
set it), `<wp:comment_content>`, `<wp:comment_approved>` (`1`, `0` awaiting moderation,
`spam`, `trash`, `post-trashed`), `<wp:comment_type>` (empty or `comment` for comments;
`pingback`, `trackback` and plugins' own types are not readers' comments),
`<wp:comment_parent>` (`0` for none) and `<wp:comment_user_id>` (`0` for a visitor).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from lxml import etree

from moderation.errors import ImportFailed
from moderation.imports import (
    Comment,
    Record,
    Skipped,
    Thread,
    address,
    article_id,
    describe,
    escaped_name,
    html_text,
    placeholder_if_empty,
)
from moderation.imports.xmlstream import child_text, elements, line, local, utc, where
from moderation.payloads import page_url
from moderation.statuses import Status

_WP = "http://wordpress.org/export/"
_NEVER_SET = "0000-00-00 00:00:00"
WHAT = "WordPress export"
_STATUS: dict[str, tuple[Status, bool, str]] = {
    "1": ("approved", False, "imported from WordPress"),
    "0": ("review", False, "awaiting moderation in WordPress"),
    "spam": ("spam", False, "marked spam in WordPress"),
    "trash": ("rejected", True, "trashed in WordPress"),
    "post-trashed": ("rejected", True, "its post was trashed in WordPress"),
}


def _is_item(element: etree._Element) -> bool:
    return local(element) == "item"


def read(source: BinaryIO) -> Iterator[Record]:
    for item in elements(source, "rss", ("item",), _is_item, WHAT):
        key = (child_text(item, "post_id") or "").strip()
        if not key:
            raise ImportFailed(f"{where(item, WHAT)} has no <wp:post_id>")
        link = child_text(item, "link")
        title = child_text(item, "title")
        yield Thread(
            key=key,
            article=article_id(None, link, query=True),
            title=" ".join(title.split()) if title else None,
            url=page_url(link),
            open=(child_text(item, "comment_status") or "open").strip() != "closed",
        )
        for element in item:
            if (
                isinstance(element.tag, str)
                and (etree.QName(element).namespace or "").startswith(_WP)
                and local(element) == "comment"
            ):
                yield _comment(element, key)


def _comment(element: etree._Element, thread: str) -> Comment | Skipped:
    at = line(element)
    kind = (child_text(element, "comment_type") or "").strip()
    if kind not in ("", "comment"):
        return Skipped(kind, at)
    comment_id = (child_text(element, "comment_id") or "").strip()
    if not comment_id.isdigit():
        raise ImportFailed(f"{where(element, WHAT)}: <wp:comment_id> {describe(comment_id)}")
    approved = (child_text(element, "comment_approved") or "").strip()
    if approved not in _STATUS:
        raise ImportFailed(
            f"{where(element, WHAT)}: <wp:comment_approved> {describe(approved)} is not "
            f"one of {', '.join(_STATUS)}"
        )
    status, deleted, reason = _STATUS[approved]
    body = "" if deleted else html_text(child_text(element, "comment_content"))
    parent = (child_text(element, "comment_parent") or "0").strip()
    user = (child_text(element, "comment_user_id") or "0").strip()
    comment = Comment(
        key=f"wordpress:{comment_id}",
        thread=thread,
        parent=None if parent in ("", "0") else f"wordpress:{parent}",
        author_id=None if user in ("", "0") else f"wordpress:{user}",
        author_name=escaped_name(child_text(element, "comment_author")),
        body=body,
        created_at=_created(element),
        status=status,
        line=at,
        deleted=deleted,
        client_addr=address(child_text(element, "comment_author_IP")),
        reasons=(reason,),
    )
    return placeholder_if_empty(comment)


def _created(element: etree._Element) -> datetime:
    # The GMT time is the true one; where WordPress left it unset, the site's local time
    # is the only one there is.
    gmt = (child_text(element, "comment_date_gmt") or "").strip()
    if gmt and gmt != _NEVER_SET:
        return utc(gmt, element, WHAT, "wp:comment_date_gmt")
    return utc(child_text(element, "comment_date"), element, WHAT, "wp:comment_date")
