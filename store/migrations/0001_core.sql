-- Core schema: people, consent, content, decisions, review, jobs, audit.
CREATE TABLE users (
    id VARCHAR PRIMARY KEY,
    handle VARCHAR NOT NULL UNIQUE,
    role VARCHAR NOT NULL,            -- admin | moderator | rights_holder | user | guardian
    birth_year INTEGER,
    display_name VARCHAR,
    password_hash VARCHAR,            -- argon2id; null: token-only account
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL REFERENCES users(id),
    prefix VARCHAR NOT NULL,          -- first characters, to find the row; never the secret
    token_hash VARCHAR NOT NULL,      -- argon2id
    label VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_prefix ON api_tokens(prefix);

CREATE TABLE follows (
    follower_id VARCHAR NOT NULL REFERENCES users(id),
    followee_id VARCHAR NOT NULL REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);

CREATE TABLE guardianships (
    guardian_id VARCHAR NOT NULL REFERENCES users(id),
    teen_id VARCHAR NOT NULL REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guardian_id, teen_id)
);

CREATE TABLE blobs (
    sha256 VARCHAR PRIMARY KEY,
    size BIGINT NOT NULL,
    media_type VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE cameos (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL REFERENCES users(id),
    status VARCHAR NOT NULL,          -- active | revoked | deleted | refused
    permission VARCHAR NOT NULL,      -- only_me | approved | mutuals | everyone
    reason VARCHAR,
    recording_sha256 VARCHAR,
    challenge JSON,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    deleted_at TIMESTAMPTZ
);

CREATE TABLE cameo_grants (
    cameo_id VARCHAR NOT NULL REFERENCES cameos(id),
    grantee_id VARCHAR NOT NULL REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cameo_id, grantee_id)
);

CREATE TABLE protected_likenesses (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    created_by VARCHAR REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);

-- Face vectors: the source of truth the faiss indexes are rebuilt from.
CREATE TABLE likeness_vectors (
    id VARCHAR PRIMARY KEY,
    owner_kind VARCHAR NOT NULL,      -- cameo | protected
    owner_id VARCHAR NOT NULL,
    model_id VARCHAR NOT NULL,
    vector FLOAT[] NOT NULL,
    source_sha256 VARCHAR,            -- the enrolment frame or photo, to re-embed on a model change
    source_t DOUBLE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX likeness_vectors_owner ON likeness_vectors(owner_kind, owner_id);

CREATE TABLE characters (
    id VARCHAR PRIMARY KEY,
    owner_id VARCHAR NOT NULL REFERENCES users(id),
    name VARCHAR NOT NULL,
    aliases JSON NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    policy VARCHAR NOT NULL,          -- block | allow | allow_with_attribution | review
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);

CREATE TABLE character_refs (
    id VARCHAR PRIMARY KEY,
    character_id VARCHAR NOT NULL REFERENCES characters(id),
    blob_sha256 VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE clips (
    id VARCHAR PRIMARY KEY,
    creator_id VARCHAR REFERENCES users(id),
    prompt VARCHAR,
    origin VARCHAR NOT NULL,          -- generated | upload | remix
    parent_clip_id VARCHAR,
    status VARCHAR NOT NULL,          -- draft | pending | queued | published | blocked | taken_down
    media_sha256 VARCHAR,
    audience VARCHAR NOT NULL DEFAULT 'everyone',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX clips_creator ON clips(creator_id);

CREATE TABLE scans (
    id VARCHAR PRIMARY KEY,
    clip_id VARCHAR,
    stage VARCHAR NOT NULL,           -- prompt | output | upload | remix | report
    context JSON NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    duration_ms DOUBLE
);
CREATE INDEX scans_clip ON scans(clip_id);

CREATE TABLE signals (
    id VARCHAR PRIMARY KEY,
    scan_id VARCHAR NOT NULL REFERENCES scans(id),
    kind VARCHAR NOT NULL,
    model_id VARCHAR NOT NULL,
    data JSON NOT NULL
);
CREATE INDEX signals_scan ON signals(scan_id);

CREATE TABLE decisions (
    id VARCHAR PRIMARY KEY,
    scan_id VARCHAR REFERENCES scans(id),
    clip_id VARCHAR,
    outcome VARCHAR NOT NULL,
    rules JSON NOT NULL,
    shadow JSON NOT NULL,
    policy_version VARCHAR NOT NULL,
    queue VARCHAR,
    priority INTEGER,
    decided_by VARCHAR,               -- null: the policy engine; else the moderator
    reason VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX decisions_clip ON decisions(clip_id);

CREATE TABLE queue_items (
    id VARCHAR PRIMARY KEY,
    clip_id VARCHAR,
    decision_id VARCHAR,
    queue VARCHAR NOT NULL,
    priority INTEGER NOT NULL,
    reason VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- open | claimed | resolved
    claimed_by VARCHAR,
    claimed_at TIMESTAMPTZ,
    due_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolution JSON
);
CREATE INDEX queue_items_open ON queue_items(queue, status);

CREATE TABLE reports (
    id VARCHAR PRIMARY KEY,
    clip_id VARCHAR NOT NULL,
    reporter_id VARCHAR NOT NULL REFERENCES users(id),
    reason VARCHAR NOT NULL,
    details VARCHAR,
    status VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE appeals (
    id VARCHAR PRIMARY KEY,
    decision_id VARCHAR NOT NULL,
    clip_id VARCHAR,
    appellant_id VARCHAR NOT NULL REFERENCES users(id),
    message VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE hash_banks (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE,
    description VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE hash_bank_entries (
    id VARCHAR PRIMARY KEY,
    bank_id VARCHAR NOT NULL REFERENCES hash_banks(id),
    kind VARCHAR NOT NULL,            -- pdq | sha256
    hash VARCHAR NOT NULL,
    label VARCHAR,
    severity VARCHAR,
    source_clip_id VARCHAR,
    added_by VARCHAR,
    added_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX hash_bank_entries_bank ON hash_bank_entries(bank_id);

CREATE TABLE jobs (
    id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    payload JSON NOT NULL,
    status VARCHAR NOT NULL,          -- queued | running | done | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 5,
    lease_owner VARCHAR,
    lease_expires_at TIMESTAMPTZ,
    run_after TIMESTAMPTZ NOT NULL,
    idempotency_key VARCHAR UNIQUE,
    last_error VARCHAR,
    result JSON,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX jobs_ready ON jobs(status, run_after);

CREATE TABLE policy_versions (
    id VARCHAR PRIMARY KEY,           -- content hash of the bundle
    seq INTEGER NOT NULL UNIQUE,
    author_id VARCHAR,
    message VARCHAR NOT NULL,
    bundle JSON NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE policy_state (
    key VARCHAR PRIMARY KEY,          -- 'active' | 'shadow'
    version_id VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Append-only, hash-chained. Each row's hash covers its content and the
-- previous row's hash; audit_head pins the latest so a cut tail shows too.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    logged_at TIMESTAMPTZ NOT NULL,
    actor_id VARCHAR,
    event VARCHAR NOT NULL,
    subject_type VARCHAR,
    subject_id VARCHAR,
    payload JSON NOT NULL,
    prev_hash VARCHAR NOT NULL,
    row_hash VARCHAR NOT NULL
);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    row_hash VARCHAR NOT NULL
);
