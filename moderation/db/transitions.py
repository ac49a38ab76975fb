"""The one statement that changes a comment's status, and its audit row.

Every status change goes through `transition`: scoring's decisions, moderators'
decisions and bans alike. It applies a change only while the comment is still in the
status the change expects, so a redelivered task or a stale view changes nothing, and it
writes who, from, to and why into `comment_events` in the same statement. A change may
also name the `comments.version` it was made on: every status change and every edit of
the text bumps it, so a decision on text replaced since it was read changes nothing
either. A scoring decision carries what scoring found, stored by the same update: each
update of a comment writes a new row version and an entry in each of its indexes, and
scores written apart from the decision made a claim of 512 write 4.2 MB of WAL rather
than 2.8 (bench/claim_db_bench.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import orjson

from moderation.db import Connection
from moderation.statuses import Status


async def statuses(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[int, str]]:
    """Site and status of each existing comment among `ids`."""
    rows = await conn.fetch(
        "SELECT id, site_id, status FROM comments WHERE id = ANY($1::bigint[])", list(ids)
    )
    return {row["id"]: (row["site_id"], row["status"]) for row in rows}


@dataclass(frozen=True, slots=True)
class Scored:
    """What scoring found: each label's score, the language it was scored as, and the
    toxicity model and what it ran on (None: no model covers the language)."""

    scores: dict[str, float]
    language: str | None
    model: str | None = None
    device: str | None = None
    dtype: str | None = None
    backend: str | None = None

    @property
    def risk(self) -> float:
        """The highest score: the review queue's riskiest-first order."""
        return max(self.scores.values(), default=0.0)


@dataclass(frozen=True, slots=True)
class Change:
    """One status change: applied only if the comment is still in `expected` (and, when
    `version` is given, still at that version)."""

    comment_id: int
    expected: Status
    to: Status
    reason: str
    reasons: Sequence[str] = ()
    moderator_id: int | None = None
    # The comment's author changed it (an edit, a deletion), not scoring or a moderator.
    by_reader: bool = False
    # Scoring's findings, stored with the decision; None leaves the stored ones alone.
    scored: Scored | None = None
    # The version the decision was made on; None checks the status alone.
    version: int | None = None

    @property
    def actor(self) -> str:
        if self.by_reader:
            return "reader"
        return "system" if self.moderator_id is None else "moderator"


async def transition(conn: Connection, changes: Sequence[Change]) -> list[asyncpg.Record]:
    """Apply status changes and write their audit rows, in one statement.

    A change whose comment is no longer in its expected status, or no longer at the
    version it names, is skipped (and absent from the result): a redelivered task, a
    moderator's stale view or a verdict on replaced text changes nothing.
    """
    rows = await conn.fetch(
        """
        WITH change AS (
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],
                                 $5::text[], $6::bigint[], $7::text[], $8::jsonb[], $9::real[],
                                 $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                                 $15::bigint[])
                AS c(comment_id, expected, to_status, reason, reasons, moderator_id, actor,
                     scores, risk, language, model, device, dtype, backend, expected_version)
        ), comments_locked AS (
            -- The comments it changes, locked in id order before any is updated: the
            -- update takes them in the order its plan meets them (on a live site, the
            -- order the changes name them), and two changes naming the same comments in
            -- other orders (a bulk decision, a worker's batch, a ban) took them in
            -- opposite orders, a deadlock.
            SELECT comments.id FROM comments JOIN change ON change.comment_id = comments.id
             WHERE comments.status = change.expected
               AND comments.version = coalesce(change.expected_version, comments.version)
             ORDER BY comments.id
               FOR NO KEY UPDATE OF comments
        ), updated AS (
            UPDATE comments SET
                status = change.to_status,
                reasons = CASE WHEN change.reasons IS NULL THEN comments.reasons
                               ELSE ARRAY(SELECT jsonb_array_elements_text(change.reasons::jsonb))
                          END,
                -- NULL scores: not a scoring decision, and the findings stay as they were.
                scores = coalesce(change.scores, comments.scores),
                risk = coalesce(change.risk, comments.risk),
                language = CASE WHEN change.scores IS NULL THEN comments.language
                                ELSE change.language END,
                model = CASE WHEN change.scores IS NULL THEN comments.model ELSE change.model END,
                model_device = CASE WHEN change.scores IS NULL THEN comments.model_device
                                    ELSE change.device END,
                model_dtype = CASE WHEN change.scores IS NULL THEN comments.model_dtype
                                   ELSE change.dtype END,
                model_backend = CASE WHEN change.scores IS NULL THEN comments.model_backend
                                     ELSE change.backend END,
                scoring_error = CASE WHEN change.scores IS NULL THEN comments.scoring_error END,
                decided_at = now(),
                decided_by = change.moderator_id,
                claimed_until = NULL,
                version = comments.version + 1
            FROM change
            WHERE comments.id = change.comment_id AND comments.status = change.expected
              AND comments.version = coalesce(change.expected_version, comments.version)
              -- Counted: every row of comments_locked read, so every lock taken first.
              AND (SELECT count(*) FROM comments_locked) >= 0
            RETURNING comments.id, comments.site_id, comments.article_id, comments.status,
                      comments.version, change.expected AS from_status, change.reason,
                      change.moderator_id, change.actor
        ), audit AS (
            INSERT INTO comment_events (comment_id, actor, moderator_id, from_status,
                                        to_status, reason)
            SELECT id, actor, moderator_id, from_status, status, reason
            FROM updated
        ), articles_locked AS (
            -- The articles whose approved count moves, locked in id order: the comments'
            -- trigger locks them at the statement's end in the order the comments were
            -- updated, and two changes spanning two articles (a bulk decision, a
            -- worker's batch) took them in opposite orders, a deadlock. After the
            -- comments, not before: edits, deletions and erasures hold a comment when
            -- they get here, and comments-then-articles is everyone's order.
            SELECT articles.id FROM articles
             WHERE articles.id IN (SELECT article_id FROM updated
                                    WHERE 'approved' IN (status, from_status))
             ORDER BY articles.id
               FOR NO KEY UPDATE OF articles
        )
        SELECT updated.id, updated.site_id, sites.slug AS site, updated.article_id,
               updated.status, updated.from_status, updated.version
        FROM updated JOIN sites ON sites.id = updated.site_id
        -- Counted: every row of articles_locked read, so every lock taken.
        WHERE (SELECT count(*) FROM articles_locked) >= 0
        """,
        [c.comment_id for c in changes],
        [c.expected for c in changes],
        [c.to for c in changes],
        [c.reason for c in changes],
        # Arrays of arrays must not be ragged in Postgres, so each change's reasons travel
        # as the text of one JSON array; NULL keeps the reasons already stored.
        [orjson.dumps(list(c.reasons)).decode() if c.reasons else None for c in changes],
        [c.moderator_id for c in changes],
        [c.actor for c in changes],
        [c.scored.scores if c.scored else None for c in changes],
        [c.scored.risk if c.scored else None for c in changes],
        [c.scored.language if c.scored else None for c in changes],
        [c.scored.model if c.scored else None for c in changes],
        [c.scored.device if c.scored else None for c in changes],
        [c.scored.dtype if c.scored else None for c in changes],
        [c.scored.backend if c.scored else None for c in changes],
        [c.version for c in changes],
    )
    return list(rows)
