-- Invite-only sign-up (issue 13): codes, who invited whom, stopped branches;
-- daily generation quotas: what was spent, and staff's per-account numbers.

-- A code is shown once: only its sha256 is kept (it is a long random secret,
-- so a fast hash makes a copy of the database useless without slowing the
-- lookup). ``hint`` is its first group, so its owner can tell codes apart.
-- state: unused | used | void; void_cause: owner (the owner withdrew it) or
-- stop (staff stopped invites for a branch the owner is in).
CREATE TABLE invite_codes (
    id VARCHAR PRIMARY KEY,
    owner_id VARCHAR NOT NULL,
    code_hash VARCHAR NOT NULL UNIQUE,
    hint VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'unused',
    used_by VARCHAR,
    used_at TIMESTAMPTZ,
    voided_at TIMESTAMPTZ,
    void_cause VARCHAR
);
CREATE INDEX invite_codes_owner ON invite_codes(owner_id);

-- The invite tree: one row per account that joined with a code.
-- An account with no row (created by an admin, the CLI or the demo) is a root.
CREATE TABLE invitations (
    user_id VARCHAR PRIMARY KEY,
    inviter_id VARCHAR NOT NULL,
    code_id VARCHAR NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX invitations_inviter ON invitations(inviter_id);

-- Branches whose invites staff stopped: the account named and everyone below it.
CREATE TABLE invite_stops (
    user_id VARCHAR PRIMARY KEY,
    reason VARCHAR NOT NULL,
    stopped_by VARCHAR,
    stopped_at TIMESTAMPTZ NOT NULL
);

-- One row per generation that spent compute (passed the prompt gate and ran
-- the generator), on the UTC day it ran.
CREATE TABLE generation_usage (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    day DATE NOT NULL,
    counted_at TIMESTAMPTZ NOT NULL,
    prompt_decision_id VARCHAR
);
CREATE INDEX generation_usage_user_day ON generation_usage(user_id, day);

-- Staff's per-account daily number, replacing the (adult or teen) default.
CREATE TABLE generation_quotas (
    user_id VARCHAR PRIMARY KEY,
    per_day INTEGER NOT NULL,
    reason VARCHAR NOT NULL,
    set_by VARCHAR,
    set_at TIMESTAMPTZ NOT NULL
);
