"""Streaming over large XML exports: one element at a time, in bounded memory."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import BinaryIO, cast

from lxml import etree

from moderation.errors import ImportFailed
from moderation.imports import describe

# libxml2 ends its messages with the position, which ours puts first.
_POSITION = re.compile(r", line \d+, column \d+$")


def elements(
    source: BinaryIO, wanted: Callable[[etree._Element], bool], what: str
) -> Iterator[etree._Element]:
    """Each element for which `wanted` is true, once it is complete; freed after use.

    Entities are not resolved and nothing is fetched from the network: an export is
    data, not a document with includes. A syntax error becomes `ImportFailed` with its
    line and column.
    """
    events = etree.iterparse(
        source, events=("end",), resolve_entities=False, no_network=True, remove_comments=True
    )
    try:
        for _, element in events:
            if not wanted(element):
                continue
            yield element
            # What was read is no longer needed: drop it and every earlier sibling, so
            # memory holds one element whatever the file's size.
            element.clear(keep_tail=False)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        message = _POSITION.sub("", exc.msg)
        raise ImportFailed(f"{what}: line {line}, column {column}: {message}") from exc


def local(element: etree._Element) -> str:
    return etree.QName(element).localname


def child_text(element: etree._Element, tag: str) -> str | None:
    """The text of the first child named `tag` (namespace aside), None when absent."""
    for child in element:
        if isinstance(child.tag, str) and local(child) == tag:
            return child.text or ""
    return None


def child(element: etree._Element, tag: str) -> etree._Element | None:
    for found in element:
        if isinstance(found.tag, str) and local(found) == tag:
            return found
    return None


def flag(element: etree._Element, tag: str) -> bool:
    return (child_text(element, tag) or "").strip().lower() == "true"


def line(element: etree._Element) -> int:
    # lxml-stubs leave `sourceline` untyped; lxml gives the element's first line.
    number = cast(int | None, element.sourceline)
    return number or 0


def where(element: etree._Element, what: str) -> str:
    return f"{what}: <{local(element)}> at line {line(element)}"


def utc(value: str | None, element: etree._Element, what: str, tag: str, fmt: str) -> datetime:
    """`value` (UTC, in `fmt`) as an aware datetime, or `ImportFailed` naming the element."""
    try:
        return datetime.strptime((value or "").strip(), fmt).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ImportFailed(
            f"{where(element, what)}: <{tag}> {describe(value)} is not a time ({fmt})"
        ) from exc
