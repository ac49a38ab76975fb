-- Two costs of every POST that were planning, not work.
--
-- The rate window's counts (0020) join comment_events to comments. PostgreSQL chose to
-- plan the author's count afresh on every call (its generic plan looked dearer than a
-- plan for the values at hand), which cost about 0.15 ms of database CPU per POST,
-- several times what the count's execution costs. The generic plans are the ones a fresh
-- plan picks anyway: the author's or address's comments by their index, then each one's
-- events by comment_events_comment.
ALTER FUNCTION intake_rate_window(bigint, text, bigint, inet, timestamptz)
    SET plan_cache_mode = force_generic_plan;

-- The webhook triggers ask this on every insert, and on a site without webhooks that is
-- all they do. As SQL with a subquery it could not be inlined, so each transaction
-- parsed and planned it again; in PL/pgSQL its plan is kept for the session.
CREATE OR REPLACE FUNCTION webhook_wanted(p_site bigint, p_type text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM webhooks
                   WHERE site_id = p_site AND removed_at IS NULL AND p_type = ANY (events));
END;
$$;
