-- The characters registry: who changed a character, reference image metadata,
-- and rights holders' disputes of decisions about their characters.
-- Disputes get their own table (not ``appeals``): an appeal is a creator
-- contesting a decision on their own clip; a dispute is a rights holder
-- contesting a decision on someone else's clip that involves their character.
ALTER TABLE character_refs ADD COLUMN media_type VARCHAR;
ALTER TABLE character_refs ADD COLUMN width INTEGER;
ALTER TABLE character_refs ADD COLUMN height INTEGER;
CREATE INDEX characters_owner ON characters(owner_id);

CREATE TABLE character_disputes (
    id VARCHAR PRIMARY KEY,
    character_id VARCHAR NOT NULL,
    owner_id VARCHAR NOT NULL,
    decision_id VARCHAR,
    clip_id VARCHAR,
    message VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- open | resolved
    queue_item_id VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ
);
CREATE INDEX character_disputes_owner ON character_disputes(owner_id);
