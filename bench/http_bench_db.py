"""Scratch databases for the benches: created, migrated, seeded (http_bench), dropped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from moderation import db
from moderation.db import migrations
from moderation.sites import SiteSettings, create_site

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SITE = "bench"
# The same site with its rate limits off: intake then takes no rate-limit locks, so the
# POST rows of the two sites, run one after the other, show what the locks cost.
UNLIMITED_SITE = "bench-unlimited"
ORIGIN = "https://bench.example"
BIG_ARTICLE = "big"
SEED_TOP_LEVEL = 7000
SEED_REPLIES = 2000
SEED_REPLIES_TO_REPLIES = 1000
BASELINE_ROWS = 1000


def embedded_postgres(stack: contextlib.ExitStack, work: Path) -> str:
    """Start an embedded PostgreSQL under `work`, stopped when `stack` closes; its URL."""
    from moderation.embedded import EmbeddedPostgres

    print(f"DATABASE_URL is not set: starting an embedded PostgreSQL in {work}")
    postgres = EmbeddedPostgres(work)
    stack.callback(postgres.stop)
    return postgres.url


@dataclass(frozen=True, slots=True)
class Scratch:
    """A bench's temporary folder and its own fresh database."""

    work: Path
    name: str
    url: str
    host: str


def open_scratch(stack: contextlib.ExitStack, prefix: str, keep_logs: bool) -> Scratch:
    """A temporary folder (kept with `keep_logs`) and an empty database `PREFIX_xxxx` on
    DATABASE_URL's server, else on an embedded PostgreSQL in the folder; both go when
    `stack` closes."""
    work = Path(tempfile.mkdtemp(prefix=prefix.replace("_", "-") + "-"))
    if keep_logs:
        print(f"logs stay in {work}")
    else:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
    admin_url = os.environ.get("DATABASE_URL") or embedded_postgres(stack, work)
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(create_database(admin_url, name))
    stack.callback(lambda: asyncio.run(drop_database(admin_url, name)))
    host = urlsplit(admin_url).hostname or "a local socket"
    return Scratch(work, name, with_database(admin_url, name), host)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        # FORCE: a server that failed to stop must not keep the scratch database alive.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def prepare(url: str) -> dict[str, str]:
    """Migrate, create the sites, seed the big article and the baseline table; the sites'
    keys by slug."""
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn, ROOT / "migrations")
        # Default settings: the rate limits stay on, as on a real site.
        site = await create_site(conn, SITE, [ORIGIN], "Bench News", settings=SiteSettings())
        unlimited = await create_site(
            conn,
            UNLIMITED_SITE,
            [ORIGIN],
            "Bench News, no limits",
            settings=SiteSettings(rate_per_author=0, rate_per_address=0),
        )
        await _seed_thread(conn, site.id)
        await _seed_baseline(conn)
        await conn.execute("ANALYZE")
        return {SITE: site.widget_key, UNLIMITED_SITE: unlimited.widget_key}
    finally:
        await conn.close()


_BODY = """
    'Comment ' || g || ': ' || repeat('The council meeting ran late again tonight. ',
                                      1 + floor(random() * 10)::int)
"""


async def _seed_thread(conn: asyncpg.Connection, site_id: int) -> None:
    """10,000 approved comments on one article: top level, replies, replies to replies."""
    await conn.execute("SELECT setseed(0.42)")  # the same thread shape on every run
    await conn.execute(
        """
        INSERT INTO authors (site_id, external_id, name)
        SELECT $1, 'seed-' || g, 'Seed reader ' || g FROM generate_series(1, 500) AS g
        """,
        site_id,
    )
    article_id = await conn.fetchval(
        "INSERT INTO articles (site_id, external_id) VALUES ($1, $2) RETURNING id",
        site_id,
        BIG_ARTICLE,
    )
    await conn.execute(
        f"""
        INSERT INTO comments (site_id, article_id, author_id, author_name, body, status,
                              created_at, decided_at)
        SELECT $1, $2, a.id, a.name, {_BODY}, 'approved',
               now() - make_interval(secs => ($3 - g) * 20), now()
        FROM generate_series(1, $3) AS g
        JOIN authors AS a ON a.site_id = $1 AND a.external_id = 'seed-' || (1 + g % 500)
        ORDER BY g
        """,
        site_id,
        article_id,
        SEED_TOP_LEVEL,
    )
    # Early threads draw more replies, as they do under a breaking story.
    levels = (("parent_id IS NULL", SEED_REPLIES), ("parent_id = root_id", SEED_REPLIES_TO_REPLIES))
    for parents, count in levels:
        await conn.execute(
            f"""
            WITH parents AS (
                SELECT id, coalesce(root_id, id) AS root_id, created_at,
                       row_number() OVER (ORDER BY id) - 1 AS i, count(*) OVER () AS n
                FROM comments WHERE article_id = $2 AND {parents}
            ), picks AS (
                SELECT g, floor(power(random(), 1.3) * (SELECT max(n) FROM parents))::bigint AS i
                FROM generate_series(1, $3) AS g
            )
            INSERT INTO comments (site_id, article_id, parent_id, root_id, author_id,
                                  author_name, body, status, created_at, decided_at)
            SELECT $1, $2, p.id, p.root_id, a.id, a.name, {_BODY}, 'approved',
                   p.created_at + make_interval(secs => 60 + g % 600), now()
            FROM picks JOIN parents AS p USING (i)
            JOIN authors AS a ON a.site_id = $1 AND a.external_id = 'seed-' || (1 + g * 7 % 500)
            ORDER BY g
            """,
            site_id,
            article_id,
            count,
        )
    approved = await conn.fetchval("SELECT approved_count FROM articles WHERE id = $1", article_id)
    total = SEED_TOP_LEVEL + SEED_REPLIES + SEED_REPLIES_TO_REPLIES
    assert approved == total, f"seeded {approved} approved comments, meant {total}"


async def _seed_baseline(conn: asyncpg.Connection) -> None:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    from baseline_app import SCHEMA

    await conn.execute(SCHEMA)
    await conn.execute(
        f"""
        INSERT INTO bench_baseline (author_name, body)
        SELECT 'Seed reader ' || g, {_BODY} FROM generate_series(1, $1) AS g
        """,
        BASELINE_ROWS,
    )
