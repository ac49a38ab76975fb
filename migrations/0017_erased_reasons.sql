-- Erasure now blanks the reasons of an erased author's audit rows, of the bans and holds
-- on them, and of their comment.decided and author.status_changed webhook events
-- (moderation/db/privacy.py): scoring's reasons can quote the text ("contact phrase
-- 'whatsapp +44 ...'"), and a moderator's may. Authors erased before it keep no such
-- reason either, for what happened before their erasure (the erasure's own rows kept).
UPDATE comment_events AS e
   SET reason = 'author''s data erased'
  FROM comments AS c JOIN authors AS a ON a.id = c.author_id
 WHERE e.comment_id = c.id
   AND a.erased_at IS NOT NULL
   AND e.created_at <= a.erased_at
   AND NOT starts_with(e.reason, 'author''s data erased');

UPDATE author_events AS e
   SET reason = 'author''s data erased'
  FROM authors AS a
 WHERE e.author_id = a.id
   AND a.erased_at IS NOT NULL
   AND e.created_at <= a.erased_at
   AND NOT starts_with(e.reason, 'author''s data erased');

UPDATE webhook_events AS w
   SET payload = w.payload || jsonb_build_object('reason', 'author''s data erased')
  FROM authors AS a
 WHERE w.author_id = a.id
   AND a.erased_at IS NOT NULL
   AND w.created_at <= a.erased_at
   AND w.type IN ('comment.decided', 'author.status_changed')
   AND NOT starts_with(w.payload ->> 'reason', 'author''s data erased');
