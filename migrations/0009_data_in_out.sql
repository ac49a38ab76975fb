-- Data in and out: imported comments, erased authors, address retention, webhooks.

-- Where an imported comment came from ("disqus:299619020"): running an import again
-- finds it here and adds nothing, and an export carries it on to the next system.
ALTER TABLE comments ADD COLUMN source_id text;
CREATE UNIQUE INDEX comments_source ON comments (site_id, source_id) WHERE source_id IS NOT NULL;

-- An author whose data was erased at their request: when, and by whom (the moderator or
-- the operator at the command line), since the erased record itself says nothing more.
ALTER TABLE authors
    ADD COLUMN erased_at timestamptz,
    ADD COLUMN erased_by text;

-- Retention clears client addresses and user agents once they are older than the site
-- keeps them: the partial indexes hold only rows that still have something to clear.
CREATE INDEX comments_client_kept ON comments (created_at)
    WHERE client_addr IS NOT NULL OR user_agent IS NOT NULL;
CREATE INDEX reports_client_kept ON reports (created_at) WHERE client_addr IS NOT NULL;

-- One row per import that committed: what came in, from where, and what was skipped.
CREATE TABLE imports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    format          text NOT NULL,
    source          text NOT NULL,
    summary         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Webhooks: a site's subscribers, each with its signing secret. During a rotation the
-- previous secret still signs (a second v1) until `previous_secret_until`.
CREATE TABLE webhooks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    url             text NOT NULL,
    events          text[] NOT NULL CHECK (cardinality(events) > 0),
    secret          text NOT NULL,
    previous_secret text,
    previous_secret_until timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Removed webhooks keep their delivery log; nothing new is sent to them.
    removed_at      timestamptz
);
CREATE INDEX webhooks_site ON webhooks (site_id) WHERE removed_at IS NULL;

-- The outbox: an event is written in the transaction that makes the change, so it exists
-- exactly when the change does, and workers deliver it only once that has committed.
CREATE TABLE webhook_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Sent with every attempt and replay: receivers de-duplicate on it.
    event_id        uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    type            text NOT NULL,
    -- The author the payload names, so erasing an author can scrub it.
    author_id       bigint REFERENCES authors (id) ON DELETE SET NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_author ON webhook_events (author_id) WHERE author_id IS NOT NULL;
CREATE INDEX webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        bigint NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A worker's lease on the delivery while it sends; a dead worker's lapses.
    claimed_until   timestamptz,
    -- A replay is a new delivery of the same event.
    replay_of       bigint REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id     bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     integer NOT NULL,
    -- NULL when no HTTP answer came (refused, timed out, connection failed).
    status_code     integer,
    -- The first bytes of the receiver's answer, or what went wrong.
    response        text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Whether any of the site's webhooks wants this event: one indexed look-up, all that a
-- change costs while nobody subscribes.
CREATE FUNCTION webhook_wanted(p_site bigint, p_type text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM webhooks
                   WHERE site_id = p_site AND removed_at IS NULL AND p_type = ANY (events))
$$;

-- Records one event and a delivery to each of the site's webhooks that subscribe to it.
CREATE FUNCTION record_webhook_event(p_site bigint, p_type text, p_author bigint, p_payload jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    new_event bigint;
BEGIN
    INSERT INTO webhook_events (site_id, type, author_id, payload)
    VALUES (p_site, p_type, p_author, p_payload)
    RETURNING id INTO new_event;
    INSERT INTO webhook_deliveries (webhook_id, event_id)
    SELECT id, new_event FROM webhooks
    WHERE site_id = p_site AND removed_at IS NULL AND p_type = ANY (events);
END;
$$;

-- A comment as webhook payloads describe it.
CREATE FUNCTION webhook_comment(c comments) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id,
        'article', (SELECT external_id FROM articles WHERE id = c.article_id),
        'parent_id', c.parent_id,
        'status', c.status,
        'author', jsonb_build_object(
            'id', c.author_id,
            'external_id', (SELECT external_id FROM authors WHERE id = c.author_id),
            'name', c.author_name),
        'body', c.body,
        'created_at', c.created_at)
$$;

-- The triggers below record each event in the transaction of the change, whichever
-- code path made it: intake, scoring, moderators, bans, reader reports.
CREATE FUNCTION webhook_comment_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT webhook_wanted(NEW.site_id, 'comment.created') THEN RETURN NULL; END IF;
    PERFORM record_webhook_event(NEW.site_id, 'comment.created', NEW.author_id,
                                 jsonb_build_object('comment', webhook_comment(NEW)));
    RETURN NULL;
END;
$$;
-- Imported comments are history, not news: they carry a source id and announce nothing.
CREATE TRIGGER comments_webhook_created AFTER INSERT ON comments
    FOR EACH ROW WHEN (NEW.source_id IS NULL)
    EXECUTE FUNCTION webhook_comment_created();

-- Every status change writes an audit row (`transition`), so the audit row is the event.
CREATE FUNCTION webhook_comment_decided() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c comments;
BEGIN
    SELECT * INTO c FROM comments WHERE id = NEW.comment_id;
    IF NOT webhook_wanted(c.site_id, 'comment.decided') THEN RETURN NULL; END IF;
    PERFORM record_webhook_event(c.site_id, 'comment.decided', c.author_id,
        jsonb_build_object(
            'comment', webhook_comment(c),
            'from', NEW.from_status,
            'to', NEW.to_status,
            'reason', NEW.reason,
            'actor', NEW.actor,
            'moderator_id', NEW.moderator_id));
    RETURN NULL;
END;
$$;
CREATE TRIGGER comment_events_webhook AFTER INSERT ON comment_events
    FOR EACH ROW EXECUTE FUNCTION webhook_comment_decided();

CREATE FUNCTION webhook_comment_reported() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c comments;
BEGIN
    SELECT * INTO c FROM comments WHERE id = NEW.comment_id;
    IF NOT webhook_wanted(c.site_id, 'comment.reported') THEN RETURN NULL; END IF;
    PERFORM record_webhook_event(c.site_id, 'comment.reported', c.author_id,
        jsonb_build_object(
            'comment', webhook_comment(c),
            'report', jsonb_build_object('id', NEW.id, 'reason', NEW.reason),
            'open_reports', (SELECT count(*) FROM reports
                             WHERE comment_id = NEW.comment_id AND dismissed_at IS NULL)));
    RETURN NULL;
END;
$$;
CREATE TRIGGER reports_webhook AFTER INSERT ON reports
    FOR EACH ROW EXECUTE FUNCTION webhook_comment_reported();

CREATE FUNCTION webhook_author_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a authors;
BEGIN
    SELECT * INTO a FROM authors WHERE id = NEW.author_id;
    IF NOT webhook_wanted(a.site_id, 'author.status_changed') THEN RETURN NULL; END IF;
    PERFORM record_webhook_event(a.site_id, 'author.status_changed', a.id,
        jsonb_build_object(
            'author', jsonb_build_object('id', a.id, 'external_id', a.external_id,
                                         'name', a.name),
            'from', NEW.from_status,
            'to', NEW.to_status,
            'until', NEW.until,
            'reason', NEW.reason,
            'moderator_id', NEW.moderator_id));
    RETURN NULL;
END;
$$;
CREATE TRIGGER author_events_webhook AFTER INSERT ON author_events
    FOR EACH ROW EXECUTE FUNCTION webhook_author_status_changed();
