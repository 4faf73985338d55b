-- Evidence holds: what a moderator's child-safety block or takedown must keep past any
-- deletion (the clip row, its media file, the decisions and signals), and every time
-- someone opened it.
CREATE TABLE evidence_holds (
    id VARCHAR PRIMARY KEY,
    clip_id VARCHAR NOT NULL,
    decision_id VARCHAR NOT NULL,     -- the decision that placed the hold
    category VARCHAR NOT NULL,        -- the moderator's reason category, e.g. sexual_minors
    media_sha256 VARCHAR,             -- the clip's media; a copy is kept under evidence/media/
    preserved_media BOOLEAN NOT NULL DEFAULT FALSE,
    evidence JSON NOT NULL,           -- snapshot: clip, decisions, signals, banking
    reason VARCHAR,
    held_by VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    released_at TIMESTAMPTZ,
    released_by VARCHAR
);
CREATE INDEX evidence_holds_clip ON evidence_holds(clip_id);
CREATE INDEX evidence_holds_media ON evidence_holds(media_sha256);

CREATE TABLE evidence_access (
    id VARCHAR PRIMARY KEY,
    hold_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    purpose VARCHAR NOT NULL,
    accessed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX evidence_access_hold ON evidence_access(hold_id);
