-- Moderation: risk ordering, report hiding, author and site audit, live events.

-- The highest score a comment got (any toxicity label or spam): the review queue's
-- "riskiest first" order, kept in a column so that order can be indexed and paged.
ALTER TABLE comments
    ADD COLUMN risk real NOT NULL DEFAULT 0,
    -- Set when reader reports reach the site's threshold: the comment stays approved
    -- but readers stop seeing it until a moderator decides.
    ADD COLUMN hidden_at timestamptz;
CREATE INDEX comments_queue_priority ON comments (site_id, status, risk DESC, id DESC);

CREATE INDEX reports_open ON reports (comment_id) WHERE dismissed_at IS NULL;

CREATE TABLE author_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author_id       bigint NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    moderator_id    bigint REFERENCES moderators (id),
    from_status     text NOT NULL,
    to_status       text NOT NULL,
    until           timestamptz,
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX author_events_author ON author_events (author_id, id);

CREATE TABLE site_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    moderator_id    bigint REFERENCES moderators (id),
    change          text NOT NULL,
    before          jsonb,
    after           jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- What readers see is approved and not hidden: counts and the thread ETag follow that.
CREATE OR REPLACE FUNCTION comments_track_article() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_visible boolean := TG_OP = 'UPDATE'
                           AND OLD.status = 'approved' AND OLD.hidden_at IS NULL;
    is_visible  boolean := NEW.status = 'approved' AND NEW.hidden_at IS NULL;
BEGIN
    UPDATE articles
       SET approved_count = approved_count + is_visible::int - was_visible::int,
           version = version + 1
     WHERE id = NEW.article_id;
    RETURN NULL;
END;
$$;

DROP TRIGGER comments_track_article_update ON comments;
CREATE TRIGGER comments_track_article_update
    AFTER UPDATE OF status, body, hidden_at ON comments
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.hidden_at IS DISTINCT FROM NEW.hidden_at
                       OR (NEW.status = 'approved' AND OLD.body IS DISTINCT FROM NEW.body))
    EXECUTE FUNCTION comments_track_article();

-- Live updates for moderators: every audit row and every report is announced on one
-- channel, so each API process (whichever wrote it) can push it to its SSE clients.
CREATE FUNCTION announce_comment_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('moderation', json_build_object(
        'kind', 'comment', 'id', NEW.id,
        'site_id', (SELECT site_id FROM comments WHERE id = NEW.comment_id))::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER comment_events_announce AFTER INSERT ON comment_events
    FOR EACH ROW EXECUTE FUNCTION announce_comment_event();

CREATE FUNCTION announce_report() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('moderation', json_build_object(
        'kind', 'report', 'id', NEW.id,
        'site_id', (SELECT site_id FROM comments WHERE id = NEW.comment_id))::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER reports_announce AFTER INSERT ON reports
    FOR EACH ROW EXECUTE FUNCTION announce_report();
