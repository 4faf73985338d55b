-- Attribution text for characters allowed with attribution: what a feed item
-- and the clip view show beside a clip that uses the character. NULL: the
-- default sentence built from the character's name and its rights holder.
ALTER TABLE characters ADD COLUMN attribution VARCHAR;
