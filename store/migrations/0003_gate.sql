-- The gate: what a scan saw (so backtests can re-decide it), which job ran it,
-- and the full explanation of each decision beyond its rules.
ALTER TABLE scans ADD COLUMN view JSON;
ALTER TABLE scans ADD COLUMN job_id VARCHAR;
ALTER TABLE decisions ADD COLUMN details JSON;
