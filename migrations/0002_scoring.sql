-- Scoring: duplicate detection, scoring errors, stored spam classifiers.

-- The same text posted again (case, spacing and punctuation aside) has the same
-- fingerprint; spam scoring counts copies across articles and authors with it.
ALTER TABLE comments
    ADD COLUMN fingerprint text GENERATED ALWAYS AS
        (md5(lower(regexp_replace(body, '[^[:alnum:]]+', '', 'g')))) STORED,
    ADD COLUMN scoring_error text;
CREATE INDEX comments_fingerprint ON comments (site_id, fingerprint, created_at);

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
