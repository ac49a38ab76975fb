-- 0014 removed the duplicate webhooks it folded but left their pending deliveries
-- pending: workers never claim a removed webhook's deliveries, so those events were
-- neither sent nor finished. A removed webhook with pending deliveries and a live
-- webhook on its address with a lower id was folded into that one (`webhook remove`
-- cancels pending deliveries, and a webhook added later has a higher id), so its
-- pending deliveries move there: one per event (three duplicates may each hold the
-- same event), and none for an event the kept webhook has a delivery of already or no
-- longer subscribes to, lest the receiver get an event twice or one it did not ask for.
UPDATE webhook_deliveries AS d SET webhook_id = moved.keep
  FROM (SELECT DISTINCT ON (k.id, p.event_id) p.id, k.id AS keep
          FROM webhook_deliveries AS p
          JOIN webhooks AS r ON r.id = p.webhook_id AND r.removed_at IS NOT NULL
          JOIN webhooks AS k ON k.site_id = r.site_id AND k.url = r.url
                            AND k.removed_at IS NULL AND k.id < r.id
          JOIN webhook_events AS e ON e.id = p.event_id
         WHERE p.state = 'pending' AND e.type = ANY (k.events)
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS o
                            WHERE o.webhook_id = k.id AND o.event_id = p.event_id)
         ORDER BY k.id, p.event_id, p.id) AS moved
 WHERE d.id = moved.id;
-- What stays pending on a removed webhook is cancelled, as `webhook remove` does.
UPDATE webhook_deliveries AS d SET state = 'cancelled', finished_at = now()
  FROM webhooks AS w
 WHERE w.id = d.webhook_id AND w.removed_at IS NOT NULL AND d.state = 'pending';
