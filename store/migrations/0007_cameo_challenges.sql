-- Cameo enrolment: the random head-movement challenge the server issues before a
-- recording, kept with its expiry so a recording can only answer a fresh one, once.
CREATE TABLE cameo_challenges (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL REFERENCES users(id),
    steps JSON NOT NULL,              -- e.g. ["left", "right", "up"]
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    cameo_id VARCHAR                  -- the enrolment attempt that used it
);
CREATE INDEX cameo_challenges_user ON cameo_challenges(user_id);
CREATE INDEX cameos_user ON cameos(user_id);
