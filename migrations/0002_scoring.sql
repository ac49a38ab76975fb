-- Scoring: duplicate detection, scoring errors, stored spam classifiers.

-- The same text posted again (case, spacing and punctuation aside) has the same
-- fingerprint; spam scoring counts copies across articles and authors with it. Intake
-- computes it: as a generated column, PostgreSQL's regex made every insert 60% dearer.
ALTER TABLE comments
    ADD COLUMN fingerprint text,
    ADD COLUMN scoring_error text;
-- Without site_id in front: the planner must never mistake it for a way to find a
-- site's comments (with empty statistics it did, for the parent look-up at intake).
CREATE INDEX comments_fingerprint ON comments (fingerprint, created_at);

-- Spam classifiers retrained from moderators' decisions; workers load the newest.
CREATE TABLE spam_models (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trained_at      timestamptz NOT NULL DEFAULT now(),
    samples         integer NOT NULL,
    decisions       integer NOT NULL,
    -- The newest moderator event the training data included; the next retrain only runs
    -- when there is something newer.
    last_event_id   bigint NOT NULL,
    model           bytea NOT NULL
);

-- Most inserts are pending comments and most updates leave the status alone: only call
-- the article-tracking function when it has something to do (it costs on every POST).
DROP TRIGGER comments_track_article ON comments;
CREATE TRIGGER comments_track_article_insert
    AFTER INSERT ON comments
    FOR EACH ROW WHEN (NEW.status = 'approved')
    EXECUTE FUNCTION comments_track_article();
CREATE TRIGGER comments_track_article_update
    AFTER UPDATE OF status, body ON comments
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR (NEW.status = 'approved' AND OLD.body IS DISTINCT FROM NEW.body))
    EXECUTE FUNCTION comments_track_article();
