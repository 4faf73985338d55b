-- One decision path: every decision names the door it came through, and queue
-- items opened without a clip (prompt-stage decisions) are deduplicated by key.
ALTER TABLE decisions ADD COLUMN door VARCHAR;
ALTER TABLE queue_items ADD COLUMN dedupe_key VARCHAR;
CREATE INDEX queue_items_dedupe ON queue_items(dedupe_key);
