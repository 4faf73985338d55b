-- Own-output fingerprints (provenance) and feed state (teen limits).
CREATE TABLE clip_fingerprints (
    id VARCHAR PRIMARY KEY,
    clip_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,            -- sha256 | pdq | phash
    value VARCHAR NOT NULL,
    t DOUBLE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX clip_fingerprints_value ON clip_fingerprints(kind, value);

CREATE TABLE feed_views (
    user_id VARCHAR NOT NULL,
    clip_id VARCHAR NOT NULL,
    day DATE NOT NULL,
    viewed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX feed_views_user_day ON feed_views(user_id, day);

CREATE TABLE user_settings (
    user_id VARCHAR PRIMARY KEY,
    settings JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
