-- Accounts (issue 11): suspension with a reason, birth dates (age from a date,
-- not a year subtraction), and guardian links a teen confirms.
ALTER TABLE users ADD COLUMN birth_date DATE;
ALTER TABLE users ADD COLUMN disabled_reason VARCHAR;
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN disabled_by VARCHAR;

-- pending: a guardian asked, the teen has not confirmed; confirmed: the teen
-- (or an admin) confirmed. Only confirmed links let a guardian see or change
-- a teen's settings.
ALTER TABLE guardianships ADD COLUMN status VARCHAR NOT NULL DEFAULT 'confirmed';
ALTER TABLE guardianships ADD COLUMN requested_by VARCHAR;
ALTER TABLE guardianships ADD COLUMN confirmed_at TIMESTAMPTZ;

-- A link a guardian made for themselves under the old rules was never
-- confirmed by the teen: it goes back to pending. Links an admin (or the
-- demo seeder) made stay confirmed.
UPDATE guardianships SET status = 'pending', requested_by = guardian_id
WHERE EXISTS (
    SELECT 1 FROM audit_log a
    WHERE a.event = 'guardian.linked'
      AND a.actor_id = guardianships.guardian_id
      AND a.payload->>'teen_id' = guardianships.teen_id
);
UPDATE guardianships SET confirmed_at = created_at WHERE status = 'confirmed';
