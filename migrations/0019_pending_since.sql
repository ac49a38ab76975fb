-- When a comment last became pending, to be scored: posted, stored pending by an import
-- (`--score`), or edited by its author (the new text waits afresh). The sweep and the
-- pending metric measure a comment's wait from it. From created_at, an edited comment
-- counted the wait of a text it no longer has (and the sweep re-queued it at once), and
-- an imported one the years since its source published it. Only pending comments' is
-- read; those already pending wait from their post or their last edit.
ALTER TABLE comments ADD COLUMN pending_since timestamptz NOT NULL DEFAULT now();
UPDATE comments SET pending_since = greatest(created_at, edited_at) WHERE status = 'pending';
