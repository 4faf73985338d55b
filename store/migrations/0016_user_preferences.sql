-- Console preferences per person (not safety settings: no floor, no guardian):
-- e.g. whether review media is blurred until revealed.
CREATE TABLE user_preferences (
    user_id VARCHAR PRIMARY KEY,
    prefs JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
