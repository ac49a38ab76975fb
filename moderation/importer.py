"""Importing another system's comments into a site, in one transaction.

A format's reader streams neutral records (`moderation.imports`); they are copied into
staging tables in batches, then `moderation.db.imports` resolves threads, parents and
authors and inserts what is new. Comments keep their original times, authors and
status and are not scored again (unless asked: then what the source had published or
held is stored pending for the workers). Article counts and ETags follow through the
comments' own triggers. Comments already here (by source id, or by the id this site's
own export gives a comment posted here) are skipped, so running an import again, or
importing a site's export back into it, adds nothing; a malformed file raises
`ImportFailed` and, the transaction being one, nothing of it stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from moderation.db import Connection
from moderation.db import imports as import_queries
from moderation.imports import (
    Author,
    Comment,
    Record,
    Skipped,
    Thread,
    disqus,
    isso,
    jsonl,
    wordpress,
)
from moderation.intake import fingerprint
from moderation.sites import Site

Progress = Callable[[int], None]
# Rows per COPY: large enough to amortise the round trip, small enough to stay flat.
_BATCH = 5000


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    read: Callable[[Path, Progress], Iterator[Record]]
    size: Callable[[Path], int]  # the progress bar's length in the units `read` reports


class _Metered:
    """A binary file that reports how many bytes were read (the progress bar)."""

    def __init__(self, file: BinaryIO, advance: Progress) -> None:
        self._file = file
        self._advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._advance(len(data))
        return data


def _streamed(
    read: Callable[[BinaryIO], Iterator[Record]],
) -> Callable[[Path, Progress], Iterator[Record]]:
    def from_path(path: Path, advance: Progress) -> Iterator[Record]:
        with path.open("rb") as file:
            yield from read(_Metered(file, advance))  # type: ignore[arg-type]

    return from_path


def _bytes(path: Path) -> int:
    return path.stat().st_size


FORMATS: dict[str, Format] = {
    "disqus": Format("disqus", _streamed(disqus.read), _bytes),
    "wordpress": Format("wordpress", _streamed(wordpress.read), _bytes),
    "isso": Format("isso", isso.read, isso.count),
    "json": Format("json", jsonl.read, _bytes),
}


@dataclass(slots=True)
class Summary:
    """What an import did (or, for a dry run, would do)."""

    format: str
    source: str
    site: str
    dry_run: bool
    threads: int = 0  # articles that received comments
    new_articles: int = 0
    comments: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    authors: int = 0  # new authors
    already_imported: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # Comments stored pending for scoring (`--score`).
    to_score: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        verb = "would add" if self.dry_run else "added"
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(self.by_status.items()))
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        lines = [
            f"{self.format} import of {self.source} into site {self.site}"
            + (" (dry run: nothing was kept)" if self.dry_run else ""),
            f"threads:  {self.threads} ({self.new_articles} new articles)",
            f"comments: {verb} {self.comments}" + (f" ({statuses})" if statuses else ""),
            f"authors:  {verb} {self.authors}",
            f"already imported: {self.already_imported}",
            f"skipped:  {sum(self.skipped.values())}" + (f" ({skipped})" if skipped else ""),
        ]
        if self.to_score:
            queued = "would be queued" if self.dry_run else "queued"
            lines.append(f"{queued} for scoring: {self.to_score}")
        return lines


class _Stager:
    """Collects records into batches and copies each batch into the staging tables."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seq = 0
        self.skipped: dict[str, int] = {}
        self.rows: dict[str, list[tuple[Any, ...]]] = {"threads": [], "authors": [], "comments": []}

    async def add(self, record: Record) -> None:
        self.seq += 1
        if isinstance(record, Skipped):
            self.skipped[record.reason] = self.skipped.get(record.reason, 0) + 1
            return
        table, row = _row(record, self.seq)
        self.rows[table].append(row)
        if len(self.rows[table]) >= _BATCH:
            await self.flush(table)

    async def flush(self, table: str | None = None) -> None:
        for name in [table] if table else list(self.rows):
            await import_queries.copy(self.conn, name, _COLUMNS[name], self.rows[name])
            self.rows[name] = []


_COLUMNS = {
    "threads": import_queries.THREAD_COLUMNS,
    "authors": import_queries.AUTHOR_COLUMNS,
    "comments": import_queries.COMMENT_COLUMNS,
}


def _row(record: Thread | Author | Comment, seq: int) -> tuple[str, tuple[Any, ...]]:
    if isinstance(record, Thread):
        row = (
            seq,
            record.key,
            record.article,
            record.title,
            record.url,
            record.open,
            record.deleted,
        )
        return "threads", row
    if isinstance(record, Author):
        return "authors", (
            record.external_id,
            record.name,
            record.status,
            record.status_until,
            record.erased_at,
            record.erased_by,
        )
    return "comments", (
        seq,
        record.key,
        record.thread,
        record.parent,
        record.author_id,
        record.author_name,
        record.body,
        fingerprint(record.body),
        record.created_at,
        record.status,
        record.deleted,
        record.empty,
        record.client_addr,
        record.user_agent,
        list(record.reasons),
        record.language,
        orjson.dumps(record.scores).decode() if record.scores is not None else None,
        record.model,
        max(record.scores.values(), default=0.0) if record.scores else 0.0,
        record.decided_at,
        record.hidden,
        record.featured_at,
        record.line,
    )


async def run(
    conn: Connection,
    site: Site,
    format_name: str,
    path: Path,
    *,
    dry_run: bool = False,
    score: bool = False,
    progress: Progress = lambda _: None,
) -> Summary:
    """Import `path` into `site`; with `dry_run`, report what would happen and keep nothing."""
    reader = FORMATS[format_name]
    summary = Summary(format_name, path.name, site.slug, dry_run)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await import_queries.stage(conn)
        stager = _Stager(conn)
        for record in reader.read(path, progress):
            await stager.add(record)
        await stager.flush()
        await import_queries.blank_erased_authors(conn, site.id)
        await import_queries.resolve(conn, site.id, jsonl.native_prefix(site.slug))
        summary.threads, summary.new_articles = await import_queries.add_articles(conn, site.id)
        summary.authors = await import_queries.add_authors(conn, site.id)
        deepest = await import_queries.max_depth(conn)
        for depth in range(deepest + 1 if deepest is not None else 0):
            summary.comments += await import_queries.add_comments(conn, site.id, depth, score)
        added, skipped = await import_queries.outcome(conn, score)
        summary.by_status = added
        summary.already_imported = skipped.pop(import_queries.ALREADY_IMPORTED, 0)
        for reason, n in stager.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
        summary.skipped = skipped
        summary.to_score = added.get("pending", 0) if score else 0
        if not dry_run:
            await import_queries.record(conn, site.id, format_name, str(path), summary.as_dict())
    except BaseException:
        await transaction.rollback()
        raise
    if dry_run:
        await transaction.rollback()
    else:
        await transaction.commit()
    return summary
