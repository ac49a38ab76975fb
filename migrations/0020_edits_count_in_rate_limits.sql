-- A reader's edit counts against the intake rate limits as a post does: it replaces the
-- text and sends the comment back to be scored, so until now one secret could have any
-- number of texts scored. Besides the comments posted in the window, the window counts
-- the edits made in it (their 'edited' audit rows) of the author's comments (of the
-- comments posted from the address). An edit counts for the address its comment was
-- posted from, not the one it comes from: the secret makes it the poster's, and a
-- poster who changes address does not edit past the limit. Edits take the same
-- advisory locks through this function (`db.comments.edit_rate_window`), so the limits
-- stay exact when posts and edits arrive together.
CREATE INDEX comment_events_edits ON comment_events (created_at) WHERE kind = 'edited';

CREATE OR REPLACE FUNCTION intake_rate_window(
    site bigint, author_key text, author bigint, address inet, since timestamptz,
    OUT author_recent bigint, OUT author_oldest timestamptz,
    OUT address_recent bigint, OUT address_oldest timestamptz
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF author_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('intake author'),
                                      hashtext(site || ' ' || author_key));
        SELECT count(*), min(counted_at) INTO author_recent, author_oldest
        FROM (
            SELECT c.created_at AS counted_at FROM comments AS c
            WHERE c.author_id = author AND c.created_at > since
            UNION ALL
            SELECT e.created_at FROM comment_events AS e JOIN comments AS c ON c.id = e.comment_id
            WHERE e.kind = 'edited' AND e.created_at > since AND c.author_id = author
        ) AS counted;
    END IF;
    IF address IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('intake address'),
                                      hashtext(site || ' ' || host(address)));
        SELECT count(*), min(counted_at) INTO address_recent, address_oldest
        FROM (
            SELECT c.created_at AS counted_at FROM comments AS c
            WHERE c.site_id = site AND c.client_addr = address AND c.created_at > since
            UNION ALL
            SELECT e.created_at FROM comment_events AS e JOIN comments AS c ON c.id = e.comment_id
            WHERE e.kind = 'edited' AND e.created_at > since
              AND c.site_id = site AND c.client_addr = address
        ) AS counted;
    END IF;
END;
$$;
