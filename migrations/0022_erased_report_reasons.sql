-- Erasure now blanks the reasons readers gave in reporting an erased author's comments,
-- in the reports and in their comment.reported webhook events (moderation/db/privacy.py):
-- readers write them in their own words, which may quote the comment. Authors erased
-- before it lose them too, on the comments the erasure emptied (posted before it).
UPDATE reports AS r
   SET reason = 'author''s data erased'
  FROM comments AS c JOIN authors AS a ON a.id = c.author_id
 WHERE r.comment_id = c.id
   AND a.erased_at IS NOT NULL
   AND c.created_at <= a.erased_at
   AND r.reason <> 'author''s data erased';

UPDATE webhook_events AS w
   SET payload = jsonb_set(w.payload, '{report,reason}', '"author''s data erased"', false)
  FROM authors AS a
 WHERE w.author_id = a.id
   AND a.erased_at IS NOT NULL
   AND w.created_at <= a.erased_at
   AND w.type = 'comment.reported'
   AND w.payload #>> '{report,reason}' <> 'author''s data erased';
