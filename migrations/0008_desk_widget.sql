-- The desk's second round and what readers expect: readers' own comments (state, edit,
-- delete), featured comments, text search, auto-approval spot checks, notes on authors.

-- A reader deletes their own comment: a status of its own, which no moderator action
-- leaves (a moderator cannot publish what its author took back).
ALTER TABLE comments DROP CONSTRAINT comments_status_check;
ALTER TABLE comments ADD CONSTRAINT comments_status_check
    CHECK (status IN ('pending', 'approved', 'review', 'rejected', 'spam', 'deleted'));

ALTER TABLE comments
    -- sha256 of the secret the POST returned to the reader's browser: it alone may ask
    -- the comment's state, edit it or delete it. NULL for comments from before.
    ADD COLUMN owner_secret_hash bytea,
    ADD COLUMN edited_at timestamptz,
    -- Who decided the current status: NULL for the system (scoring, policy), so that
    -- "approved and decided_by IS NULL" is an automatic approval to spot-check.
    ADD COLUMN decided_by bigint REFERENCES moderators (id),
    ADD COLUMN featured_at timestamptz,
    ADD COLUMN featured_by bigint REFERENCES moderators (id);
UPDATE comments AS c SET decided_by = last.moderator_id
  FROM (SELECT DISTINCT ON (comment_id) comment_id, moderator_id FROM comment_events
        ORDER BY comment_id, id DESC) AS last
 WHERE last.comment_id = c.id AND last.moderator_id IS NOT NULL;

-- Moderators' text search over a site's comments: words in any language ('simple' does
-- no stemming, which no single language's rules would do right for a multilingual site).
CREATE INDEX comments_search ON comments USING gin (to_tsvector('simple', body));
CREATE INDEX comments_featured ON comments (article_id, featured_at DESC)
    WHERE featured_at IS NOT NULL;

-- The audit trail records readers too (an edit, a deletion), and events that change no
-- status: featuring, and the text a comment had before its author edited it.
ALTER TABLE comment_events DROP CONSTRAINT comment_events_actor_check;
ALTER TABLE comment_events ADD CONSTRAINT comment_events_actor_check
    CHECK (actor IN ('system', 'moderator', 'reader'));
ALTER TABLE comment_events
    ADD COLUMN kind text NOT NULL DEFAULT 'status'
        CHECK (kind IN ('status', 'featured', 'unfeatured', 'edited')),
    ADD COLUMN previous_body text;

-- Featuring changes what readers see (the Featured tab): the thread ETag follows it.
DROP TRIGGER comments_track_article_update ON comments;
CREATE TRIGGER comments_track_article_update
    AFTER UPDATE OF status, body, hidden_at, featured_at ON comments
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.hidden_at IS DISTINCT FROM NEW.hidden_at
                       OR OLD.featured_at IS DISTINCT FROM NEW.featured_at
                       OR (NEW.status = 'approved' AND OLD.body IS DISTINCT FROM NEW.body))
    EXECUTE FUNCTION comments_track_article();

-- Moderators' notes on an author: who wrote what, when (the rows are the audit).
CREATE TABLE author_notes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author_id       bigint NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    moderator_id    bigint NOT NULL REFERENCES moderators (id),
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX author_notes_author ON author_notes (author_id, id);
