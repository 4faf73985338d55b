-- Closing the review loops: strikes against creators, and who decided an
-- appeal or a character dispute, with what outcome and why.
CREATE TABLE strikes (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    decision_id VARCHAR NOT NULL,
    clip_id VARCHAR,
    reason VARCHAR NOT NULL,
    created_by VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX strikes_user ON strikes(user_id);
ALTER TABLE appeals ADD COLUMN decided_by VARCHAR;
ALTER TABLE appeals ADD COLUMN decided_at TIMESTAMPTZ;
ALTER TABLE appeals ADD COLUMN decision_reason VARCHAR;
ALTER TABLE appeals ADD COLUMN resolution_decision_id VARCHAR;
ALTER TABLE character_disputes ADD COLUMN outcome VARCHAR;
ALTER TABLE character_disputes ADD COLUMN decided_by VARCHAR;
ALTER TABLE character_disputes ADD COLUMN decision_reason VARCHAR;
ALTER TABLE character_disputes ADD COLUMN resolution_decision_id VARCHAR;
