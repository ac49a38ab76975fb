"""Isso's SQLite database, read as Isso's own schema defines it (read-only).

`threads (id, uri, title)`: `uri` is the page's path, which is the article id here too.
`comments (tid, id, parent, created, modified, mode, remote_addr, text, author, email,
website, likes, dislikes, voters, notification)`: `created` is a Unix time, `mode` is 1
(published), 2 (awaiting moderation) or 4 (deleted but kept for its replies: empty text,
no author), `text` is the reader's Markdown, `remote_addr` is already anonymised by Isso.
Isso has no accounts, so every comment is anonymous with the name it was posted under
(`author`, which Isso stores HTML-escaped).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from moderation.errors import ImportFailed
from moderation.imports import (
    Comment,
    Record,
    Thread,
    address,
    article_id,
    describe,
    escaped_name,
    placeholder_if_empty,
    text,
)
from moderation.statuses import Status

WHAT = "Isso database"
_MODES: dict[int, tuple[Status, bool, str]] = {
    1: ("approved", False, "imported from Isso"),
    2: ("review", False, "awaiting moderation in Isso"),
    4: ("rejected", True, "deleted in Isso"),
}


def count(path: Path) -> int:
    """How many comments the database holds (the progress bar's length)."""
    with _open(path) as db:
        total: int = db.execute("SELECT count(*) FROM comments").fetchone()[0]
    return total


def read(path: Path, advance: Callable[[int], None]) -> Iterator[Record]:
    with _open(path) as db:
        for tid, uri, title in db.execute("SELECT id, uri, title FROM threads ORDER BY id"):
            yield Thread(
                key=str(tid),
                article=article_id(uri if isinstance(uri, str) else None, None),
                title=" ".join(title.split()) if isinstance(title, str) else None,
            )
        rows = db.execute(
            "SELECT id, tid, parent, created, mode, remote_addr, text, author "
            "FROM comments ORDER BY id",
        )
        for row in rows:
            advance(1)
            yield _comment(*row)


def _comment(
    comment_id: int,
    tid: int,
    parent: int | None,
    created: float,
    mode: int,
    remote_addr: str | None,
    body: str | None,
    author: str | None,
) -> Comment:
    if mode not in _MODES:
        raise ImportFailed(f"{WHAT}: comment {comment_id} has mode {describe(mode)}, not 1, 2 or 4")
    try:
        created_at = datetime.fromtimestamp(float(created), UTC)
    # OSError: beyond the platform's time_t (1e18).
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise ImportFailed(
            f"{WHAT}: comment {comment_id} has created {describe(created)}, not a Unix time"
        ) from exc
    status, deleted, reason = _MODES[mode]
    cleaned = "" if deleted else text(body)
    comment = Comment(
        key=f"isso:{comment_id}",
        thread=str(tid),
        parent=f"isso:{parent}" if parent is not None else None,
        author_id=None,
        author_name=escaped_name(author),
        body=cleaned,
        created_at=created_at,
        status=status,
        line=comment_id,
        deleted=deleted,
        client_addr=address(remote_addr),
        reasons=(reason,),
    )
    return placeholder_if_empty(comment)


@contextmanager
def _open(path: Path) -> Iterator[sqlite3.Connection]:
    if not path.is_file():
        raise ImportFailed(f"{WHAT}: {path} is not a file")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield db
    except sqlite3.DatabaseError as exc:
        raise ImportFailed(f"{WHAT}: {exc} (is this Isso's comments.db?)") from exc
    finally:
        db.close()
