"""Figures over many comments: overturned decisions per rule, pending comments per site."""

from __future__ import annotations

import asyncpg

from moderation import metrics
from moderation.db import Connection


async def overturns(conn: Connection, site_id: int, days: int) -> list[asyncpg.Record]:
    """Per rule and automatic outcome: how many decisions, and what moderators did after.

    A rule is a reason as `metrics.rule` names it, its score and count taken out
    ("toxicity 0.93 ≥ 0.90" counts under "toxicity ≥ 0.90", "3 links" under "links"), so
    decisions group by the threshold a site can tune. Overturned: an automatic approval
    a moderator removed, or an automatic removal a moderator approved; a hold is no
    verdict, so for holds only the moderators' outcomes count. Erased authors' comments
    are left out.
    """
    return await conn.fetch(
        """
        WITH automatic AS (
            SELECT DISTINCT ON (e.comment_id) e.comment_id, e.id AS event_id, e.to_status
            FROM comment_events AS e JOIN comments AS c ON c.id = e.comment_id
            WHERE c.site_id = $1 AND e.actor = 'system'
              AND e.created_at > now() - make_interval(days => $2)
              -- Erasure replaced an erased author's reasons (and an operator's erasure is
              -- the system's latest event): their comments no longer tell a rule.
              AND NOT EXISTS (SELECT FROM authors AS au
                              WHERE au.id = c.author_id AND au.erased_at IS NOT NULL)
            ORDER BY e.comment_id, e.id DESC
        ), human AS (
            SELECT DISTINCT ON (e.comment_id) e.comment_id, e.to_status
            FROM comment_events AS e
            JOIN automatic AS a ON a.comment_id = e.comment_id AND e.id > a.event_id
            WHERE e.actor = 'moderator'
            ORDER BY e.comment_id, e.id DESC
        )
        SELECT rule.name AS rule, automatic.to_status AS automatic,
               count(*) AS decisions,
               count(human.comment_id) AS reviewed,
               count(*) FILTER (WHERE human.to_status = 'approved') AS approved_by_moderators,
               count(*) FILTER (WHERE human.to_status IN ('rejected', 'spam'))
                   AS removed_by_moderators,
               count(*) FILTER (WHERE automatic.to_status <> 'review'
                                  AND (automatic.to_status = 'approved')
                                      <> (human.to_status = 'approved')) AS overturned
        FROM automatic
        JOIN comments AS c ON c.id = automatic.comment_id
        LEFT JOIN human ON human.comment_id = automatic.comment_id
        CROSS JOIN LATERAL unnest(c.reasons) AS reason
        -- `metrics.RULE_REWRITES`, in order: one more of them than placeholders here is
        -- an error from asyncpg, not a rule named one way here and another on the dashboard.
        CROSS JOIN LATERAL (
            SELECT regexp_replace(regexp_replace(regexp_replace(
                       reason, $3, $4, 'g'), $5, $6, 'g'), $7, $8, 'g') AS name
        ) AS rule
        GROUP BY rule.name, automatic.to_status
        ORDER BY overturned DESC, decisions DESC, rule.name
        """,
        site_id,
        days,
        *(part for rewrite in metrics.RULE_REWRITES for part in rewrite),
    )


async def pending(conn: Connection) -> list[asyncpg.Record]:
    """Per site: comments awaiting scoring, and how long the oldest has waited (seconds)
    since it became pending (`pending_since`: posted, imported to score, or edited)."""
    return await conn.fetch(
        """
        SELECT s.slug AS site, count(c.id) AS pending,
               coalesce(extract(epoch FROM now() - min(c.pending_since)), 0)::float8
                   AS oldest_seconds
        FROM sites AS s
        LEFT JOIN comments AS c ON c.site_id = s.id AND c.status = 'pending'
        GROUP BY s.slug
        ORDER BY s.slug
        """
    )
