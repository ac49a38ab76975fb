"""Queries the scoring worker runs: claim a batch, read its context, postpone failures.

Its decisions, with the scores they were made on, go through `transitions.transition`.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from moderation.db import Connection
from moderation.db.authors import IN_FORCE

# Spam velocity and duplicate windows: short enough to mean "a burst", long enough to
# catch a copy-paste campaign across a day's articles.
_VELOCITY_WINDOW = "10 minutes"
_DUPLICATE_WINDOW = "24 hours"


async def claim(
    conn: Connection, hinted: Sequence[int], limit: int, lease_seconds: float
) -> list[int]:
    """Lease up to `limit` pending comments, the hinted ones first, then the oldest.

    The lease is committed before scoring starts, so a worker that dies mid-batch leaves
    comments that are still pending and become claimable again when the lease lapses;
    SKIP LOCKED keeps concurrent claimers from waiting on each other.
    """
    claimed: list[int] = []
    for only_hinted in (True, False):
        if len(claimed) >= limit or (only_hinted and not hinted):
            continue
        rows = await conn.fetch(
            """
            UPDATE comments
               SET claimed_until = now() + make_interval(secs => $3),
                   score_attempts = score_attempts + 1
             WHERE id IN (
                   SELECT id FROM comments
                    WHERE status = 'pending'
                      AND (claimed_until IS NULL OR claimed_until < now())
                      AND (NOT $4 OR id = ANY($1::bigint[]))
                    ORDER BY id
                    LIMIT $2
                      FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            list(hinted),
            limit - len(claimed),
            lease_seconds,
            only_hinted,
        )
        claimed += sorted(row["id"] for row in rows)
    return claimed


# What the policy weighs of a comment `{c}`'s author, in one read of their comments: how
# many the site approved, and how many others it holds as spam (marked spam; in review,
# or deleted by them, with a spam score at or above the spam hold line `{hold}`). Deleted
# ones count, or deleting a held comment would be a way out of the hold.
_AUTHOR_HISTORY = """
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE h.status = 'approved') AS author_approved,
               count(*) FILTER (
                   WHERE h.id <> {c}.id
                     AND (h.status = 'spam'
                          OR (h.status IN ('review', 'deleted')
                              AND (h.scores ->> 'spam')::float8 >= {hold})))
                   AS author_spam
          FROM comments AS h
         WHERE h.author_id = {c}.author_id
    ) AS history ON true"""


def _spam_hold(settings: str, default: str) -> str:
    """The spam hold line of a site's `settings`, or `default` where it set none."""
    return f"coalesce(({settings} #>> '{{thresholds,spam,hold}}')::float8, {default})"


async def batch_context(
    conn: Connection, ids: Sequence[int], retention_days: int, spam_hold: float
) -> list[asyncpg.Record]:
    """Each claimed comment with what policy and spam scoring need to know about it, and
    the version of the text it reads: the decision applies only while the comment is
    still at that version (an edit after the lease lapsed moves it on).

    One statement for the whole batch. Each count (the author's history, and the recent
    activity spam scoring weighs) is a subquery, or a lateral one, on the batch row's own
    columns, so that it is an index range scan on the index made for it in any plan. A
    worker runs this statement so often that PostgreSQL soon plans it once for all (a
    generic plan); written as joins, that plan probed the address index by site alone
    and read every comment of the site for each comment of the batch.

    Addresses are kept for the site's `ip_retention_days` (`retention_days` where the
    site never set it): the address velocity counts only the part of its window that
    retention still covers, so a comment scored late is not judged on a cleared window.
    The author's comments held as spam are read against the site's spam hold line
    (`spam_hold` where the site never set one).
    """
    return await conn.fetch(
        f"""
        WITH batch AS (
            SELECT c.id, c.version, c.site_id, c.article_id, c.body, c.author_name, c.author_id,
                   c.client_addr, c.fingerprint, c.created_at, c.score_attempts,
                   c.scoring_error, s.settings AS site_settings,
                   greatest(c.created_at - interval '{_VELOCITY_WINDOW}',
                            now() - make_interval(days => coalesce(
                                (s.settings ->> 'ip_retention_days')::int, $2)))
                       AS address_since
              FROM comments AS c JOIN sites AS s ON s.id = c.site_id
             WHERE c.id = ANY($1::bigint[])
        )
        SELECT b.id, b.version, b.site_id, b.body, b.author_name, b.author_id, b.score_attempts,
               b.scoring_error, b.site_settings,
               au.status AS author_status, au.status_until AS author_status_until,
               {IN_FORCE.format(a="au")} AS author_status_in_force,
               history.author_approved, history.author_spam,
               (SELECT count(*) FROM comments AS p
                 WHERE p.author_id = b.author_id
                   AND p.created_at BETWEEN b.created_at - interval '{_VELOCITY_WINDOW}'
                                        AND b.created_at
                   AND p.id <> b.id) AS author_recent,
               (SELECT count(*) FROM comments AS p
                 WHERE p.site_id = b.site_id AND p.client_addr = b.client_addr
                   AND p.created_at BETWEEN b.address_since AND b.created_at
                   AND p.id <> b.id) AS address_recent,
               (SELECT count(*) FROM comments AS d
                 WHERE d.fingerprint = b.fingerprint
                   AND d.created_at > b.created_at - interval '{_DUPLICATE_WINDOW}'
                   AND d.site_id = b.site_id AND d.id <> b.id
                   AND (d.article_id <> b.article_id
                        OR d.author_id IS DISTINCT FROM b.author_id)) AS duplicates
          FROM batch AS b
          LEFT JOIN authors AS au ON au.id = b.author_id
          {_AUTHOR_HISTORY.format(c="b", hold=_spam_hold("b.site_settings", "$3"))}
         ORDER BY b.id
        """,
        list(ids),
        retention_days,
        spam_hold,
    )


async def lock(conn: Connection, ids: Sequence[int]) -> None:
    """Lock the comments in id order, as a status change does (`transitions.transition`),
    for a transaction that changes them in more than one statement."""
    await conn.execute(
        "SELECT FROM comments WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE",
        list(ids),
    )


async def postpone(
    conn: Connection, comment_id: int, version: int, error: str, retry_after_seconds: float
) -> None:
    """Leave a comment that failed to score pending, to be claimed again later; unless
    its text was replaced since it was read (`version`): the new text has not failed."""
    await conn.execute(
        """
        UPDATE comments
           SET scoring_error = $3, claimed_until = now() + make_interval(secs => $4)
         WHERE id = $1 AND version = $2 AND status = 'pending'
        """,
        comment_id,
        version,
        error,
        retry_after_seconds,
    )


async def overdue(conn: Connection, older_than_seconds: float, limit: int) -> list[int]:
    """Pending comments nobody is working on that waited longer than they should since
    they became pending (an edit's wake-up is as fresh as a post's)."""
    rows = await conn.fetch(
        """
        SELECT id FROM comments
         WHERE status = 'pending'
           AND pending_since < now() - make_interval(secs => $1)
           AND (claimed_until IS NULL OR claimed_until < now())
         ORDER BY id
         LIMIT $2
        """,
        older_than_seconds,
        limit,
    )
    return [row["id"] for row in rows]


async def latest_spam_models(conn: Connection, site_ids: Sequence[int]) -> dict[int, int]:
    """The id of each site's newest spam model, for the sites that have one."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (site_id) site_id, id FROM spam_models
         WHERE site_id = ANY($1::bigint[])
         ORDER BY site_id, id DESC
        """,
        list(site_ids),
    )
    return {row["site_id"]: row["id"] for row in rows}


async def spam_model(conn: Connection, model_id: int) -> bytes | None:
    blob: bytes | None = await conn.fetchval(
        "SELECT model FROM spam_models WHERE id = $1", model_id
    )
    return blob


async def sites_to_retrain(conn: Connection, model_format: str) -> list[asyncpg.Record]:
    """Sites with spam labels newer than their newest spam model (a moderator's spam /
    not-spam decision or a scoring client's SPAM label), or whose newest model is not of
    `model_format`. `site_id`, and `newest_event` and `newest_label`, the newest of each
    there is for the site (0: none)."""
    return await conn.fetch(
        """
        WITH trained AS (
            SELECT site_id, max(last_event_id) AS event, max(last_label_id) AS label,
                   (array_agg(format ORDER BY id DESC))[1] AS format
              FROM spam_models GROUP BY site_id
        ), events AS (
            SELECT c.site_id, max(e.id) AS newest
              FROM comment_events AS e JOIN comments AS c ON c.id = e.comment_id
             WHERE e.actor = 'moderator' AND e.to_status IN ('spam', 'approved', 'rejected')
             GROUP BY c.site_id
        ), labels AS (
            SELECT site_id, max(id) AS newest FROM analysis_labels
             WHERE attribute = 'SPAM' GROUP BY site_id
        )
        SELECT site_id, coalesce(events.newest, 0) AS newest_event,
               coalesce(labels.newest, 0) AS newest_label
          FROM events FULL JOIN labels USING (site_id)
          LEFT JOIN trained USING (site_id)
         WHERE coalesce(events.newest, 0) > coalesce(trained.event, 0)
            OR coalesce(labels.newest, 0) > coalesce(trained.label, 0)
            OR trained.format <> $1
         ORDER BY site_id
        """,
        model_format,
    )


async def spam_labels(
    conn: Connection, site_id: int, up_to_event: int, up_to_label: int = 0
) -> list[asyncpg.Record]:
    """A site's spam labels, `body` and `label` (1 spam, 0 not): its moderators' latest
    verdict on each comment they decided (`comment_id`), up to event `up_to_event`, and
    its scoring clients' SPAM suggestions (spam from 0.5 up; no comment), up to label
    `up_to_label`."""
    return await conn.fetch(
        """
        SELECT comment_id, body, label FROM (
            SELECT DISTINCT ON (e.comment_id) e.comment_id, c.body,
                   (e.to_status = 'spam')::int AS label
              FROM comment_events AS e JOIN comments AS c ON c.id = e.comment_id
             WHERE c.site_id = $1 AND e.actor = 'moderator'
               AND e.to_status IN ('spam', 'approved', 'rejected') AND e.id <= $2
               -- An erased comment has no text left to learn from.
               AND c.body <> ''
             ORDER BY e.comment_id, e.id DESC
        ) AS moderators
        UNION ALL
        SELECT NULL, body, (value >= 0.5)::int FROM analysis_labels
         WHERE site_id = $1 AND attribute = 'SPAM' AND id <= $3
        """,
        site_id,
        up_to_event,
        up_to_label,
    )


async def standing(
    conn: Connection, comment_ids: Sequence[int], spam_hold: float
) -> list[asyncpg.Record]:
    """What may have changed since the comments were claimed and that their decisions
    turn on: their author's status and history (a moderator's decisions, the claim just
    before), and their site's settings, as `batch_context` has them."""
    return await conn.fetch(
        f"""
        SELECT c.id, s.settings AS site_settings, au.status AS author_status,
               {IN_FORCE.format(a="au")} AS author_status_in_force,
               history.author_approved, history.author_spam
          FROM comments AS c JOIN sites AS s ON s.id = c.site_id
          LEFT JOIN authors AS au ON au.id = c.author_id
          {_AUTHOR_HISTORY.format(c="c", hold=_spam_hold("s.settings", "$2"))}
         WHERE c.id = ANY($1::bigint[])
        """,
        list(comment_ids),
        spam_hold,
    )


async def lock_spam_models(conn: Connection, site_id: int) -> None:
    """Until the transaction ends, be the only one storing or deleting the site's spam
    models: a model trained while an author was erased is then either deleted by the
    erasure or, stored after it, refused (`store_spam_model`)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('spam models'), hashtext($1::bigint::text))", site_id
    )


async def store_spam_model(
    conn: Connection,
    site_id: int,
    model: bytes,
    model_format: str,
    samples: int,
    decisions: int,
    last_event_id: int,
    last_label_id: int,
    comment_ids: Sequence[int],
) -> int | None:
    """Store a model trained on the comments `comment_ids` (among others); None, storing
    nothing, when one of them was erased since it was read: its words are in the model."""
    async with conn.transaction():
        await lock_spam_models(conn, site_id)
        model_id: int | None = await conn.fetchval(
            """
            INSERT INTO spam_models (site_id, model, format, samples, decisions, last_event_id,
                                     last_label_id)
            SELECT $1, $2, $3, $4, $5, $6, $7
             WHERE NOT EXISTS (SELECT FROM comments WHERE id = ANY($8::bigint[]) AND body = '')
            RETURNING id
            """,
            site_id,
            model,
            model_format,
            samples,
            decisions,
            last_event_id,
            last_label_id,
            list(comment_ids),
        )
    return model_id
