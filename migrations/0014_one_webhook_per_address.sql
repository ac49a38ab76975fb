-- A site sends its events to an address through one webhook: a second webhook on the
-- same address had each event delivered twice. Live duplicates added before this are
-- folded into the oldest, which takes their events; the others are removed (their
-- delivery logs stay, as for any removed webhook).
UPDATE webhooks AS w SET events = folded.events
  FROM (SELECT min(h.id) AS keep, array_agg(DISTINCT e.event ORDER BY e.event) AS events
          FROM webhooks AS h, unnest(h.events) AS e(event)
         WHERE h.removed_at IS NULL
         GROUP BY h.site_id, h.url HAVING count(DISTINCT h.id) > 1) AS folded
 WHERE w.id = folded.keep;
UPDATE webhooks AS w SET removed_at = now()
 WHERE w.removed_at IS NULL
   AND EXISTS (SELECT 1 FROM webhooks AS o
                WHERE o.site_id = w.site_id AND o.url = w.url AND o.removed_at IS NULL
                  AND o.id < w.id);
CREATE UNIQUE INDEX webhooks_one_per_url ON webhooks (site_id, url) WHERE removed_at IS NULL;
