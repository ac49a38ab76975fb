"""Queries on comments: intake and lookups (status changes are `db.transitions`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from moderation.db import Connection
from moderation.db.authors import IN_FORCE
from moderation.db.threads import VISIBLE

# An author banned, and the ban still running (`status_until` is when it lapses).
_BANNED = f"({{a}}.status = 'banned' AND {IN_FORCE})"
# What a keyed request asks for, from intake's parameters $2 to $6 (article, author id
# and name, parent, text): a resend is compared with this, as the comment itself may
# have been edited since (0016).
_REQUEST = """sha256(convert_to(jsonb_build_array($2::text, $3::text, $4::text,
                                               $5::bigint, $6::text)::text, 'UTF8'))"""


@dataclass(frozen=True, slots=True)
class NewComment:
    """A comment as intake received it, with the limits its site sets."""

    site_id: int
    article: str
    author_external_id: str | None
    author_name: str
    body: str
    fingerprint: str
    parent_id: int | None
    client_addr: str | None
    user_agent: str | None
    idempotency_key: str | None
    rate_window_seconds: int
    rate_per_author: int  # 0: no limit
    rate_per_address: int  # 0: no limit
    article_title: str | None = None
    article_url: str | None = None
    owner_secret_hash: bytes | None = None


async def intake(conn: Connection, new: NewComment) -> asyncpg.Record:
    """Check and store a pending comment in one statement (one round trip, one commit).

    The verdict comes first, from the rows as they are: `refusal` names the first rule
    that refuses the comment (`article_closed`, `author_banned`, `parent_unseen`,
    `author_rate`, `address_rate`), or is NULL. A new article is open, and a new author
    is neither banned nor has comments to count, so the verdict needs neither row. Only
    a comment to be stored creates its article and author on first sight and keeps the
    author's display name current: a refused one, or one whose idempotency key was used
    before, leaves no row behind, so the rate limits bound what a flood can store. The
    comment is inserted only when `refusal` is NULL and no earlier request used the key;
    the record carries what explains a refusal, and `fills_page` whether the page's
    title or address would fill in what the article lacks (`fill_page`, once stored).

    Under READ COMMITTED the look-ups cannot see an article or author that a concurrent
    first comment inserted after this statement began, so `article_id` (or `author_id`)
    can come back NULL with no comment stored; the caller runs the statement again.

    The rate limits count the author's and the address's comments and edits in the
    window after waiting for every concurrent intake or edit of the same author and
    address to commit (`intake_rate_window`), so they hold exactly: of N posts sent at
    once, exactly the limit is stored.
    """
    record = await conn.fetchrow(
        f"""
        WITH found_article AS (
            SELECT id, is_open,
                   (title IS NULL AND $14::text IS NOT NULL)
                   OR (url IS NULL AND $15::text IS NOT NULL) AS fills_page
            FROM articles WHERE site_id = $1 AND external_id = $2
        ), found_author AS (
            SELECT id, name, status, status_until FROM authors
            WHERE site_id = $1 AND external_id = $3
        ), request AS (
            SELECT {_REQUEST} AS hash WHERE $9::text IS NOT NULL
        ), verdict AS (
            SELECT
                parent.article_id AS parent_article_id,
                coalesce(parent.root_id, parent.id) AS parent_root_id,
                recent.author_recent,
                recent.author_oldest,
                recent.address_recent,
                recent.address_oldest,
                earlier.id AS earlier_id,
                -- A replay is the same request: same article, author, parent and text.
                earlier.idempotency_request = request.hash AS earlier_same,
                request.hash AS request_hash,
                CASE
                    WHEN NOT found_article.is_open THEN 'article_closed'
                    WHEN {_BANNED.format(a="found_author")} THEN 'author_banned'
                    -- A reply goes under what readers of the article see: not under a
                    -- comment held, refused or deleted, nor one from elsewhere (a new
                    -- article has none of its own).
                    WHEN $5::bigint IS NOT NULL
                         AND NOT coalesce(parent.article_id = found_article.id
                                          AND {VISIBLE.format(c="parent")}, false)
                        THEN 'parent_unseen'
                    WHEN recent.author_recent >= $11 THEN 'author_rate'
                    WHEN recent.address_recent >= $12 THEN 'address_rate'
                END AS refusal,
                now() AS now
            FROM (SELECT 1) AS one
            LEFT JOIN found_article ON true
            LEFT JOIN found_author ON true
            LEFT JOIN request ON true
            -- By id alone (the primary key); the article check covers the site.
            LEFT JOIN comments AS parent ON parent.id = $5
            LEFT JOIN comments AS earlier
                ON earlier.site_id = $1 AND earlier.idempotency_key = $9
            -- Waits for the other intakes and edits of this author and address to commit,
            -- then counts both (migrations/0020_edits_count_in_rate_limits.sql): exact.
            -- A new author has nothing to count.
            LEFT JOIN LATERAL intake_rate_window(
                $1,
                CASE WHEN $11 > 0 THEN $3::text END,
                found_author.id,
                CASE WHEN $12 > 0 THEN $7::inet END,
                now() - make_interval(secs => $10)
            ) AS recent ON true
        ), accepted AS (
            -- Nothing to store for a refusal, nor for a key used before (a replay, or a
            -- conflict answered 409).
            SELECT FROM verdict WHERE refusal IS NULL AND earlier_id IS NULL
        ), new_author AS (
            -- One that a concurrent first comment created after this statement began is
            -- not ours to use: its comments were not counted, so the caller runs the
            -- statement again, and that one counts them.
            INSERT INTO authors (site_id, external_id, name)
            SELECT $1, $3, $4 FROM accepted
            WHERE $3::text IS NOT NULL AND NOT EXISTS (SELECT FROM found_author)
            ON CONFLICT (site_id, external_id) DO NOTHING
            RETURNING id
        ), renamed_author AS (
            -- Only a changed name writes: the update locks the row, which would make
            -- every comment wait on its author's earlier one.
            UPDATE authors SET name = $4
            FROM found_author, accepted
            WHERE authors.id = found_author.id AND found_author.name IS DISTINCT FROM $4
        ), author AS (
            SELECT id FROM found_author
            UNION ALL
            SELECT id FROM new_author
            LIMIT 1
        ), new_article AS (
            -- Only once the comment has its author: a post that lost the race to create
            -- its author leaves no article behind if the next attempt is refused.
            INSERT INTO articles (site_id, external_id)
            SELECT $1, $2 FROM accepted
            WHERE NOT EXISTS (SELECT FROM found_article)
              AND ($3::text IS NULL OR EXISTS (SELECT FROM author))
            ON CONFLICT (site_id, external_id) DO NOTHING
            RETURNING id, is_open, $14::text IS NOT NULL OR $15::text IS NOT NULL AS fills_page
        ), article AS (
            -- The page's title and address wait for the comment to be stored
            -- (`fill_page`).
            SELECT id, is_open, fills_page FROM found_article
            UNION ALL
            SELECT id, is_open, fills_page FROM new_article
            LIMIT 1
        ), context AS (
            SELECT
                article.id AS article_id,
                article.is_open AS article_open,
                article.fills_page,
                author.id AS author_id,
                verdict.*
            FROM verdict
            LEFT JOIN article ON true
            LEFT JOIN author ON true
        ), inserted AS (
            INSERT INTO comments (site_id, article_id, parent_id, root_id, author_id, author_name,
                                  body, fingerprint, client_addr, user_agent, idempotency_key,
                                  idempotency_request, owner_secret_hash)
            SELECT $1, article_id, $5, parent_root_id, author_id, $4, $6, $13, $7::inet, $8, $9,
                   request_hash, $16
            FROM context
            WHERE refusal IS NULL AND earlier_id IS NULL AND article_id IS NOT NULL
              AND ($3::text IS NULL OR author_id IS NOT NULL)
            ON CONFLICT (site_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id
        )
        SELECT context.*, (SELECT id FROM inserted) AS comment_id FROM context
        """,
        new.site_id,
        new.article,
        new.author_external_id,
        new.author_name,
        new.parent_id,
        new.body,
        new.client_addr,
        new.user_agent,
        new.idempotency_key,
        float(new.rate_window_seconds),
        new.rate_per_author,
        new.rate_per_address,
        new.fingerprint,
        new.article_title,
        new.article_url,
        new.owner_secret_hash,
    )
    assert record is not None
    return record


async def fill_page(conn: Connection, article_id: int, title: str | None, url: str | None) -> None:
    """Fill in the title and address the article lacks, from an accepted comment's page.

    Only what it lacks: anyone holding the public widget key can send any title or
    address; changing them is the site's (`articles.change`). It writes only then, so
    comments seldom wait on the article's row."""
    await conn.execute(
        """
        UPDATE articles SET title = coalesce(title, $2), url = coalesce(url, $3)
        WHERE id = $1
          AND ((title IS NULL AND $2::text IS NOT NULL) OR (url IS NULL AND $3::text IS NOT NULL))
        """,
        article_id,
        title,
        url,
    )


async def earlier(conn: Connection, new: NewComment) -> asyncpg.Record | None:
    """The comment stored by an earlier request with `new`'s idempotency key, and whether
    that request was the same (`same`), as `intake` finds it."""
    return await conn.fetchrow(
        f"""
        SELECT id, idempotency_request = {_REQUEST} AS same
        FROM comments WHERE site_id = $1 AND idempotency_key = $7
        """,
        new.site_id,
        new.article,
        new.author_external_id,
        new.author_name,
        new.parent_id,
        new.body,
        new.idempotency_key,
    )


async def replace_secret(conn: Connection, comment_id: int, secret_hash: bytes) -> None:
    await conn.execute(
        "UPDATE comments SET owner_secret_hash = $2 WHERE id = $1", comment_id, secret_hash
    )


async def owned(conn: Connection, site_id: int, ids: Sequence[int]) -> list[asyncpg.Record]:
    """The site's comments among `ids` with what their posters may learn and check."""
    return await conn.fetch(
        f"""
        SELECT c.id, c.status, c.hidden_at IS NOT NULL AS hidden, c.body, c.created_at,
               c.edited_at, c.owner_secret_hash,
               p.id IS NOT NULL AND NOT {VISIBLE.format(c="p")} AS parent_removed
        FROM comments AS c LEFT JOIN comments AS p ON p.id = c.parent_id
        WHERE c.site_id = $1 AND c.id = ANY($2::bigint[])
        """,
        site_id,
        list(ids),
    )


async def edit_rate_window(
    conn: Connection,
    site_id: int,
    comment_id: int,
    rate_window_seconds: int,
    rate_per_author: int,
    rate_per_address: int,
) -> asyncpg.Record | None:
    """Whether an edit of the comment would pass its author's and its address's intake
    limits: `refusal` is NULL, `author_rate` or `address_rate`, with the counts and
    `now`; None for no such comment.

    An edit counts as a post of its comment's author from the address it was posted
    from, through intake's own `intake_rate_window`, whose advisory locks stay held until
    the edit commits. Call it before locking the comment: an intake holding those locks
    may be waiting on the comment's row (to reply to it).
    """
    return await conn.fetchrow(
        """
        SELECT CASE
                   WHEN recent.author_recent >= $4 THEN 'author_rate'
                   WHEN recent.address_recent >= $5 THEN 'address_rate'
               END AS refusal,
               recent.*, now() AS now
        FROM comments AS c LEFT JOIN authors AS au ON au.id = c.author_id
        CROSS JOIN LATERAL intake_rate_window(
            c.site_id,
            CASE WHEN $4 > 0 THEN au.external_id END,
            c.author_id,
            CASE WHEN $5 > 0 THEN c.client_addr END,
            now() - make_interval(secs => $3)
        ) AS recent
        WHERE c.site_id = $1 AND c.id = $2
        """,
        site_id,
        comment_id,
        float(rate_window_seconds),
        rate_per_author,
        rate_per_address,
    )


async def lock_owned(conn: Connection, site_id: int, comment_id: int) -> asyncpg.Record | None:
    """The comment with its author's standing and whether its article is open, locked for
    its poster's edit or deletion."""
    return await conn.fetchrow(
        f"""
        SELECT c.id, c.status, c.body, c.created_at, c.owner_secret_hash,
               c.claimed_until > now() AS being_scored,
               {_BANNED.format(a="au")} AS author_banned,
               a.is_open AS article_open
        FROM comments AS c LEFT JOIN authors AS au ON au.id = c.author_id
        JOIN articles AS a ON a.id = c.article_id
        WHERE c.site_id = $1 AND c.id = $2
        FOR UPDATE OF c
        """,
        site_id,
        comment_id,
    )


async def replace_body(
    conn: Connection, comment_id: int, body: str, fingerprint: str, previous: str, status: str
) -> None:
    """Store its poster's new text and keep the old one in the audit trail. A featured
    comment stops being featured: moderators picked the text they read. The version
    moves on, so that no decision made on the old text applies to the new one, and the
    new text starts its scoring attempts afresh (a claim of the old text whose verdict
    the version turns away is no failure of the new), and its wait: the sweep and the
    pending metric count from the edit."""
    await conn.execute(
        """
        WITH before AS (
            SELECT featured_at IS NOT NULL AS featured FROM comments WHERE id = $1
        ), edited AS (
            UPDATE comments SET body = $2, fingerprint = $3, edited_at = now(),
                                pending_since = now(),
                                scores = NULL, risk = 0, language = NULL, model = NULL,
                                model_device = NULL, model_dtype = NULL, model_backend = NULL,
                                featured_at = NULL, featured_by = NULL,
                                version = version + 1, score_attempts = 0,
                                scoring_error = NULL
            WHERE id = $1
        )
        INSERT INTO comment_events (comment_id, actor, from_status, to_status, reason, kind,
                                    previous_body)
        SELECT $1, 'reader', $5, $5, 'edited by its author', kind, previous
          FROM (VALUES ('edited', $4), ('unfeatured', NULL)) AS e (kind, previous)
         WHERE e.kind = 'edited' OR (SELECT featured FROM before)
        """,
        comment_id,
        body,
        fingerprint,
        previous,
        status,
    )
