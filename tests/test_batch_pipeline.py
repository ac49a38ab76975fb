"""Claims scored back to back: the next claim is taken, and the one before written, while
a claim is scored. Each test has a database of its own, since a worker drains every
pending comment it can claim."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
import pytest

from moderation.config import Settings
from moderation.scoring import batch
from moderation.scoring.dev import KeywordToxicity
from moderation.scoring.language import detect
from moderation.scoring.scorer import Scorer
from moderation.scoring.site_spam import SiteSpamModels
from moderation.scoring.spam import SpamClassifier
from moderation.sites import Site
from tests.factories import Poster


@pytest.fixture
async def database_url(make_migrated_database: Callable[[], Awaitable[str]]) -> str:
    """Each test's own database, under every fixture here: it counts the leases it sees."""
    return await make_migrated_database()


class WatchesLeases(KeywordToxicity):
    """A toxicity model that, scoring its first claim, waits (up to 10 s) until the
    database holds `expected` comments leased and still pending, and records the most it
    saw: the next claim taken while this one is scored."""

    def __init__(self, database_url: str, expected: int) -> None:
        self.database_url = database_url
        self.expected = expected
        self.leased_while_scoring: int | None = None

    def predict(self, texts: Sequence[str], *, urgent: bool = False) -> list[dict[str, float]]:
        if self.leased_while_scoring is None:
            # A loop of its own, on a thread of its own: whichever thread scores.
            with ThreadPoolExecutor(1) as watcher:
                waited = watcher.submit(asyncio.run, self._wait_for_leases())
                self.leased_while_scoring = waited.result()
        return super().predict(texts)

    async def _wait_for_leases(self) -> int:
        conn = await asyncpg.connect(self.database_url)
        try:
            deadline = time.monotonic() + 10
            while True:
                leased: int = await conn.fetchval(
                    "SELECT count(*) FROM comments "
                    "WHERE status = 'pending' AND claimed_until > now()"
                )
                if leased >= self.expected or time.monotonic() > deadline:
                    return leased
                await asyncio.sleep(0.02)
        finally:
            await conn.close()


def scorer(toxicity: KeywordToxicity, claim_size: int) -> Scorer:
    return Scorer(
        {"dev": toxicity}, SiteSpamModels(SpamClassifier.seed()), detect, claim_size=claim_size
    )


async def test_the_next_claim_is_taken_while_one_is_scored_and_every_comment_is_decided_once(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    settings: Settings,
    database_url: str,
) -> None:
    ids = [await poster.comment(body=f"Point number {i} about the plan") for i in range(5)]
    model = WatchesLeases(database_url, expected=4)

    assert await batch.score_pending(pool, scorer(model, claim_size=2), settings, ids) == 5

    assert model.leased_while_scoring == 4  # the first claim's two and the next claim's two
    events = await conn.fetch(
        "SELECT comment_id, count(*) AS n FROM comment_events GROUP BY comment_id"
    )
    assert {row["comment_id"]: row["n"] for row in events} == dict.fromkeys(ids, 1)
    pending = await conn.fetchval("SELECT count(*) FROM comments WHERE status = 'pending'")
    assert pending == 0


async def test_a_claims_decisions_count_those_of_the_claims_written_before_them(
    make_site: Callable[..., Awaitable[Site]],
    app_client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    # One approved comment makes an author trusted on this site.
    poster = Poster(app_client, await make_site(trusted_after=1))
    ids = [await poster.comment(body=f"My view number {i} on the plan") for i in range(3)]

    await batch.score_pending(pool, scorer(KeywordToxicity(), claim_size=1), settings, ids[:1])

    rows = await conn.fetch(
        "SELECT status, reasons FROM comments WHERE id = ANY($1::bigint[]) ORDER BY id", ids
    )
    assert [(row["status"], list(row["reasons"])) for row in rows] == [
        ("approved", ["scores below every threshold"]),
        # Claimed while the first was scored, before its approval was written; decided
        # again when written, after it.
        ("approved", ["trusted author (1 approved)"]),
        # Claimed once the first's approval was written, and written after the second's.
        ("approved", ["trusted author (2 approved)"]),
    ]
