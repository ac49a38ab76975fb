-- Exact rate limits under concurrency, and desk sessions that end on the server.

-- Intake's rate-limit counts, taken after waiting for every other intake of the same
-- author (and of the same address) on the site to commit. Two posts checked at the same
-- moment would otherwise both count the same stored comments and both see room for one
-- more. The transaction-level advisory locks are released when the intake statement
-- that calls this commits; author locks are always taken before address locks, so two
-- intakes never wait on each other. A VOLATILE function's every query takes a snapshot
-- of its own: these counts see what the previous lock holder committed, which the
-- calling statement's snapshot, taken before the wait, does not.
-- A key is NULL where its limit is off (or there is no author or address): no lock, no count.
CREATE FUNCTION intake_rate_window(
    site bigint, author_key text, author bigint, address inet, since timestamptz,
    OUT author_recent bigint, OUT author_oldest timestamptz,
    OUT address_recent bigint, OUT address_oldest timestamptz
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF author_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('intake author'),
                                      hashtext(site || ' ' || author_key));
        SELECT count(*), min(c.created_at) INTO author_recent, author_oldest
        FROM comments AS c WHERE c.author_id = author AND c.created_at > since;
    END IF;
    IF address IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('intake address'),
                                      hashtext(site || ' ' || host(address)));
        SELECT count(*), min(c.created_at) INTO address_recent, address_oldest
        FROM comments AS c
        WHERE c.site_id = site AND c.client_addr = address AND c.created_at > since;
    END IF;
END;
$$;

-- A moderator's desk sign-in. The session cookie carries a random id (only its hash is
-- kept here), so signing out ends the session on the server: a copy of the cookie taken
-- before is worth nothing after.
CREATE TABLE desk_sessions (
    id_hash         bytea PRIMARY KEY,
    moderator_id    bigint NOT NULL REFERENCES moderators (id) ON DELETE CASCADE,
    -- The token signed in with: re-issuing or revoking it ends its sessions too.
    token_hash      bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX desk_sessions_expiry ON desk_sessions (expires_at);
