-- What a request with an Idempotency-Key asked for: a hash of its article, author id,
-- author name, parent and text, as the intake statement computes it. A resend is
-- compared with this, not with the comment, which its poster may have edited since.
-- NULL without a key, and once the author's data is erased.
ALTER TABLE comments ADD COLUMN idempotency_request bytea;
-- Comments posted before this: the request they came from, the text before any edit.
UPDATE comments AS c
   SET idempotency_request = sha256(convert_to(jsonb_build_array(
           a.external_id,
           (SELECT au.external_id FROM authors AS au WHERE au.id = c.author_id),
           c.author_name,
           c.parent_id,
           coalesce((SELECT e.previous_body FROM comment_events AS e
                      WHERE e.comment_id = c.id AND e.kind = 'edited'
                      ORDER BY e.id LIMIT 1), c.body))::text, 'UTF8'))
  FROM articles AS a
 WHERE c.idempotency_key IS NOT NULL AND a.id = c.article_id;
