-- Account actions: strikes feed policy rules that suspend generation or
-- uploads for a time, or ban an account; each action is a decision (door
-- "account") the account holder sees and can appeal. Strikes carry the
-- moderator's reason category, and an overturned appeal voids its strike.
ALTER TABLE strikes ADD COLUMN category VARCHAR;
ALTER TABLE strikes ADD COLUMN voided_at TIMESTAMPTZ;
ALTER TABLE strikes ADD COLUMN voided_by VARCHAR;
CREATE TABLE account_actions (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- suspend_generation | suspend_uploads | ban
    rule_id VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    decision_id VARCHAR NOT NULL,       -- the account decision (appealable)
    trigger_decision_id VARCHAR,        -- the moderator's decision that counted the strike
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ,                -- null: until lifted (a ban)
    lifted_at TIMESTAMPTZ,
    lifted_by VARCHAR,
    lift_reason VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX account_actions_user ON account_actions(user_id);
