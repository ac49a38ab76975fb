-- Sites, articles, authors, comments, their audit log, reader reports, moderators.

CREATE TABLE sites (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name            text NOT NULL,
    -- The widget key is public (it sits in the page's script tag): it names the site, it
    -- does not authenticate a person, so it is stored as it is and can be rotated.
    widget_key      text NOT NULL UNIQUE,
    allowed_origins text[] NOT NULL DEFAULT '{}',
    settings        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE articles (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    external_id     text NOT NULL,
    is_open         boolean NOT NULL DEFAULT true,
    approved_count  integer NOT NULL DEFAULT 0,
    -- Bumped whenever what readers see changes; the thread ETag is built from it.
    version         bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, external_id)
);

CREATE TABLE authors (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    external_id     text NOT NULL,
    name            text NOT NULL,
    status          text NOT NULL DEFAULT 'normal'
                    CHECK (status IN ('normal', 'trusted', 'premod', 'banned')),
    status_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, external_id)
);

CREATE TABLE comments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    article_id      bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    parent_id       bigint REFERENCES comments (id),
    -- The top-level comment of the thread (NULL for a top-level comment itself), so a
    -- whole thread is one indexed read however deep it nests.
    root_id         bigint REFERENCES comments (id),
    -- NULL for an anonymous comment; author_name is the name as posted either way.
    author_id       bigint REFERENCES authors (id),
    author_name     text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'review', 'rejected', 'spam')),
    language        text,
    scores          jsonb,
    model           text,
    reasons         text[] NOT NULL DEFAULT '{}',
    client_addr     inet,
    user_agent      text,
    idempotency_key text,
    score_attempts  integer NOT NULL DEFAULT 0,
    claimed_until   timestamptz,
    version         integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz
);

CREATE UNIQUE INDEX comments_idempotency ON comments (site_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX comments_article_roots ON comments (article_id, id) WHERE parent_id IS NULL;
CREATE INDEX comments_thread ON comments (root_id, id) WHERE root_id IS NOT NULL;
CREATE INDEX comments_site_status ON comments (site_id, status, id);
CREATE INDEX comments_author_recent ON comments (author_id, created_at) WHERE author_id IS NOT NULL;
CREATE INDEX comments_address_recent ON comments (site_id, client_addr, created_at);
CREATE INDEX comments_pending ON comments (id) WHERE status = 'pending';

CREATE TABLE comment_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    comment_id      bigint NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    actor           text NOT NULL CHECK (actor IN ('system', 'moderator')),
    moderator_id    bigint,
    from_status     text NOT NULL,
    to_status       text NOT NULL,
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comment_events_comment ON comment_events (comment_id, id);

CREATE TABLE reports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    comment_id      bigint NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    reason          text NOT NULL,
    client_addr     inet,
    created_at      timestamptz NOT NULL DEFAULT now(),
    dismissed_at    timestamptz
);
-- One open report per reader address and comment: a single reader cannot pile up reports.
CREATE UNIQUE INDEX reports_one_open_per_address ON reports (comment_id, client_addr)
    WHERE dismissed_at IS NULL;

CREATE TABLE moderators (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL DEFAULT 'moderator' CHECK (role IN ('admin', 'moderator')),
    -- sha256 of the bearer token; the token itself is shown once and never stored.
    token_hash      bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

CREATE TABLE moderator_sites (
    moderator_id    bigint NOT NULL REFERENCES moderators (id) ON DELETE CASCADE,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    PRIMARY KEY (moderator_id, site_id)
);

ALTER TABLE comment_events
    ADD FOREIGN KEY (moderator_id) REFERENCES moderators (id);

-- Keeps each article's approved count and reader-visible version right for every write
-- path (intake, scoring, moderation, bulk SQL), so no caller has to remember to.
CREATE FUNCTION comments_track_article() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta integer := 0;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status = 'approved' THEN delta := 1; END IF;
    ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
        IF NEW.status = 'approved' THEN delta := 1;
        ELSIF OLD.status = 'approved' THEN delta := -1;
        END IF;
    END IF;
    IF delta <> 0 OR (TG_OP = 'UPDATE' AND NEW.status = 'approved'
                      AND OLD.body IS DISTINCT FROM NEW.body) THEN
        UPDATE articles
           SET approved_count = approved_count + delta, version = version + 1
         WHERE id = NEW.article_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER comments_track_article
    AFTER INSERT OR UPDATE OF status, body ON comments
    FOR EACH ROW EXECUTE FUNCTION comments_track_article();
