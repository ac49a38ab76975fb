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
    source: BinaryIO,
    root: str,
    tags: tuple[str, ...],
    wanted: Callable[[etree._Element], bool],
    what: str,
) -> Iterator[etree._Element]:
    """Each element named in `tags` for which `wanted` is true, once it is complete;
    freed after use.

    The document's root must be `root` (`{namespace}name`), else `ImportFailed` names
    both: another format's file holds none of our elements, and would import nothing
    without a word. Entities are not resolved and nothing is fetched from the network:
    an export is data, not a document with includes. A syntax error becomes
    `ImportFailed` with its line and column.
    """
    # The root's start comes first when it is ours; else an element of ours does, or none.
    events = etree.iterparse(
        source,
        events=("start", "end"),
        tag=(root, *tags),
        resolve_entities=False,
        no_network=True,
        remove_comments=True,
    )
    checked = False
    try:
        for event, element in events:
            if not checked:
                _check_root(element.getroottree().getroot(), root, what)
                checked = True
            if event == "start" or not wanted(element):
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
    if not checked:
        _check_root(events.root, root, what)


def _check_root(found: etree._Element, root: str, what: str) -> None:
    if found.tag != root:
        raise ImportFailed(
            f"{what}: the root element is {_start_tag(str(found.tag))}, expected {_start_tag(root)}"
        )


def _start_tag(tag: str) -> str:
    # "{namespace}name" -> '<name xmlns="namespace">', as a reader would see it in the file.
    namespace, _, name = tag.lstrip("{").rpartition("}")
    return f'<{name} xmlns="{namespace}">' if namespace else f"<{name}>"


def local(element: etree._Element) -> str:
    # "{namespace}name" -> "name"; cheaper than QName, and this runs for every child.
    return str(element.tag).rpartition("}")[2]


def child(element: etree._Element, tag: str) -> etree._Element | None:
    """The first child named `tag` in any namespace (lxml's `{*}`), None when absent."""
    return element.find("{*}" + tag)


def child_text(element: etree._Element, tag: str) -> str | None:
    """The text of the first child named `tag`, "" when empty, None when absent."""
    found = element.find("{*}" + tag)
    return None if found is None else found.text or ""


def flag(element: etree._Element, tag: str) -> bool:
    return (child_text(element, tag) or "").strip().lower() == "true"


def line(element: etree._Element) -> int:
    # lxml-stubs leave `sourceline` untyped; lxml gives the element's first line.
    number = cast(int | None, element.sourceline)
    return number or 0


def where(element: etree._Element, what: str) -> str:
    return f"{what}: <{local(element)}> at line {line(element)}"


def utc(value: str | None, element: etree._Element, what: str, tag: str) -> datetime:
    """`value` (ISO 8601, UTC unless it says otherwise) as an aware datetime, or
    `ImportFailed` naming the element."""
    try:
        parsed = datetime.fromisoformat((value or "").strip())
    except ValueError as exc:
        raise ImportFailed(
            f"{where(element, what)}: <{tag}> {describe(value)} is not a time"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
