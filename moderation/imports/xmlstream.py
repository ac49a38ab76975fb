"""Streaming over large XML exports: one element at a time, in bounded memory."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import BinaryIO, cast

from lxml import etree

from moderation.errors import ImportFailed
from moderation.imports import describe

# libxml2 ends its messages with the position, which ours puts first.
_POSITION = re.compile(r", line \d+, column \d+$")
# The C0 controls XML 1.0 forbids: WordPress's exporter leaves them in a comment (\x08,
# \x0c), and libxml2 would stop the whole import at the first.
_FORBIDDEN = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_FORBIDDEN_BYTES = re.compile(_FORBIDDEN.encode())
_FORBIDDEN_CHARS = re.compile(_FORBIDDEN)
# How a file in a wide encoding starts (its byte order mark, else "<"), longest first:
# its code units hold bytes below 0x20 ("<" is 3C 00), so it is filtered as text.
_WIDE = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)


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
    an export is data, not a document with includes. The control characters XML 1.0
    forbids are dropped as the file is read; a syntax error becomes `ImportFailed` with
    its line and column.
    """
    # The root's start comes first when it is ours; else an element of ours does, or none.
    events = etree.iterparse(
        _Legal(source),
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
        # Some messages go on with a line of the text ("CData section not finished\nab").
        message = _POSITION.sub("", exc.msg).partition("\n")[0]
        raise ImportFailed(f"{what}: line {line}, column {column}: {message}") from exc
    if not checked:
        _check_root(events.root, root, what)


class _Legal:
    """A binary file read without the characters XML 1.0 forbids."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._filter: Callable[[bytes], bytes] | None = None

    def read(self, size: int = -1) -> bytes:
        # Never b"" before the end: that would tell libxml2 the file ends there.
        while data := self._source.read(size):
            if self._filter is None:
                self._filter = _filter_for(data)
            if kept := self._filter(data):
                return kept
        return b""


def _filter_for(start: bytes) -> Callable[[bytes], bytes]:
    """What drops the forbidden characters from a file that begins with `start`."""
    encoding = next((name for prefix, name in _WIDE if start.startswith(prefix)), None)
    if encoding is None:
        # UTF-8 and the other encodings built on ASCII: a byte below 0x20 is that control.
        return partial(_FORBIDDEN_BYTES.sub, b"")
    # Invalid code units pass as they are, for libxml2 to report.
    decoder = codecs.getincrementaldecoder(encoding)("surrogatepass")

    def filtered(data: bytes) -> bytes:
        chars = _FORBIDDEN_CHARS.sub("", decoder.decode(data))
        return chars.encode(encoding, "surrogatepass")

    return filtered


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
