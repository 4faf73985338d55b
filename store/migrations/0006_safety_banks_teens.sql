-- Hash banks in the store and teen feed limits.
-- A bank's harm category (the policy view's hash[].category, e.g. "sexual")
-- and creator live in a side table: DuckDB cannot ALTER hash_banks while
-- hash_bank_entries references it. Entries get their PDQ quality and the
-- keyframe time they came from. A clip counts once per user and day in
-- feed_views (teen daily limits count items, not refreshes).
CREATE TABLE hash_bank_meta (
    bank_id VARCHAR PRIMARY KEY,
    category VARCHAR NOT NULL DEFAULT '',
    created_by VARCHAR
);
ALTER TABLE hash_bank_entries ADD COLUMN quality INTEGER;
ALTER TABLE hash_bank_entries ADD COLUMN t DOUBLE;
CREATE UNIQUE INDEX hash_bank_entries_unique ON hash_bank_entries(bank_id, kind, hash);
CREATE UNIQUE INDEX feed_views_once_a_day ON feed_views(user_id, day, clip_id);
