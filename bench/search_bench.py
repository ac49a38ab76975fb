"""Moderators' text search: what its index costs each posted comment, and what it saves.

In a scratch database migrated like production, two runs of the same single-row inserts
(as intake writes comments): with the `comments_search` GIN index, then without it. Then
a site of 100,000 comments searched for a rare word in the review queue's shape (site,
status, words), with the index and with it dropped.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/search_bench.py

DATABASE_URL names a server to create the scratch database on (dropped at the end);
without it an embedded PostgreSQL is started in a temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
import http_bench_db as scratch

from moderation import db
from moderation.db import migrations

INSERTS = 3000
SEARCHED = 100_000
SEARCH = """
    SELECT count(*) FROM comments AS c
    WHERE c.site_id = $1 AND c.status = 'review'
      AND to_tsvector('simple', c.body) @@ websearch_to_tsquery('simple', $2)
"""
INDEX = "ON comments USING gin (to_tsvector('simple', body))"
WORDS = ("council", "budget", "library", "roads", "bus", "river", "bridge", "school", "park")


async def _site_and_article(conn: asyncpg.Connection) -> tuple[int, int]:
    site_id: int = await conn.fetchval(
        "INSERT INTO sites (slug, name, widget_key) VALUES ('search', 'search', 'wk_search') "
        "RETURNING id"
    )
    article_id: int = await conn.fetchval(
        "INSERT INTO articles (site_id, external_id) VALUES ($1, 'story') RETURNING id", site_id
    )
    return site_id, article_id


async def _inserts(conn: asyncpg.Connection, site_id: int, article_id: int) -> float:
    """Milliseconds per comment inserted one statement at a time."""
    statement = await conn.prepare(
        "INSERT INTO comments (site_id, article_id, author_name, body) VALUES ($1, $2, 'A', $3)"
    )
    started = time.perf_counter()
    for n in range(INSERTS):
        body = (
            f"The {WORDS[n % 9]} vote was {n} to {n % 7}; readers argue about the {WORDS[n % 5]}."
        )
        await statement.fetchval(site_id, article_id, body)
    return (time.perf_counter() - started) * 1000 / INSERTS


async def _search_ms(conn: asyncpg.Connection, site_id: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        await conn.fetchval(SEARCH, site_id, "zeppelin")
        best = min(best, time.perf_counter() - started)
    return best * 1000


async def run(url: str) -> None:
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn, scratch.ROOT / "migrations")
        site_id, article_id = await _site_and_article(conn)
        # Alternated, so that neither side gets the warmer cache.
        timings: dict[bool, list[float]] = {True: [], False: []}
        for indexed_now in (True, False, True, False):
            if indexed_now:
                await conn.execute(f"CREATE INDEX IF NOT EXISTS comments_search {INDEX}")
            else:
                await conn.execute("DROP INDEX comments_search")
            timings[indexed_now].append(await _inserts(conn, site_id, article_id))
        with_index, without_index = (min(timings[True]), min(timings[False]))
        await conn.execute(
            """
            INSERT INTO comments (site_id, article_id, author_name, body, status)
            SELECT $1, $2, 'A', 'Comment ' || i || ' on the ' || (ARRAY['council', 'budget',
                   'library', 'roads', 'bus'])[1 + i % 5] ||
                   CASE WHEN i % 20000 = 0 THEN ' zeppelin' ELSE '' END,
                   CASE WHEN i % 4 = 0 THEN 'review' ELSE 'approved' END
            FROM generate_series(1, $3) AS i
            """,
            site_id,
            article_id,
            SEARCHED,
        )
        await conn.execute("ANALYZE comments")
        scan = await _search_ms(conn, site_id)
        await conn.execute(f"CREATE INDEX comments_search {INDEX}")
        await conn.execute("ANALYZE comments")
        indexed = await _search_ms(conn, site_id)
    finally:
        await conn.close()
    print(f"single-row comment inserts ({INSERTS} a run, best of 2 runs), ms per comment:")
    print(f"  with comments_search     {with_index:.3f}")
    print(f"  without it               {without_index:.3f}")
    print(f"  the index costs          {with_index - without_index:+.3f}")
    print(f"search for a rare word in the review queue of {SEARCHED:,} comments, ms (best of 5):")
    print(f"  without the index        {scan:.1f}")
    print(f"  with comments_search     {indexed:.1f}")


def main() -> None:
    with contextlib.ExitStack() as stack:
        bench = scratch.open_scratch(stack, "moderation_search_bench", keep_logs=False)
        print(f"database {bench.name} on {bench.host}")
        asyncio.run(run(bench.url))


if __name__ == "__main__":
    main()
