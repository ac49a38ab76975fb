"""This service's own export: JSON lines, written by `moderation export`.

The first line describes the site and the format; then every article, every author,
and every comment (parents before their replies), one JSON object per line, and a last
line that counts them:

    {"type": "site", "format": "moderation-export", "version": 2, "slug": ..., ...}
    {"type": "article", "id": "story-42", "title": ..., "url": ..., "open": true}
    {"type": "author", "id": "reader-1", "name": "Ann", "status": "normal", ...}
    {"type": "comment", "key": "moderation:daily:17", "article": "story-42",
     "parent": null, "author": "reader-1", "author_name": "Ann", "body": ..., ...}
    {"type": "end", "articles": 1, "authors": 1, "comments": 1}

A file cut short at a line's end is whole JSON lines still: without the end line, or
with other counts, a version 2 file is refused. Version 1 (no end line) is still read.

A comment's `key` is the id it was imported under, or `moderation:<site>:<id>`, so
moving a site on again, re-importing, and importing a site's export back into that
site all stay idempotent. `history` (the audit log)
is written for the record; importing keeps each comment's last status and reasons, and
when it was featured, and each author's erasure (when, by whom).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from moderation.errors import ImportFailed
from moderation.imports import (
    MAX_ARTICLE_ID,
    Author,
    Comment,
    Record,
    Thread,
    address,
    text,
)
from moderation.imports import name as display_name
from moderation.payloads import page_url
from moderation.statuses import Status

FORMAT = "moderation-export"
VERSION = 2
# The end line's counts, by the `type` of the lines they count.
COUNTED = {"article": "articles", "author": "authors", "comment": "comments"}
WHAT = "JSON-lines export"
AuthorStatus = Literal["normal", "trusted", "premod", "banned"]


class _Line(BaseModel):
    # Lines may carry more than this version reads (the audit history, ids for reference).
    model_config = ConfigDict(extra="ignore", frozen=True)


class SiteLine(_Line):
    type: Literal["site"]
    format: Literal["moderation-export"]
    version: Literal[1, 2]  # 1: written before exports ended with an end line
    slug: str


class ArticleLine(_Line):
    type: Literal["article"]
    id: str = Field(min_length=1, max_length=MAX_ARTICLE_ID)
    title: str | None = None
    url: str | None = None
    open: bool = True


class AuthorLine(_Line):
    type: Literal["author"]
    id: str = Field(min_length=1, max_length=200)
    name: str
    status: AuthorStatus = "normal"
    status_until: AwareDatetime | None = None
    erased_at: AwareDatetime | None = None
    erased_by: str | None = None


class CommentLine(_Line):
    type: Literal["comment"]
    key: str = Field(min_length=1)
    article: str = Field(min_length=1, max_length=MAX_ARTICLE_ID)
    parent: str | None = None
    author: str | None = None
    author_name: str
    body: str
    status: Status
    reasons: list[str] = []
    language: str | None = None
    scores: dict[str, float] | None = None
    model: str | None = None
    created_at: AwareDatetime
    decided_at: AwareDatetime | None = None
    hidden: bool = False
    featured_at: AwareDatetime | None = None
    client_addr: str | None = None
    user_agent: str | None = None


class EndLine(_Line):
    type: Literal["end"]
    articles: int
    authors: int
    comments: int


_ENTRY: TypeAdapter[ArticleLine | AuthorLine | CommentLine | EndLine] = TypeAdapter(
    Annotated[ArticleLine | AuthorLine | CommentLine | EndLine, Field(discriminator="type")]
)


def read(path: Path, advance: Callable[[int], None]) -> Iterator[Record]:
    with path.open("rb") as lines:
        header: SiteLine | None = None
        end: EndLine | None = None
        counts = dict.fromkeys(COUNTED.values(), 0)
        for number, raw in enumerate(lines, start=1):
            advance(len(raw))
            if not raw.strip():
                continue
            data = _json(raw, number)
            if header is None:
                header = _parse(SiteLine, data, number)
                continue
            if end is not None:
                raise ImportFailed(f"{WHAT}: line {number}: comes after the end line")
            entry = _parse(_ENTRY, data, number)
            if isinstance(entry, EndLine):
                end = entry
                continue
            counts[COUNTED[entry.type]] += 1
            yield _record(entry, number)
        if header is None:
            raise ImportFailed(f"{WHAT}: the file is empty")
        _check_whole(header, end, counts)


def _check_whole(header: SiteLine, end: EndLine | None, counts: dict[str, int]) -> None:
    """`ImportFailed` unless the file holds what its end line counts (version 2 on)."""
    if header.version == 1:
        return
    held = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    if end is None:
        raise ImportFailed(
            f"{WHAT}: the file ends without its end line after {held}: it was cut short"
        )
    expected = {kind: getattr(end, kind) for kind in counts}
    if expected != counts:
        said = ", ".join(f"{n} {kind}" for kind, n in expected.items())
        raise ImportFailed(f"{WHAT}: the end line counts {said}, but the file holds {held}")


def _json(raw: bytes, number: int) -> Any:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ImportFailed(f"{WHAT}: line {number}: not JSON ({exc})") from exc
    if b"\\u0000" in raw and _holds_nul(data):
        # PostgreSQL's text cannot hold it, in an id or a key any more than in a text.
        raise ImportFailed(f"{WHAT}: line {number}: a NUL character (\\u0000) cannot be stored")
    return data


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _parse(model: Any, data: Any, number: int) -> Any:
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        hint = " (the first line must be this service's export header)" if number == 1 else ""
        raise ImportFailed(f"{WHAT}: line {number}: {where}: {error['msg']}{hint}") from exc


def _record(entry: ArticleLine | AuthorLine | CommentLine, number: int) -> Record:
    if isinstance(entry, ArticleLine):
        return Thread(
            key=entry.id,
            article=entry.id,
            title=entry.title,
            url=page_url(entry.url),
            open=entry.open,
        )
    if isinstance(entry, AuthorLine):
        # Erasure empties a name: it stays empty, not "Anonymous".
        erased = entry.erased_at is not None and not entry.name
        return Author(
            entry.id,
            "" if erased else display_name(entry.name),
            entry.status,
            entry.status_until,
            entry.erased_at,
            entry.erased_by,
        )
    return Comment(
        key=entry.key,
        thread=entry.article,
        parent=entry.parent,
        author_id=entry.author,
        author_name=display_name(entry.author_name),
        body=text(entry.body),
        created_at=entry.created_at,
        status=entry.status,
        line=number,
        client_addr=address(entry.client_addr),
        user_agent=entry.user_agent,
        reasons=tuple(entry.reasons),
        language=entry.language,
        scores=entry.scores,
        model=entry.model,
        decided_at=entry.decided_at,
        hidden=entry.hidden,
        featured_at=entry.featured_at,
    )


def native_prefix(site: str) -> str:
    """How an export's keys start for the comments posted on `site` itself."""
    return f"moderation:{site}:"


def comment_key(source_id: str | None, site: str, comment_id: int) -> str:
    """The portable id an export gives a comment (see the module's docstring)."""
    return source_id or f"{native_prefix(site)}{comment_id}"
