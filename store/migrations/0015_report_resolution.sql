-- Undo of a moderator's decision: the reports it resolved are found by the
-- decision that resolved them, and open again.
ALTER TABLE reports ADD COLUMN resolution_decision_id VARCHAR;
