"""Scoring batches against a real database: decisions, redelivery, poison inputs.

The task body (`moderation.scoring.batch`) is plain async code; these tests call it
directly, the way a worker's task does, with the real spam classifier and detector and
a toxicity model that fails on one planted input.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from structlog.testing import capture_logs

from moderation import db, own_comments
from moderation.config import Settings
from moderation.db import scoring as scoring_queries
from moderation.db import transitions
from moderation.scoring import batch
from moderation.scoring.dev import KeywordToxicity
from moderation.scoring.language import detect
from moderation.scoring.scorer import Scorer
from moderation.scoring.site_spam import SiteSpamModels
from moderation.scoring.spam import SpamClassifier
from moderation.sites import DEFAULT_THRESHOLDS, IP_RETENTION_DAYS, Site, Threshold
from tests.factories import Poster, comment_locked, posted_ago, waits_on_lock
from tests.workers import wait_until

POISON = "this exact text breaks the model"
SPAM_HOLD = DEFAULT_THRESHOLDS["spam"].hold


class BreaksOnPoison(KeywordToxicity):
    """A toxicity model that fails whenever a batch holds the poison text."""

    def predict(self, texts: Sequence[str], *, urgent: bool = False) -> list[dict[str, float]]:
        if any(POISON in text for text in texts):
            raise RuntimeError("tensor shape mismatch")
        return super().predict(texts)


class HeldBack(KeywordToxicity):
    """A toxicity model that scores (or fails) only once the test lets it: a claim scored
    for longer than its lease (a big CPU batch, a busy GPU)."""

    def __init__(self, fails: bool) -> None:
        self.fails = fails
        self.scoring = threading.Event()
        self.go_on = threading.Event()

    def predict(self, texts: Sequence[str], *, urgent: bool = False) -> list[dict[str, float]]:
        self.scoring.set()
        assert self.go_on.wait(30), "the test never let scoring go on"
        if self.fails:
            raise RuntimeError("CUDA out of memory")
        return super().predict(texts)


class HeldBackThenBreaksOnPoison(BreaksOnPoison):
    """`BreaksOnPoison`, scoring (or failing) only once the test lets it."""

    def __init__(self) -> None:
        self.scoring = threading.Event()
        self.go_on = threading.Event()

    def predict(self, texts: Sequence[str], *, urgent: bool = False) -> list[dict[str, float]]:
        self.scoring.set()
        assert self.go_on.wait(30), "the test never let scoring go on"
        return super().predict(texts)


class FailsAtFirst(KeywordToxicity):
    """A toxicity model whose first two predictions fail (a claim's, and its comment's
    alone), as a GPU out of memory would; the next claim's work."""

    def __init__(self) -> None:
        self.failures = 2

    def predict(self, texts: Sequence[str], *, urgent: bool = False) -> list[dict[str, float]]:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("CUDA out of memory")
        return super().predict(texts)


async def a_backend_waits_on_a_lock(conn: asyncpg.Connection) -> bool:
    """Whether any statement on this database waits on a row or table lock now (a pool's
    connection, which the test cannot name)."""
    waiting: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock')"
    )
    return waiting


def scoring_with(toxicity: KeywordToxicity) -> Scorer:
    """The scorer, with `toxicity` as the site's model."""
    return Scorer({"dev": toxicity}, SiteSpamModels(SpamClassifier.seed()), detect)


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return scoring_with(BreaksOnPoison())


async def statuses(conn: asyncpg.Connection, site: Site) -> dict[str, tuple[str, list[str]]]:
    rows = await conn.fetch(
        "SELECT body, status, reasons FROM comments WHERE site_id = $1", site.id
    )
    return {row["body"]: (row["status"], list(row["reasons"])) for row in rows}


async def test_a_batch_is_decided_with_reasons_and_audit(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    scorer: Scorer,
    settings: Settings,
) -> None:
    ids = [
        await poster.comment(body="I disagree with the mayor on this one."),
        await poster.comment(body="You idiot, nobody cares"),
    ]
    assert await batch.score_pending(pool, scorer, settings, ids) >= 2
    result = await statuses(conn, poster.site)
    assert result["I disagree with the mayor on this one."][0] == "approved"
    assert result["You idiot, nobody cares"] == (
        "rejected",
        ["toxicity 0.95 ≥ 0.90", "insult 0.95 ≥ 0.90"],
    )
    risk = await conn.fetchval("SELECT risk FROM comments WHERE id = $1", ids[1])
    assert risk == pytest.approx(0.95)


async def test_concurrent_deliveries_of_one_wake_up_decide_each_comment_once(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    scorer: Scorer,
    settings: Settings,
) -> None:
    ids = [await poster.comment(body=f"Point number {i} about the plan") for i in range(10)]
    await asyncio.gather(*(batch.score_pending(pool, scorer, settings, ids) for _ in range(3)))
    counts = await conn.fetch(
        "SELECT comment_id, count(*) AS n FROM comment_events WHERE comment_id = ANY($1) "
        "GROUP BY comment_id",
        ids,
    )
    assert {row["comment_id"]: row["n"] for row in counts} == dict.fromkeys(ids, 1)


async def test_a_poison_comment_is_retried_then_held_without_blocking_the_rest(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    scorer: Scorer,
    settings: Settings,
) -> None:
    poison = await poster.comment(body=POISON)
    fine = [await poster.comment(body=f"An ordinary comment {i}") for i in range(3)]
    attempts_allowed = settings.scoring_max_attempts

    await batch.score_pending(pool, scorer, settings, [poison, *fine])
    after_first = await statuses(conn, poster.site)
    assert all(after_first[f"An ordinary comment {i}"][0] == "approved" for i in range(3))
    assert after_first[POISON][0] == "pending"
    error = await conn.fetchval("SELECT scoring_error FROM comments WHERE id = $1", poison)
    assert error == "RuntimeError: tensor shape mismatch"

    for _ in range(attempts_allowed):
        # The retry backoff elapses (the sweep would re-queue it then).
        await conn.execute("UPDATE comments SET claimed_until = NULL WHERE id = $1", poison)
        await batch.score_pending(pool, scorer, settings, [poison])

    status, reasons = (await statuses(conn, poster.site))[POISON]
    assert status == "review"
    assert reasons == [
        f"scoring failed {attempts_allowed} times (RuntimeError: tensor shape mismatch)"
    ]


async def test_scoring_failures_and_giving_up_are_logged_with_the_comments_ids(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    scorer: Scorer,
    settings: Settings,
) -> None:
    once = settings.model_copy(update={"scoring_max_attempts": 1})
    poison = await poster.comment(body=POISON)
    fine = await poster.comment(body="An ordinary comment")
    with capture_logs() as first:
        await batch.score_pending(pool, scorer, once, [poison, fine])
    await conn.execute("UPDATE comments SET claimed_until = NULL WHERE id = $1", poison)
    with capture_logs() as retry:
        await batch.score_pending(pool, scorer, once, [poison])

    def logged(lines: Sequence[Mapping[str, Any]], event: str, key: str) -> list[Any]:
        return [line[key] for line in lines if line["event"] == event]

    assert logged(first, "batch_scoring_failed", "comment_ids") == [[poison, fine]]
    assert logged(first, "batch_scored", "failed_ids") == [[poison]]
    assert logged(retry, "scoring_gave_up", "comment_id") == [poison]
    assert logged(retry, "scoring_gave_up", "reason") == [
        "scoring failed 1 times (RuntimeError: tensor shape mismatch)"
    ]


async def test_a_decision_stores_what_scoring_found_and_a_moderators_keeps_it(
    poster: Poster, conn: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings
) -> None:
    flaky = scoring_with(FailsAtFirst())
    comment = await poster.comment(body="You idiot, nobody cares")

    async def stored() -> dict[str, Any]:
        row = await conn.fetchrow(
            "SELECT status, scores, risk, language, model, scoring_error FROM comments "
            "WHERE id = $1",
            comment,
        )
        assert row is not None
        return dict(row)

    await batch.score_pending(pool, flaky, settings, [comment])
    failed = await stored()
    assert (failed["status"], failed["scoring_error"]) == (
        "pending",
        "RuntimeError: CUDA out of memory",
    )
    await conn.execute("UPDATE comments SET claimed_until = NULL WHERE id = $1", comment)
    await batch.score_pending(pool, flaky, settings, [comment])
    scored = await stored()
    assert scored["status"] == "rejected"
    assert scored["scoring_error"] is None  # the first attempt's, cleared by the decision
    assert (scored["language"], scored["model"]) == ("en", "dev-keywords@1")
    assert scored["scores"]["insult"] == pytest.approx(0.95)
    assert 0 <= scored["scores"]["spam"] < 0.5
    assert scored["risk"] == pytest.approx(0.95)

    reason = "sarcasm, not an insult"
    overturn = transitions.Change(comment, "rejected", "approved", reason, (reason,))
    assert await transitions.transition(conn, [overturn])
    assert await stored() == {**scored, "status": "approved"}


async def test_a_claim_whose_worker_died_is_taken_again_once_the_lease_lapses(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    scorer: Scorer,
    settings: Settings,
) -> None:
    comment = await poster.comment(body="Claimed by a worker that then died")
    await conn.execute(
        "UPDATE comments SET claimed_until = now() + interval '1 hour', score_attempts = 1 "
        "WHERE id = $1",
        comment,
    )
    await batch.score_pending(pool, scorer, settings, [comment])
    assert (await statuses(conn, poster.site))["Claimed by a worker that then died"][0] == "pending"

    await conn.execute(
        "UPDATE comments SET claimed_until = now() - interval '1 second' WHERE id = $1", comment
    )
    await batch.score_pending(pool, scorer, settings, [comment])
    assert (await statuses(conn, poster.site))["Claimed by a worker that then died"][
        0
    ] == "approved"


async def test_the_sweep_counts_an_edited_comments_wait_from_its_edit(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    posted = (await poster.post()).json()
    await posted_ago(conn, posted["id"], 600)
    assert posted["id"] in await scoring_queries.overdue(conn, 60, 10**6)
    # The edit sent its own wake-up; the sweep is for wake-ups lost.
    edited = await poster.edit(posted["id"], posted["secret"], "A second thought.")
    assert edited.status_code == 200, edited.text
    assert posted["id"] not in await scoring_queries.overdue(conn, 60, 10**6)


@pytest.mark.parametrize("fails", [False, True], ids=["scored", "failed"])
async def test_an_edit_after_the_lease_lapsed_is_not_decided_on_the_old_text(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    scorer: Scorer,
    settings: Settings,
    fails: bool,
) -> None:
    response = await poster.post(body="I agree with the council on the budget.")
    comment, secret = response.json()["id"], response.json()["secret"]
    model = HeldBack(fails)
    slow = scoring_with(model)
    scoring = asyncio.create_task(batch.score_pending(pool, slow, settings, [comment]))
    assert await asyncio.to_thread(model.scoring.wait, 30)
    # The lease lapses while the old text is scored, so the author's edit goes through.
    await conn.execute(
        "UPDATE comments SET claimed_until = now() - interval '1 second' WHERE id = $1", comment
    )
    await own_comments.edit(conn, poster.site, comment, secret, "You idiot, you stupid moron")
    model.go_on.set()
    await scoring

    row = await conn.fetchrow(
        "SELECT status, scores, scoring_error, score_attempts FROM comments WHERE id = $1",
        comment,
    )
    assert row is not None
    # The old text's verdict (or failure) is dropped, and its claim is no failed attempt
    # of the new text, which the next claim takes at once.
    assert tuple(row) == ("pending", None, None, 0)
    assert comment in await scoring_queries.overdue(conn, 0, 10**6)
    await batch.score_pending(pool, scorer, settings, [comment])
    assert (await statuses(conn, poster.site))["You idiot, you stupid moron"][0] == "rejected"


@pytest.mark.parametrize(
    "change",
    ["author on premod", "word banned", "held comment approved", "held comment marked spam"],
)
async def test_a_change_made_while_a_comment_is_scored_counts_in_its_decision(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    settings: Settings,
    change: str,
) -> None:
    # The author's earlier comment, in review: held as spam, or for something else.
    earlier = await poster.comment(body="My earlier comment.")
    spam = 0.6 if change == "held comment approved" else 0.1
    await conn.execute(
        "UPDATE comments SET status = 'review', scores = jsonb_build_object('spam', $2::float8),"
        " created_at = now() - interval '1 hour' WHERE id = $1",
        earlier,
        spam,
    )
    comment = await poster.comment(body="I agree with the council on the budget.")
    model = HeldBack(fails=False)
    scoring = asyncio.create_task(batch.score_pending(pool, scoring_with(model), settings))
    assert await asyncio.to_thread(model.scoring.wait, 30)
    # Committed while the claim is scored, before its decision is written.
    if change == "author on premod":
        await conn.execute(
            "UPDATE authors SET status = 'premod' WHERE id ="
            " (SELECT author_id FROM comments WHERE id = $1)",
            comment,
        )
    elif change == "word banned":
        await conn.execute(
            'UPDATE sites SET settings = settings || \'{"banned_words": ["council"]}\''
            " WHERE id = $1",
            poster.site.id,
        )
    else:
        status = "approved" if change == "held comment approved" else "spam"
        await conn.execute("UPDATE comments SET status = $2 WHERE id = $1", earlier, status)
    model.go_on.set()
    await scoring
    row = await conn.fetchrow("SELECT status, reasons FROM comments WHERE id = $1", comment)
    assert row is not None
    expected = {
        "author on premod": ("review", ["author is on pre-moderation"]),
        "word banned": ("rejected", ["banned word 'council'"]),
        "held comment approved": ("approved", ["scores below every threshold"]),
        "held comment marked spam": ("review", ["new author with comments held as spam (1)"]),
    }
    assert (row["status"], list(row["reasons"])) == expected[change]


async def test_a_batch_with_failures_and_a_decision_on_its_comments_both_finish(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    settings: Settings,
    database_url: str,
) -> None:
    poisoned = [await poster.comment(body=f"{POISON} {i}") for i in range(2)]
    fine = await poster.comment(body="An ordinary comment")
    model = HeldBackThenBreaksOnPoison()
    slow = scoring_with(model)
    scoring = asyncio.create_task(batch.score_pending(pool, slow, settings, [*poisoned, fine]))
    assert await asyncio.to_thread(model.scoring.wait, 30)
    # A moderator rejects the second poisoned comment and the fine one while the worker
    # writes the claim: its decision on the fine one, then each failure's retry. The
    # first poisoned comment is held meanwhile (its author is editing it).
    bulk = [transitions.Change(c, "pending", "rejected", "off topic") for c in (poisoned[1], fine)]
    moderator = await db.connect(database_url)

    async def applied_or_waiting() -> bool:
        return deciding.done() or await waits_on_lock(conn, moderator)

    try:
        async with comment_locked(database_url, poisoned[0]):
            model.go_on.set()
            await wait_until(lambda: a_backend_waits_on_a_lock(conn), 10, "the worker to wait")
            deciding = asyncio.create_task(transitions.transition(moderator, bulk))
            await wait_until(applied_or_waiting, 10, "the decision to apply or wait")
        assert len(await deciding) == 2
        # The moderator's came first: the worker finds those two no longer pending.
        await scoring
    finally:
        await moderator.close()

    after = {body: status for body, (status, _) in (await statuses(conn, poster.site)).items()}
    assert after == {
        f"{POISON} 0": "pending",
        f"{POISON} 1": "rejected",
        "An ordinary comment": "rejected",
    }
    error = await conn.fetchval("SELECT scoring_error FROM comments WHERE id = $1", poisoned[0])
    assert error == "RuntimeError: tensor shape mismatch"


async def test_a_batch_reads_each_comments_recent_activity_from_its_own_site(
    conn: asyncpg.Connection,
    make_site: Callable[..., Awaitable[Site]],
    app_client: httpx.AsyncClient,
) -> None:
    site, other_site = await make_site(), await make_site()
    poster, other = Poster(app_client, site), Poster(app_client, other_site)
    copy = "Cheap watches, best prices, visit our shop today"

    async def post(author: str, article: str, body: str, poster: Poster = poster) -> int:
        return await poster.comment(article=article, body=body, author={"id": author, "name": "R"})

    chatter = [await post("ann", "story-1", f"Ann's remark number {n}") for n in range(3)]
    copies = [await post("bob", "story-2", copy), await post("cy", "story-3", copy)]
    await post("ann", "story-1", copy)  # the same author and article: not a copy
    earlier = await post("dee", "story-4", copy)
    long_ago = await post("ann", "story-5", copy)
    for author in ("ann", "bob"):  # the same text and address on another site
        await post(author, "story-1", copy, other)
    target = await post("ann", "story-1", copy)
    # Past the 10-minute velocity windows but inside the day of the duplicate window, and
    # past both.
    for comment_id, ago in ((earlier, timedelta(minutes=20)), (long_ago, timedelta(days=2))):
        await conn.execute(
            "UPDATE comments SET created_at = now() - $2::interval WHERE id = $1", comment_id, ago
        )

    # Approved: two of Ann's comments, Bob's copy, and both copies on the other site.
    await conn.execute(
        "UPDATE comments SET status = 'approved' WHERE id = ANY($1::bigint[]) "
        "OR (site_id = $2 AND body = $3)",
        [*chatter[:2], copies[0]],
        other_site.id,
        copy,
    )

    [row] = await scoring_queries.batch_context(conn, [target], IP_RETENTION_DAYS, SPAM_HOLD)

    assert row["author_approved"] == 2
    assert row["duplicates"] == len(copies) + 1  # + earlier
    assert row["author_recent"] == len(chatter) + 1  # + her own copy
    # Every test post comes from the same client address.
    assert row["address_recent"] == len(chatter) + len(copies) + 1


async def test_a_new_authors_comment_waits_while_the_site_holds_one_of_theirs_as_spam(
    conn: asyncpg.Connection,
    make_site: Callable[..., Awaitable[Site]],
    app_client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    scorer: Scorer,
    settings: Settings,
) -> None:
    # The site holds spam from 0.4, under the 0.55 every site starts with.
    site = await make_site(thresholds={"spam": Threshold(hold=0.4, reject=0.8)})
    poster = Poster(app_client, site)

    async def post(author: str, body: str) -> int:
        return await poster.comment(body=body, author={"id": author, "name": author.title()})

    async def mark(comment_id: int, status: str, spam: float) -> None:
        # Decided, an hour ago: not the burst the author velocity signal counts.
        await conn.execute(
            "UPDATE comments SET status = $2, scores = jsonb_build_object('spam', $3::float8), "
            "created_at = now() - interval '1 hour' WHERE id = $1",
            comment_id,
            status,
            spam,
        )

    sams = {n: await post("sam", f"Sam's comment number {n}") for n in range(6)}
    await mark(sams[0], "review", 0.45)  # held on the site's own line
    await mark(sams[1], "spam", 0.2)  # a moderator marked it spam
    await mark(sams[2], "review", 0.39)  # held for something else
    await mark(sams[3], "rejected", 0.9)  # removed for something else
    await mark(sams[4], "deleted", 0.41)  # deleted by Sam: no way out of the hold
    await mark(sams[5], "deleted", 0.1)
    await mark(await post("kim", "Kim's comment"), "spam", 0.95)  # another author's
    remark = "A fair point about the library budget, thank you."
    sam, lee = await post("sam", remark), await post("lee", remark)

    rows = await scoring_queries.batch_context(conn, [sam, lee], IP_RETENTION_DAYS, SPAM_HOLD)
    assert [row["author_spam"] for row in rows] == [3, 0]

    await batch.score_pending(pool, scorer, settings, [sam, lee])
    decided = {
        row["id"]: (row["status"], list(row["reasons"]))
        for row in await conn.fetch(
            "SELECT id, status, reasons FROM comments WHERE id = ANY($1::bigint[])", [sam, lee]
        )
    }
    assert decided == {
        sam: ("review", ["new author with comments held as spam (3)"]),
        lee: ("approved", ["scores below every threshold"]),
    }

    # A moderator approves one of Sam's: the site knows Sam now.
    await conn.execute("UPDATE comments SET status = 'approved' WHERE id = $1", sams[2])
    again = await post("sam", "And one more point about the budget.")
    await batch.score_pending(pool, scorer, settings, [again])
    assert await conn.fetchval("SELECT status FROM comments WHERE id = $1", again) == "approved"
