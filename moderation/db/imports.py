"""Queries behind imports: stage a file's records, then resolve and insert them in SQL.

Everything runs inside the caller's one transaction: the staging tables drop at its
end, and a failed import leaves nothing behind. Resolving in SQL keeps the importing
process's memory flat however many comments the file holds: Python only streams rows
into `COPY`, and PostgreSQL matches threads, parents and authors by their source ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from moderation.db import Connection
from moderation.db.privacy import EMPTIED

THREAD_COLUMNS = ("seq", "key", "article", "title", "url", "is_open", "deleted")
AUTHOR_COLUMNS = ("external_id", "name", "status", "status_until", "erased_at", "erased_by")
COMMENT_COLUMNS = (
    "seq", "key", "thread", "parent", "author_id", "author_name", "body", "fingerprint",
    "created_at", "status", "deleted", "empty", "client_addr", "user_agent", "reasons",
    "language", "scores", "model", "risk", "decided_at", "hidden", "featured_at", "line",
)  # fmt: skip

# Why a comment in the file was not added; `already imported` is counted apart.
ALREADY_IMPORTED = "already imported"


async def stage(conn: Connection) -> None:
    """Create the staging tables for this transaction."""
    await conn.execute(
        """
        CREATE TEMP TABLE import_threads (
            seq bigint, key text, article text, title text, url text,
            is_open boolean, deleted boolean
        ) ON COMMIT DROP;
        CREATE TEMP TABLE import_authors (
            external_id text, name text, status text, status_until timestamptz,
            erased_at timestamptz, erased_by text
        ) ON COMMIT DROP;
        CREATE TEMP TABLE import_comments (
            seq bigint, key text, thread text, parent text, author_id text,
            author_name text, body text, fingerprint text, created_at timestamptz,
            status text, deleted boolean, empty boolean, client_addr inet,
            user_agent text, reasons text[],
            -- JSON as text: COPY is binary, and the service's jsonb codec is text-only.
            language text, scores text, model text, risk real, decided_at timestamptz,
            hidden boolean, featured_at timestamptz, line integer,
            skip text, depth integer
        ) ON COMMIT DROP;
        """
    )


async def copy(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Append rows to a staging table (`threads`, `authors` or `comments`)."""
    if rows:
        await conn.copy_records_to_table(f"import_{table}", records=rows, columns=list(columns))


async def resolve(conn: Connection, site_id: int, native_prefix: str) -> None:
    """Decide which staged comments can be added, and at which depth.

    A comment is skipped when its thread is unknown, deleted or has no usable id, when
    its id repeats, when it is here already, when its parent is neither in the file
    (placed) nor here already, and when it was deleted at the source (or had no text
    there) and no reply below it stays (a placeholder keeps a thread's shape only where
    it has replies).
    `native_prefix` and an id name a comment posted on this site (see `_known`).
    """
    await _known(conn, site_id, native_prefix)
    await conn.execute(
        """
        CREATE INDEX ON import_comments (key);
        CREATE INDEX ON import_comments (parent);
        CREATE INDEX ON import_threads (key);
        ANALYZE import_threads;
        ANALYZE import_comments;
        DELETE FROM import_threads AS a USING import_threads AS b
         WHERE a.key = b.key AND a.seq > b.seq;
        """
    )
    await conn.execute(
        """
        UPDATE import_comments AS s SET skip = v.reason
          FROM (SELECT c.seq,
                       CASE WHEN t.key IS NULL THEN 'unknown thread'
                            WHEN t.deleted THEN 'deleted thread'
                            WHEN t.article IS NULL THEN 'thread without an id or address'
                       END AS reason
                  FROM import_comments AS c LEFT JOIN import_threads AS t ON t.key = c.thread
               ) AS v
         WHERE v.seq = s.seq AND v.reason IS NOT NULL
        """
    )
    await conn.execute(
        """
        UPDATE import_comments AS a SET skip = 'repeated id'
          FROM import_comments AS b
         WHERE a.key = b.key AND a.seq > b.seq AND a.skip IS NULL
        """
    )
    await conn.execute(
        f"""
        UPDATE import_comments AS s SET skip = '{ALREADY_IMPORTED}'
          FROM import_known AS k
         WHERE k.key = s.key AND s.skip IS NULL
        """
    )
    # Top-level comments and replies to comments imported before are placed at depth 0,
    # their replies below them; a reply must stay in its parent's thread. A cycle of
    # parents is never reached from a placed comment, so it ends up unplaced too.
    await conn.execute(
        """
        WITH RECURSIVE placed AS (
            SELECT s.seq, s.key, s.thread, 0 AS depth
              FROM import_comments AS s
              JOIN import_threads AS t ON t.key = s.thread
              LEFT JOIN import_known AS k ON k.key = s.parent
              LEFT JOIN comments AS p ON p.id = k.id
              LEFT JOIN articles AS a ON a.id = p.article_id
             WHERE s.skip IS NULL AND (s.parent IS NULL OR a.external_id = t.article)
            UNION ALL
            SELECT s.seq, s.key, s.thread, placed.depth + 1
              FROM import_comments AS s
              JOIN placed ON s.parent = placed.key AND s.thread = placed.thread
             WHERE s.skip IS NULL
        )
        UPDATE import_comments AS s SET depth = placed.depth
          FROM placed WHERE placed.seq = s.seq
        """
    )
    await conn.execute(
        """
        UPDATE import_comments SET skip = 'parent missing or skipped'
         WHERE skip IS NULL AND depth IS NULL
        """
    )
    await conn.execute(
        """
        WITH RECURSIVE needed AS (
            SELECT parent AS key FROM import_comments
             WHERE skip IS NULL AND NOT deleted AND parent IS NOT NULL
            UNION
            SELECT s.parent FROM import_comments AS s JOIN needed ON s.key = needed.key
             WHERE s.skip IS NULL AND s.parent IS NOT NULL
        )
        UPDATE import_comments AS s
           SET skip = CASE WHEN s.empty THEN 'empty comment'
                           ELSE 'deleted, without replies' END
         WHERE s.skip IS NULL AND s.deleted
           AND NOT EXISTS (SELECT 1 FROM needed WHERE needed.key = s.key)
        """
    )
    # Comments are inserted one depth at a time.
    await conn.execute("CREATE INDEX ON import_comments (depth) WHERE skip IS NULL")


async def _known(conn: Connection, site_id: int, native_prefix: str) -> None:
    """Map the keys the file names (comments and parents) to this site's comments.

    A key names the comment imported under it, or else one posted here: this site's
    own export calls those `<native_prefix><id>`, and importing that export back must
    find them rather than add them again. `add_comments` adds what it inserts.
    """
    await conn.execute(
        """
        CREATE TEMP TABLE import_known (key text PRIMARY KEY, id bigint NOT NULL)
            ON COMMIT DROP
        """
    )
    await conn.execute(
        """
        WITH keys AS (
            SELECT key FROM import_comments
            UNION SELECT parent FROM import_comments WHERE parent IS NOT NULL
        ), named AS (
            SELECT k.key, c.id, 0 AS rank
              FROM keys AS k JOIN comments AS c ON c.site_id = $1 AND c.source_id = k.key
            UNION ALL
            SELECT k.key, c.id, 1
              FROM keys AS k
              JOIN comments AS c
                ON c.id = CASE WHEN starts_with(k.key, $2)
                                AND substr(k.key, length($2) + 1) ~ '^[0-9]{1,18}$'
                               THEN substr(k.key, length($2) + 1)::bigint END
             WHERE c.site_id = $1 AND c.source_id IS NULL
        )
        INSERT INTO import_known (key, id)
        SELECT DISTINCT ON (key) key, id FROM named ORDER BY key, rank
        """,
        site_id,
        native_prefix,
    )


async def add_articles(conn: Connection, site_id: int) -> tuple[int, int]:
    """Create the articles the added comments need; (threads with comments, new articles).

    An article that exists keeps its state; it only gains a title or address it lacked.
    Each one that exists is locked all the same (ON CONFLICT DO UPDATE locks the rows it
    meets), so the comments' triggers wait on nothing later.
    """
    record = await conn.fetchrow(
        """
        WITH wanted AS (
            SELECT DISTINCT ON (t.article) t.article, t.title, t.url, t.is_open
              FROM import_threads AS t
             WHERE EXISTS (SELECT 1 FROM import_comments AS s
                            WHERE s.thread = t.key AND s.skip IS NULL)
             ORDER BY t.article, t.seq
        ), added AS (
            INSERT INTO articles (site_id, external_id, title, url, is_open)
            SELECT $1, w.article, w.title, w.url, w.is_open
              FROM wanted AS w
              LEFT JOIN articles AS a ON a.site_id = $1 AND a.external_id = w.article
             -- Those that exist met (and locked) in id order, as status changes lock
             -- them (transitions.transition): by name, a decision spanning two of them
             -- took them in the opposite order, a deadlock. New ones after them.
             ORDER BY a.id NULLS LAST, w.article
            ON CONFLICT (site_id, external_id) DO UPDATE
                SET title = coalesce(articles.title, EXCLUDED.title),
                    url = coalesce(articles.url, EXCLUDED.url)
                WHERE (articles.title IS NULL AND EXCLUDED.title IS NOT NULL)
                   OR (articles.url IS NULL AND EXCLUDED.url IS NOT NULL)
            RETURNING xmax = 0 AS inserted
        )
        SELECT (SELECT count(*) FROM wanted) AS threads,
               (SELECT count(*) FROM added WHERE inserted) AS new_articles
        """,
        site_id,
    )
    assert record is not None
    return record["threads"], record["new_articles"]


async def add_authors(conn: Connection, site_id: int) -> int:
    """Create the authors of added comments (and those the file lists); how many were new.

    An author who exists keeps their name, standing and erasure record.
    """
    added: int = await conn.fetchval(
        """
        WITH named AS (
            SELECT DISTINCT ON (author_id) author_id AS external_id, author_name AS name
              FROM import_comments
             WHERE skip IS NULL AND author_id IS NOT NULL
             ORDER BY author_id, created_at DESC
        ), wanted AS (
            SELECT coalesce(a.external_id, n.external_id) AS external_id,
                   coalesce(a.name, n.name) AS name,
                   coalesce(a.status, 'normal') AS status, a.status_until,
                   a.erased_at, a.erased_by
              FROM named AS n FULL JOIN import_authors AS a ON a.external_id = n.external_id
        ), added AS (
            INSERT INTO authors (site_id, external_id, name, status, status_until,
                                 erased_at, erased_by)
            SELECT DISTINCT ON (external_id) $1, external_id, name, status, status_until,
                   erased_at, erased_by
              FROM wanted
            ON CONFLICT (site_id, external_id) DO NOTHING
            RETURNING 1
        )
        SELECT count(*) FROM added
        """,
        site_id,
    )
    return added


async def blank_erased_authors(conn: Connection, site_id: int) -> None:
    """Empty the staged comments of authors whose data was erased and mark them deleted,
    as their erasure did to the comments it found: an archive must not bring the data
    back. `resolve` then skips those no reply needs.

    Erased here: every comment of theirs in the file. Erased where the file was exported
    (its author line says when): those they had posted by then, as that erasure found
    them; a reader who came back and posted since has data again."""
    # Locked first, in a statement of its own: an erasure under way commits before the
    # next statement's snapshot, and one that starts later waits for this import to
    # commit and then scrubs what it added (privacy.scrub_author).
    await conn.execute(
        """
        SELECT FROM authors
         WHERE site_id = $1 AND external_id IN (SELECT author_id FROM import_comments)
           FOR SHARE
        """,
        site_id,
    )
    await conn.execute(
        f"""
        WITH erased AS (
            SELECT external_id, 'infinity'::timestamptz AS until FROM authors
             WHERE site_id = $1 AND erased_at IS NOT NULL
            UNION ALL
            SELECT external_id, erased_at FROM import_authors WHERE erased_at IS NOT NULL
        )
        UPDATE import_comments AS s SET {EMPTIED}, status = 'deleted', deleted = true
          FROM erased AS e
         WHERE e.external_id = s.author_id AND s.created_at <= e.until
        """,
        site_id,
    )


async def max_depth(conn: Connection) -> int | None:
    depth: int | None = await conn.fetchval(
        "SELECT max(depth) FROM import_comments WHERE skip IS NULL"
    )
    return depth


async def add_comments(conn: Connection, site_id: int, depth: int, score: bool) -> int:
    """Insert the placed comments at `depth`, oldest first; how many were added.

    Depth by depth, so a reply always gets a larger id than its parent (the reader
    thread relies on it). With `score`, comments the source had published or held are
    stored pending, for the workers to score as if they had just been posted.
    """
    added: int = await conn.fetchval(
        """
        WITH added AS (
            INSERT INTO comments (site_id, article_id, parent_id, root_id, author_id,
                                  author_name, body, fingerprint, status, reasons, language,
                                  scores, model, risk, client_addr, user_agent, created_at,
                                  decided_at, hidden_at, featured_at, source_id)
            SELECT $1, a.id, p.id, coalesce(p.root_id, p.id), au.id,
                   s.author_name, s.body, s.fingerprint, v.status, s.reasons, s.language,
                   s.scores::jsonb, s.model, s.risk, s.client_addr, s.user_agent, s.created_at,
                   CASE WHEN v.status <> 'pending'
                        THEN coalesce(s.decided_at, s.created_at) END,
                   CASE WHEN s.hidden AND v.status = 'approved' THEN now() END,
                   -- Only approved comments are featured (not those stored to score again).
                   CASE WHEN v.status = 'approved' THEN s.featured_at END,
                   s.key
              FROM import_comments AS s
              CROSS JOIN LATERAL (
                  SELECT CASE WHEN $3 AND s.status IN ('approved', 'review')
                              THEN 'pending' ELSE s.status END AS status
              ) AS v
              JOIN import_threads AS t ON t.key = s.thread
              JOIN articles AS a ON a.site_id = $1 AND a.external_id = t.article
              LEFT JOIN import_known AS k ON k.key = s.parent
              LEFT JOIN comments AS p ON p.id = k.id
              LEFT JOIN authors AS au ON au.site_id = $1 AND au.external_id = s.author_id
             WHERE s.skip IS NULL AND s.depth = $2
             ORDER BY s.created_at, s.seq
            ON CONFLICT (site_id, source_id) WHERE source_id IS NOT NULL DO NOTHING
            RETURNING id, source_id
        ), known AS (
            INSERT INTO import_known (key, id) SELECT source_id, id FROM added
        )
        SELECT count(*) FROM added
        """,
        site_id,
        depth,
        score,
    )
    return added


async def outcome(conn: Connection, score: bool) -> tuple[dict[str, int], dict[str, int]]:
    """(added comments per status as stored, skipped comments per reason)."""
    rows = await conn.fetch(
        """
        SELECT skip,
               CASE WHEN skip IS NULL AND $1 AND status IN ('approved', 'review')
                    THEN 'pending' ELSE status END AS status,
               count(*) AS n
          FROM import_comments GROUP BY 1, 2
        """,
        score,
    )
    added: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for row in rows:
        if row["skip"] is None:
            added[row["status"]] = added.get(row["status"], 0) + row["n"]
        else:
            skipped[row["skip"]] = skipped.get(row["skip"], 0) + row["n"]
    return added, skipped


async def record(
    conn: Connection, site_id: int, format_name: str, source: str, summary: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO imports (site_id, format, source, summary) VALUES ($1, $2, $3, $4)",
        site_id,
        format_name,
        source,
        summary,
    )
