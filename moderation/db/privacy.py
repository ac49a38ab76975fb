"""Queries behind readers' privacy: an author's data, its erasure, and retention."""

from __future__ import annotations

import asyncpg

from moderation.db import Connection
from moderation.db.scoring import lock_spam_models

# Rows cleared per statement: retention runs beside live traffic, in short steps.
_RETENTION_BATCH = 5000
# What erasure leaves of a reason (an SQL literal): reasons can quote the text ("contact
# phrase 'call me at ...'").
_ERASED = "'author''s data erased'"
# What erasure leaves of an author's comment, wherever it happens (here, and in an import
# of comments whose author was erased before).
EMPTIED = f"""author_name = '', body = '', fingerprint = NULL, client_addr = NULL,
             user_agent = NULL, reasons = ARRAY[{_ERASED}]"""
# Whether erasure wrote the reason itself (that marker, or an erasure's own audit row,
# "author's data erased by <who>"): kept, so erasing again keeps who erased before.
_BY_ERASURE = "starts_with({reason}, 'author''s data erased')"


async def author(conn: Connection, site_id: int, external_id: str) -> asyncpg.Record | None:
    """The site's author known by `external_id` (the id the site gives the reader)."""
    return await conn.fetchrow(
        "SELECT id, site_id FROM authors WHERE site_id = $1 AND external_id = $2",
        site_id,
        external_id,
    )


async def author_record(conn: Connection, author_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT au.id, au.site_id, s.slug AS site, au.external_id, au.name, au.status,
               au.status_until, au.created_at, au.erased_at, au.erased_by
          FROM authors AS au JOIN sites AS s ON s.id = au.site_id
         WHERE au.id = $1
        """,
        author_id,
    )


async def author_comments(conn: Connection, author_id: int) -> list[asyncpg.Record]:
    """Everything stored with each of the author's comments, oldest first."""
    return await conn.fetch(
        """
        SELECT c.id, a.external_id AS article, a.title AS article_title, a.url AS article_url,
               c.parent_id, c.author_name, c.body, c.status, c.reasons, c.language,
               c.created_at, c.decided_at, host(c.client_addr) AS client_addr, c.user_agent,
               c.source_id
          FROM comments AS c JOIN articles AS a ON a.id = c.article_id
         WHERE c.author_id = $1
         ORDER BY c.id
        """,
        author_id,
    )


async def replaced_texts(conn: Connection, author_id: int) -> list[asyncpg.Record]:
    """The texts the author's own edits replaced, kept in their comments' audit trail."""
    return await conn.fetch(
        """
        SELECT e.comment_id, e.previous_body, e.created_at
          FROM comment_events AS e JOIN comments AS c ON c.id = e.comment_id
         WHERE c.author_id = $1 AND e.kind = 'edited'
         ORDER BY e.id
        """,
        author_id,
    )


async def undeleted(conn: Connection, author_id: int) -> list[asyncpg.Record]:
    """The author's comments not deleted yet, with their status."""
    return await conn.fetch(
        "SELECT id, status FROM comments WHERE author_id = $1 AND status <> 'deleted'",
        author_id,
    )


async def drop_spam_models_trained_on(conn: Connection, site_id: int, author_id: int) -> int:
    """Delete the site's spam models trained on a moderator's decision on any of the
    author's comments (their vocabulary holds its words); how many. Beat trains the site
    again from its labels, where the scrubbed comments no longer count; until then its
    workers score with the newest model left, or the seed's (`SiteSpamModels.refresh`)."""
    # After a model being stored now is in, or before one that will then be refused.
    await lock_spam_models(conn, site_id)
    return len(
        await conn.fetch(
            """
            DELETE FROM spam_models AS m
             WHERE m.site_id = $2
               AND EXISTS (
                   SELECT FROM comment_events AS e JOIN comments AS c ON c.id = e.comment_id
                    WHERE c.author_id = $1 AND e.actor = 'moderator'
                      AND e.to_status IN ('spam', 'approved', 'rejected')
                      AND e.id <= m.last_event_id)
            RETURNING m.id
            """,
            author_id,
            site_id,
        )
    )


async def scrub_author(conn: Connection, author_id: int, erased_by: str) -> asyncpg.Record:
    """Remove the author's name, texts, addresses and user agents; `scrubbed` says how many
    comments had any, `erased` whether the author row was marked (now, by `erased_by`).

    Webhook events that named them lose the name, text and reasons too, so a replay
    cannot send them again, and so do their comments' audit rows (the reasons, and the
    texts their edits replaced), readers' reports on their comments (the reasons), the
    reasons given for their bans and holds, and moderators' notes on them. The author row
    stays (ids and standing), marked erased. Marked again only if there was something to
    erase: an erased author may have come back and posted.
    """
    # Locked first, each in a statement of its own: the scrub below then starts after
    # every transaction that held them has committed (a worker's decision and its webhook
    # event, an edit and the text it replaced, an import adding their comments) and sees
    # what they wrote, which its snapshot would miss if it waited on them itself.
    # The author NO KEY UPDATE (no key column changes): a writer holding one of their
    # comments then records its webhook event, whose author_id takes KEY SHARE on the
    # author row, which FOR UPDATE would refuse it: a deadlock. Comments in id order, so
    # two lockers of the same ones never take them in opposite orders.
    await conn.execute("SELECT FROM authors WHERE id = $1 FOR NO KEY UPDATE", author_id)
    await conn.execute(
        "SELECT FROM comments WHERE author_id = $1 ORDER BY id FOR UPDATE", author_id
    )
    # Then the articles whose approved comments lose their text, in id order, as
    # `transitions.transition` takes them: the scrub's trigger would take them in the
    # order it meets the comments, against a decision spanning the same articles.
    await conn.execute(
        """
        SELECT FROM articles
         WHERE id IN (SELECT article_id FROM comments
                       WHERE author_id = $1 AND status = 'approved')
         ORDER BY id
           FOR NO KEY UPDATE
        """,
        author_id,
    )
    scrubbed = await conn.fetchrow(
        f"""
        WITH comments_scrubbed AS (
            UPDATE comments
               SET {EMPTIED}, idempotency_key = NULL, idempotency_request = NULL
             WHERE author_id = $1
               AND (body <> '' OR author_name <> '' OR fingerprint IS NOT NULL
                    OR client_addr IS NOT NULL OR user_agent IS NOT NULL
                    OR idempotency_key IS NOT NULL OR idempotency_request IS NOT NULL)
            RETURNING 1
        ), events_scrubbed AS (
            UPDATE webhook_events
               SET payload = jsonb_set(jsonb_set(jsonb_set(payload,
                       '{{comment,body}}', '""', false),
                       '{{comment,author,name}}', '""', false),
                       '{{author,name}}', '""', false)
                   || CASE WHEN type = 'comment.reported'
                           THEN jsonb_build_object('report', jsonb_set(payload -> 'report',
                                '{{reason}}', to_jsonb({_ERASED}::text), false))
                           ELSE '{{}}' END
                   || CASE WHEN type IN ('comment.decided', 'author.status_changed')
                            AND NOT {_BY_ERASURE.format(reason="payload ->> 'reason'")}
                           THEN jsonb_build_object('reason', {_ERASED})
                           ELSE '{{}}' END
             WHERE author_id = $1
        ), audit_scrubbed AS (
            -- Every reason goes, moderators' as well as scoring's: scoring's quote the
            -- text (the contact phrase a spam reason names), a moderator's may quote it
            -- too, and what moderators wrote about the author goes as well (notes,
            -- below). Who changed which status to which, and when, stays: moderators
            -- remain accountable for what they did.
            UPDATE comment_events
               SET previous_body = NULL,
                   reason = CASE WHEN {_BY_ERASURE.format(reason="reason")} THEN reason
                                 ELSE {_ERASED} END
             WHERE comment_id IN (SELECT id FROM comments WHERE author_id = $1)
               AND (previous_body IS NOT NULL OR NOT {_BY_ERASURE.format(reason="reason")})
        ), standing_scrubbed AS (
            -- The same of the reasons for bans and holds on the author.
            UPDATE author_events SET reason = {_ERASED}
             WHERE author_id = $1 AND NOT {_BY_ERASURE.format(reason="reason")}
        ), reports_scrubbed AS (
            -- Readers write their reports in their own words, which may quote the
            -- comment or name its author.
            UPDATE reports SET reason = {_ERASED}
             WHERE comment_id IN (SELECT id FROM comments WHERE author_id = $1)
               AND reason <> {_ERASED}
        ), notes_removed AS (
            DELETE FROM author_notes WHERE author_id = $1
            RETURNING 1
        ), author_scrubbed AS (
            UPDATE authors SET name = '', erased_at = now(), erased_by = $2
             WHERE id = $1
               AND (erased_at IS NULL OR name <> ''
                    OR EXISTS (SELECT FROM comments_scrubbed)
                    OR EXISTS (SELECT FROM notes_removed))
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM comments_scrubbed) AS scrubbed,
               EXISTS (SELECT FROM author_scrubbed) AS erased
        """,
        author_id,
        erased_by,
    )
    assert scrubbed is not None
    return scrubbed


async def clear_expired_clients(conn: Connection, default_days: int) -> int:
    """Clear addresses and user agents older than each site keeps them; how many rows.

    Comments and reader reports alike; in batches, each its own short statement.
    """
    cleared = 0
    for statement in (_CLEAR_COMMENTS, _CLEAR_REPORTS):
        while True:
            done: int = await conn.fetchval(statement, default_days, _RETENTION_BATCH)
            cleared += done
            if done < _RETENTION_BATCH:
                break
    return cleared


_KEPT_DAYS = "coalesce((s.settings ->> 'ip_retention_days')::int, $1)"
_CLEAR_COMMENTS = f"""
    WITH expired AS (
        SELECT c.id FROM comments AS c JOIN sites AS s ON s.id = c.site_id
         WHERE (c.client_addr IS NOT NULL OR c.user_agent IS NOT NULL)
           AND c.created_at < now() - make_interval(days => {_KEPT_DAYS})
         LIMIT $2
    ), cleared AS (
        UPDATE comments SET client_addr = NULL, user_agent = NULL
          FROM expired WHERE comments.id = expired.id
        RETURNING 1
    )
    SELECT count(*) FROM cleared
"""
_CLEAR_REPORTS = f"""
    WITH expired AS (
        SELECT r.id FROM reports AS r
          JOIN comments AS c ON c.id = r.comment_id JOIN sites AS s ON s.id = c.site_id
         WHERE r.client_addr IS NOT NULL
           AND r.created_at < now() - make_interval(days => {_KEPT_DAYS})
         LIMIT $2
    ), cleared AS (
        UPDATE reports SET client_addr = NULL FROM expired WHERE reports.id = expired.id
        RETURNING 1
    )
    SELECT count(*) FROM cleared
"""
