"""The migration runner: ordered plain SQL files, each applied once and recorded.

Files are `NNNN_name.sql` in one folder, applied in name order, each in its own
transaction: one that fails is rolled back and named in a `MigrationError`. A PostgreSQL
advisory lock serialises concurrent runners, and a database that has applied a migration
this code does not know (or one whose file changed since) is refused rather than
guessed at.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from moderation.db import Connection
from moderation.errors import MigrationError

# Any constant works; it only has to be the same for every runner of this schema.
_LOCK_KEY = 0x6D6F6465  # "mode"
_FILE_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path) -> list[Migration]:
    """The migrations in `directory`, in the order they apply.

    None found is a broken install or a wrong MODERATION_MIGRATIONS_DIR, never "up to date";
    a misnamed file is refused rather than skipped, as it would be on every run.
    """
    files = sorted(directory.glob("*.sql"))
    misnamed = [p.name for p in files if not _FILE_NAME.match(p.name)]
    if misnamed:
        raise MigrationError(
            f"misnamed migrations in {directory}: {', '.join(misnamed)}; a migration is "
            "NNNN_name.sql (four digits, an underscore, then a-z, 0-9 and _)"
        )
    if not files:
        raise MigrationError(f"no migrations in {directory}; check MODERATION_MIGRATIONS_DIR")
    return [Migration(p.stem, p.read_text(encoding="utf-8")) for p in files]


async def applied(conn: Connection) -> dict[str, str]:
    """Name → checksum of every migration the database has recorded."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT name, checksum FROM schema_migrations")
    return {row["name"]: row["checksum"] for row in rows}


def check(known: list[Migration], recorded: dict[str, str]) -> list[Migration]:
    """The migrations still to apply; `MigrationError` if the database is ahead or edited."""
    by_name = {m.name: m for m in known}
    unknown = sorted(set(recorded) - set(by_name))
    if unknown:
        raise MigrationError(
            f"the database has migrations this code does not know: {', '.join(unknown)}; "
            "run a newer release"
        )
    changed = sorted(n for n, checksum in recorded.items() if by_name[n].checksum != checksum)
    if changed:
        raise MigrationError(f"migrations changed after they were applied: {', '.join(changed)}")
    return [m for m in known if m.name not in recorded]


async def migrate(conn: Connection, directory: Path) -> list[str]:
    """Apply what has not run; returns the names applied (empty when up to date)."""
    known = discover(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                name       text PRIMARY KEY,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        todo = check(known, await applied(conn))
        for migration in todo:
            await _apply(conn, migration)
        return [m.name for m in todo]
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def _apply(conn: Connection, migration: Migration) -> None:
    """Run and record one migration, all or nothing; `MigrationError` naming it if it fails.

    PostgreSQL's own error names no file, and the CLI would take an undefined table in
    the migration for a database that needs migrating.
    """
    try:
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                migration.name,
                migration.checksum,
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(
            f"migration {migration.name} failed: {_described(exc, migration.sql)}"
        ) from exc


def _described(exc: asyncpg.PostgresError, sql: str) -> str:
    """PostgreSQL's message, with the line it points at and its detail when it gives them."""
    described = exc.message
    if exc.position:
        # A 1-based character offset into the whole file's text.
        line = sql.count("\n", 0, int(exc.position) - 1) + 1
        described += f" (line {line})"
    if exc.detail:
        described += f"; {exc.detail}"
    return described


async def pending(conn: Connection, directory: Path) -> list[str]:
    """Names not yet applied; raises `MigrationError` like `migrate` would."""
    return [m.name for m in check(discover(directory), await applied(conn))]
