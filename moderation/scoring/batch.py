"""Score pending comments in batches and decide them: the worker task's whole job.

Claim (a committed lease), score outside any transaction, then write each decision with
its scores and audit row in one transaction whose updates only touch comments still
pending, and still at the version whose text was scored. A duplicated or redelivered
wake-up therefore decides nothing twice, and a worker that dies mid-batch leaves its
comments pending for the next claim once the lease lapses. A claim scored for longer
than its lease lets its author edit the comment; the verdict on the old text then
changes nothing, and the new text waits for the next claim (the edit's wake-up, or the
sweep). A comment that makes scoring fail is retried later, and held for review with the
error once it has failed `scoring_max_attempts` times, so one poison input never blocks
the rest.

Claims are pipelined: while one is scored on a thread, the one before it is written and
the next one taken, so the models do not wait on PostgreSQL (on a GPU, claims and writes
had taken 29% of a drain's time). A claim's context is therefore read before the claim
just ahead of it is decided; what the decisions turn on that may have changed since (the
authors' status and history, the sites' settings) is read again when they are written,
so they count the claim before. The comments of one claim never see each other's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from moderation import metrics
from moderation.config import Settings
from moderation.db import Connection, transitions
from moderation.db import scoring as scoring_queries
from moderation.policy import Facts, cut, evaluate
from moderation.scoring.scorer import Scorer, Scores
from moderation.scoring.spam import SpamContext
from moderation.sites import DEFAULT_THRESHOLDS, IP_RETENTION_DAYS, SiteSettings

log = structlog.get_logger(__name__)

# The spam hold line of a site that never set its own, which the author's history reads.
_SPAM_HOLD = DEFAULT_THRESHOLDS["spam"].hold

# A comment that failed to score waits this long per failed attempt before its retry.
_RETRY_BACKOFF_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Claim:
    """Comments leased to this worker, with what scoring them needs to know."""

    ids: list[int]
    rows: list[asyncpg.Record]
    started: float  # time.perf_counter() when the claim began
    seconds: float


@dataclass(frozen=True, slots=True)
class Decisions:
    """A claim scored: the changes to write, the comments that failed, the seconds it took."""

    claim: Claim
    changes: list[transitions.Change]
    failed: list[tuple[asyncpg.Record, str]]
    seconds: float
    # The comments scored, with their scores: decided again at the write if their
    # author's status or history, or their site's settings, changed while they were scored.
    scored: list[tuple[asyncpg.Record, Scores]] = field(default_factory=list)
    # Comments held for review because scoring them failed too often (among `changes`).
    gave_up: frozenset[int] = frozenset()


async def score_pending(
    pool: asyncpg.Pool, scorer: Scorer, settings: Settings, hinted: Sequence[int] = ()
) -> int:
    """Score claims (the hinted comments first) until one comes back less than full;
    returns comments decided."""
    claim = await _take_claim(pool, scorer, settings, hinted)
    decided = 0
    previous: Decisions | None = None
    while claim.ids:
        # Between scorings, never during one: the scoring thread reads these models.
        async with pool.acquire() as conn:
            await scorer.spam.refresh(conn, {row["site_id"] for row in claim.rows})
        more = len(claim.ids) >= scorer.claim_size
        scoring = asyncio.create_task(asyncio.to_thread(_decide, scorer, settings, claim))
        try:
            applied, claim = await _write_then_claim(pool, scorer, settings, previous, more)
        finally:
            # Even when the database fails: a claim left scoring on its thread would be
            # scored beside the next task's.
            scored = await scoring
        decided += applied
        previous = scored
    return decided + await _write(pool, previous)


async def _write_then_claim(
    pool: asyncpg.Pool,
    scorer: Scorer,
    settings: Settings,
    decisions: Decisions | None,
    more: bool,
) -> tuple[int, Claim]:
    # In this order, so that a claim always sees the decisions of all but the claim
    # being scored beside it.
    applied = await _write(pool, decisions)
    claim = await _take_claim(pool, scorer, settings, ()) if more else Claim([], [], 0.0, 0.0)
    return applied, claim


async def _take_claim(
    pool: asyncpg.Pool, scorer: Scorer, settings: Settings, hinted: Sequence[int]
) -> Claim:
    """Lease up to a claim of pending comments, the hinted ones first, and read their
    context."""
    started = time.perf_counter()
    async with pool.acquire() as conn:
        ids = await scoring_queries.claim(
            conn, hinted, scorer.claim_size, settings.scoring_lease_seconds
        )
        rows = (
            await scoring_queries.batch_context(conn, ids, IP_RETENTION_DAYS, _SPAM_HOLD)
            if ids
            else []
        )
    return Claim(ids, rows, started, time.perf_counter() - started)


def _decide(scorer: Scorer, settings: Settings, claim: Claim) -> Decisions:
    """Score a claim and decide each comment (runs on a thread beside the event loop)."""
    started = time.perf_counter()
    exhausted = [r for r in claim.rows if r["score_attempts"] > settings.scoring_max_attempts]
    fresh = [r for r in claim.rows if r["score_attempts"] <= settings.scoring_max_attempts]
    scored, failed = _score(scorer, fresh)
    changes = [_give_up(row) for row in exhausted]
    # Each site's settings parsed once a claim, not once a comment.
    by_site = {row["site_id"]: row["site_settings"] for row in claim.rows}
    policies = {site: SiteSettings.model_validate(raw) for site, raw in by_site.items()}
    changes += [_decision(row, scores, policies[row["site_id"]]) for row, scores in scored]
    gave_up = frozenset(row["id"] for row in exhausted)
    return Decisions(
        claim, changes, failed, time.perf_counter() - started, gave_up=gave_up, scored=scored
    )


async def _write(pool: asyncpg.Pool, decisions: Decisions | None) -> int:
    """Commit a scored claim's decisions and postponements; returns comments decided."""
    if decisions is None:
        return 0
    started = time.perf_counter()
    async with pool.acquire() as conn, conn.transaction():
        if decisions.failed:
            # All of them first, in id order: the decisions' statement and the retries'
            # each lock their own, and a moderator deciding some of both (in id order)
            # met the worker holding a decided one and waiting on a retried one, a
            # deadlock.
            decided = [change.comment_id for change in decisions.changes]
            await scoring_queries.lock(conn, decided + [row["id"] for row, _ in decisions.failed])
        changes = await _as_things_stand(conn, decisions)
        applied = await transitions.transition(conn, changes)
        for row, error in decisions.failed:
            await scoring_queries.postpone(
                conn,
                row["id"],
                row["version"],
                error,
                _RETRY_BACKOFF_SECONDS * row["score_attempts"],
            )
    # Where a batch's time goes: a GPU worker that waits on PostgreSQL shows it here.
    finished = time.perf_counter()
    phases = {
        "claim": decisions.claim.seconds,
        "score": decisions.seconds,
        "write": finished - started,
    }
    claimed = len(decisions.claim.ids)
    metrics.count_decisions(applied, changes)
    metrics.observe_batch(claimed, phases, finished - decisions.claim.started)
    _log_given_up(decisions, {row["id"] for row in applied})
    log.info(
        "batch_scored",
        claimed=claimed,
        decided=len(applied),
        failed=len(decisions.failed),
        # At most a claim's ids: what an operator needs to find the comments.
        failed_ids=[row["id"] for row, _ in decisions.failed],
        **{f"{phase}_ms": round(seconds * 1000) for phase, seconds in phases.items()},
    )
    return len(applied)


async def _as_things_stand(conn: Connection, decisions: Decisions) -> list[transitions.Change]:
    """The claim's decisions, each made again whose author's status or history, or site's
    settings, changed while it was scored (an author put on pre-moderation or their
    comment approved, a word banned): a change committed before the decision is written
    counts, as do the decisions of the claim written just before this one."""
    if not decisions.scored:
        return decisions.changes
    ids = [row["id"] for row, _ in decisions.scored]
    now = {row["id"]: row for row in await scoring_queries.standing(conn, ids, _SPAM_HOLD)}
    again: dict[int, transitions.Change] = {}
    for row, scores in decisions.scored:
        current = now.get(row["id"])
        if current is None or all(row[key] == current[key] for key in _STANDING):
            continue
        fresh = {**dict(row), **{key: current[key] for key in _STANDING}}
        again[row["id"]] = _decision(
            fresh, scores, SiteSettings.model_validate(fresh["site_settings"])
        )
    return [again.get(change.comment_id, change) for change in decisions.changes]


# What `scoring_queries.standing` reads again.
_STANDING = (
    "site_settings",
    "author_status",
    "author_status_in_force",
    "author_approved",
    "author_spam",
)


def _log_given_up(decisions: Decisions, applied: set[int]) -> None:
    # Only those held: an edit since the claim leaves the new text to score afresh.
    for change in decisions.changes:
        if change.comment_id in decisions.gave_up and change.comment_id in applied:
            log.warning("scoring_gave_up", comment_id=change.comment_id, reason=change.reason)


def _score(
    scorer: Scorer, rows: list[asyncpg.Record]
) -> tuple[list[tuple[asyncpg.Record, Scores]], list[tuple[asyncpg.Record, str]]]:
    """Score the batch at once; if that fails, one by one to isolate the poison input."""
    if not rows:
        return [], []
    try:
        return list(zip(rows, scorer.score([_spam_context(r) for r in rows]), strict=True)), []
    except Exception:  # any model failure: find which comment causes it
        log.warning(
            "batch_scoring_failed",
            comments=len(rows),
            comment_ids=[row["id"] for row in rows],
            exc_info=True,
        )
    scored: list[tuple[asyncpg.Record, Scores]] = []
    failed: list[tuple[asyncpg.Record, str]] = []
    for row in rows:
        try:
            scored.append((row, scorer.score([_spam_context(row)])[0]))
        except Exception as exc:  # recorded on the comment and retried with backoff
            failed.append((row, f"{type(exc).__name__}: {exc}"[:500]))
    return scored, failed


def _spam_context(row: asyncpg.Record) -> SpamContext:
    return SpamContext(
        body=row["body"],
        author_name=row["author_name"],
        new_author=row["author_approved"] == 0,
        author_recent=row["author_recent"],
        address_recent=row["address_recent"],
        duplicates=row["duplicates"],
        site_id=row["site_id"],
    )


def _author_status(row: asyncpg.Record | Mapping[str, Any]) -> str | None:
    if row["author_id"] is None:
        return None
    status: str = row["author_status"]
    # A suspension or trust with an expiry counts only while it lasts.
    return status if row["author_status_in_force"] else "normal"


def _decision(
    row: asyncpg.Record | Mapping[str, Any], scores: Scores, policy: SiteSettings
) -> transitions.Change:
    decision = evaluate(
        policy,
        Facts(
            body=row["body"],
            language=scores.language,
            toxicity=scores.toxicity,
            spam_score=scores.spam.score,
            spam_reasons=scores.spam.reasons,
            author_status=_author_status(row),
            author_approved=row["author_approved"],
            author_spam=row["author_spam"],
        ),
    )
    return transitions.Change(
        comment_id=row["id"],
        expected="pending",
        to=decision.status,
        reason="; ".join(decision.reasons),
        reasons=decision.reasons,
        scored=_scored(scores),
        version=row["version"],
    )


def _give_up(row: asyncpg.Record) -> transitions.Change:
    attempts = row["score_attempts"] - 1
    reason = f"scoring failed {attempts} times ({row['scoring_error'] or 'worker lost'})"
    return transitions.Change(
        row["id"], "pending", "review", reason, (reason,), version=row["version"]
    )


def _scored(scores: Scores) -> transitions.Scored:
    # Cut, not rounded, as the reasons show it: 0.79996 is no 0.8 that reached a line.
    found = {**(scores.toxicity or {}), "spam": float(cut(scores.spam.score, 4))}
    runtime = scores.runtime
    if runtime is None:
        return transitions.Scored(found, scores.language, scores.model)
    return transitions.Scored(
        found, scores.language, scores.model, runtime.device, runtime.dtype, runtime.backend
    )
