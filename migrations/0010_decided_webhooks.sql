-- `comment.decided` announces status changes only. Featuring and readers' edits write
-- audit rows too (kinds 'featured', 'unfeatured', 'edited') with the same status on both
-- sides: they are not decisions, and a webhook receiver must not hear of them as such.
DROP TRIGGER comment_events_webhook ON comment_events;
CREATE TRIGGER comment_events_webhook AFTER INSERT ON comment_events
    FOR EACH ROW WHEN (NEW.kind = 'status') EXECUTE FUNCTION webhook_comment_decided();
