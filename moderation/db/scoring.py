"""Queries the scoring worker runs: claim a batch, read its context, store results."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from moderation.db import Connection

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


async def batch_context(
    conn: Connection, ids: Sequence[int], retention_days: int
) -> list[asyncpg.Record]:
    """Each claimed comment with what policy and spam scoring need to know about it.

    Addresses are kept for the site's `ip_retention_days` (`retention_days` where the
    site never set it): the address velocity counts only the part of its window that
    retention still covers, so a comment scored late is not judged on a cleared window.
    """
    return await conn.fetch(
        f"""
        SELECT c.id, c.site_id, c.body, c.author_name, c.author_id, c.score_attempts,
               c.scoring_error, s.settings AS site_settings,
               au.status AS author_status, au.status_until AS author_status_until,
               (au.status_until IS NULL OR au.status_until > now()) AS author_status_in_force,
               coalesce(history.approved, 0) AS author_approved,
               (SELECT count(*) FROM comments AS p
                 WHERE p.author_id = c.author_id AND p.id <> c.id
                   AND p.created_at BETWEEN c.created_at - interval '{_VELOCITY_WINDOW}'
                                        AND c.created_at) AS author_recent,
               (SELECT count(*) FROM comments AS p
                 WHERE p.site_id = c.site_id AND p.client_addr = c.client_addr AND p.id <> c.id
                   AND p.created_at BETWEEN greatest(
                           c.created_at - interval '{_VELOCITY_WINDOW}',
                           now() - make_interval(days => coalesce(
                               (s.settings ->> 'ip_retention_days')::int, $2)))
                                        AND c.created_at) AS address_recent,
               (SELECT count(*) FROM comments AS d
                 WHERE d.site_id = c.site_id AND d.fingerprint = c.fingerprint AND d.id <> c.id
                   AND d.created_at > c.created_at - interval '{_DUPLICATE_WINDOW}'
                   AND (d.article_id <> c.article_id
                        OR d.author_id IS DISTINCT FROM c.author_id)) AS duplicates
        FROM comments AS c
        JOIN sites AS s ON s.id = c.site_id
        LEFT JOIN authors AS au ON au.id = c.author_id
        LEFT JOIN LATERAL (
            SELECT count(*) AS approved FROM comments AS h
             WHERE h.author_id = c.author_id AND h.status = 'approved'
        ) AS history ON c.author_id IS NOT NULL
        WHERE c.id = ANY($1::bigint[])
        ORDER BY c.id
        """,
        list(ids),
        retention_days,
    )


async def store_scores(
    conn: Connection,
    ids: Sequence[int],
    scores: Sequence[dict[str, float]],
    languages: Sequence[str | None],
    models: Sequence[str | None],
) -> None:
    """Record what scoring found, on comments still pending (a redelivery finds none).

    `risk`, the highest of the scores, orders the review queue riskiest first.
    """
    await conn.execute(
        """
        UPDATE comments
           SET scores = r.scores, risk = r.risk, language = r.language, model = r.model,
               scoring_error = NULL
          FROM unnest($1::bigint[], $2::jsonb[], $3::real[], $4::text[], $5::text[])
               AS r(id, scores, risk, language, model)
         WHERE comments.id = r.id AND comments.status = 'pending'
        """,
        list(ids),
        list(scores),
        [max(s.values(), default=0.0) for s in scores],
        list(languages),
        list(models),
    )


async def postpone(
    conn: Connection, ids: Sequence[int], error: str, retry_after_seconds: float
) -> None:
    """Leave comments that failed to score pending, to be claimed again later."""
    await conn.execute(
        """
        UPDATE comments
           SET scoring_error = $2, claimed_until = now() + make_interval(secs => $3)
         WHERE id = ANY($1::bigint[]) AND status = 'pending'
        """,
        list(ids),
        error,
        retry_after_seconds,
    )


async def overdue(conn: Connection, older_than_seconds: float, limit: int) -> list[int]:
    """Pending comments nobody is working on that waited longer than they should."""
    rows = await conn.fetch(
        """
        SELECT id FROM comments
         WHERE status = 'pending'
           AND created_at < now() - make_interval(secs => $1)
           AND (claimed_until IS NULL OR claimed_until < now())
         ORDER BY id
         LIMIT $2
        """,
        older_than_seconds,
        limit,
    )
    return [row["id"] for row in rows]


async def latest_spam_model(conn: Connection, newer_than: int = 0) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT id, model, last_event_id, last_label_id FROM spam_models
         WHERE id > $1 ORDER BY id DESC LIMIT 1
        """,
        newer_than,
    )


async def spam_labels(
    conn: Connection, after_event: int, after_label: int = 0
) -> tuple[list[asyncpg.Record], int, int]:
    """Every spam label there is: moderators' latest verdict on each comment they decided,
    spam (1) or not (0), and scoring clients' SPAM suggestions (1 from 0.5 up).

    Returns the labelled texts and the newest moderator event and client label seen;
    nothing when neither is newer than `after_event` / `after_label` (the last training's).
    """
    newest_event: int = await conn.fetchval(
        "SELECT coalesce(max(id), 0) FROM comment_events WHERE actor = 'moderator'"
    )
    newest_label: int = await conn.fetchval(
        "SELECT coalesce(max(id), 0) FROM analysis_labels WHERE attribute = 'SPAM'"
    )
    if newest_event <= after_event and newest_label <= after_label:
        return [], after_event, after_label
    rows = await conn.fetch(
        """
        SELECT body, label FROM (
            SELECT DISTINCT ON (e.comment_id) c.body, (e.to_status = 'spam')::int AS label
              FROM comment_events AS e JOIN comments AS c ON c.id = e.comment_id
             WHERE e.actor = 'moderator' AND e.to_status IN ('spam', 'approved', 'rejected')
               AND e.id <= $1
               -- An erased comment has no text left to learn from.
               AND c.body <> ''
             ORDER BY e.comment_id, e.id DESC
        ) AS moderators
        UNION ALL
        SELECT body, (value >= 0.5)::int FROM analysis_labels
         WHERE attribute = 'SPAM' AND id <= $2
        """,
        newest_event,
        newest_label,
    )
    return list(rows), newest_event, newest_label


async def store_spam_model(
    conn: Connection,
    model: bytes,
    samples: int,
    decisions: int,
    last_event_id: int,
    last_label_id: int,
) -> int:
    model_id: int = await conn.fetchval(
        """
        INSERT INTO spam_models (model, samples, decisions, last_event_id, last_label_id)
        VALUES ($1, $2, $3, $4, $5) RETURNING id
        """,
        model,
        samples,
        decisions,
        last_event_id,
        last_label_id,
    )
    return model_id
