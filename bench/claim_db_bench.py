"""What a scoring worker's claims cost PostgreSQL, statement by statement: the lease, the
context read and the decisions (with their scores), with the WAL each claim writes.

A scratch database (on DATABASE_URL's server, else an embedded PostgreSQL) gets the state
bench/scoring_bench.py leaves before its backlog: a burst of N comments, decided, then N
more with the same texts, from the same addresses, pending. They are claimed as a worker
claims them, CLAIM at a time (512: a GPU worker's default), on one connection.

The context read runs twice a claim, under a custom plan and under a generic one: after
five executions PostgreSQL may plan a prepared statement once for all parameters, and a
worker runs this one thousands of times, so the generic plan is the one that counts. The
decisions' transaction reads their authors' status and history and their sites' settings
again before it writes them (`standing`), timed here apart from the decisions.

    .venv/bin/python bench/claim_db_bench.py                 # about 20 s on 2 cores
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import Iterator, Sequence

import asyncpg
import http_bench_db as scratch
import scoring_bench_text as text
from scoring_bench_phases import address, prepare

from moderation import db
from moderation.db import comments as comment_queries
from moderation.db import scoring, transitions
from moderation.intake import fingerprint
from moderation.sites import DEFAULT_THRESHOLDS, IP_RETENTION_DAYS, Site

# What a GPU worker stores for an English comment: detoxify's six labels and spam.
SCORES = {
    "toxicity": 0.012,
    "severe_toxicity": 0.001,
    "obscene": 0.003,
    "threat": 0.001,
    "insult": 0.004,
    "identity_attack": 0.002,
    "spam": 0.021,
}
SCORED = transitions.Scored(SCORES, "en", "original", "cuda:0", "float16", "torch")
STATEMENTS = (
    "lease",
    "context, custom plan",
    "context, generic plan",
    "standing, generic plan",
    "decisions",
)
SPAM_HOLD = DEFAULT_THRESHOLDS["spam"].hold
_AT_WRITE = ("standing, generic plan", "decisions")


def main() -> None:
    args = parse_args()
    with contextlib.ExitStack() as stack:
        bench_db = scratch.open_scratch(stack, "moderation_claim_db_bench", keep_logs=False)
        print(f"database {bench_db.name} on {bench_db.host}")
        timings, wal = asyncio.run(measure(bench_db.url, args))
    report(timings, wal, args)


async def measure(url: str, args: argparse.Namespace) -> tuple[dict[str, list[float]], list[int]]:
    site = await prepare(url)
    conn = await db.connect(url)
    try:
        texts = text.comments(random.Random(args.seed), args.comments)
        started = time.perf_counter()
        burst = await post(conn, site, "burst", texts)
        await decide(conn, burst)
        await post(conn, site, "backlog", texts)
        print(f"{2 * len(texts)} comments posted in {time.perf_counter() - started:.1f} s")
        return await claims(conn, args.claim)
    finally:
        await conn.close()


async def post(conn: asyncpg.Connection, site: Site, run: str, texts: Sequence[str]) -> list[int]:
    """Each text through intake's own statement, as scoring_bench's widget posts it: a
    reader and an address of its own per comment number, the same in every run."""
    ids = []
    for number, body in enumerate(texts):
        new = comment_queries.NewComment(
            site_id=site.id,
            article=run,
            author_external_id=f"{run}-{number}",
            author_name=f"Reader {number}",
            body=body,
            fingerprint=fingerprint(body),
            parent_id=None,
            client_addr=address(number),
            user_agent="claim_db_bench",
            idempotency_key=None,
            rate_window_seconds=3600,
            rate_per_author=0,
            rate_per_address=0,
        )
        ids.append((await comment_queries.intake(conn, new))["comment_id"])
    return ids


async def decide(conn: asyncpg.Connection, ids: Sequence[int]) -> None:
    """Approve the comments as scoring does, with their scores."""
    changes = [
        transitions.Change(i, "pending", "approved", "low risk", ("low risk",), scored=SCORED)
        for i in ids
    ]
    await transitions.transition(conn, changes)


async def claims(conn: asyncpg.Connection, size: int) -> tuple[dict[str, list[float]], list[int]]:
    """Claim, read and decide until nothing is pending; each statement's seconds per claim,
    and the WAL bytes each claim wrote."""
    timings: dict[str, list[float]] = {statement: [] for statement in STATEMENTS}
    wal: list[int] = []

    @contextlib.contextmanager
    def timed(statement: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        timings[statement].append(time.perf_counter() - started)

    while True:
        before = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
        with timed("lease"):
            ids = await scoring.claim(conn, [], size, 60)
        if not ids:
            return timings, wal
        for mode in ("custom", "generic"):
            await conn.execute(f"SET plan_cache_mode = force_{mode}_plan")
            with timed(f"context, {mode} plan"):
                await scoring.batch_context(conn, ids, IP_RETENTION_DAYS, SPAM_HOLD)
        # What the decisions turn on, read again in their transaction before they are written.
        with timed("standing, generic plan"):
            await scoring.standing(conn, ids, SPAM_HOLD)
        await conn.execute("RESET plan_cache_mode")
        with timed("decisions"):
            await decide(conn, ids)
        wal.append(
            await conn.fetchval(
                "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)::bigint", before
            )
        )


def report(timings: dict[str, list[float]], wal: list[int], args: argparse.Namespace) -> None:
    claims = len(timings["lease"]) - 1  # the last lease found nothing
    print(
        f"\n{claims} claims of up to {args.claim}, against {2 * args.comments} comments; "
        "milliseconds a claim:"
    )
    print(f"| {'statement':<23} | median | max |")
    print(f"|{'-' * 25}|--------|-----|")
    for statement, seconds in timings.items():
        measured = seconds[:claims]
        print(
            f"| {statement:<23} | {statistics.median(measured) * 1000:6.1f} "
            f"| {max(measured) * 1000:.1f} |"
        )
    worker = [
        sum(timings[s][i] for s in ("lease", "context, generic plan", *_AT_WRITE))
        for i in range(claims)
    ]
    print(
        f"a claim as a worker runs it (lease, generic context, standing, decisions): median "
        f"{statistics.median(worker) * 1000:.0f} ms, "
        f"{statistics.median(worker) / args.claim * 1e6:.0f} us a comment"
    )
    print(f"WAL a claim: median {statistics.median(wal) / 1e6:.2f} MB")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=4096, help="comments a burst")
    parser.add_argument("--claim", type=int, default=512, help="comments a claim")
    parser.add_argument("--seed", type=int, default=20240611, help="scoring_bench's texts")
    return parser.parse_args()


if __name__ == "__main__":
    main()
