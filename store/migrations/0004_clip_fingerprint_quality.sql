-- Own-output fingerprints keep each keyframe's PDQ quality, so near-flat frames
-- (which hash alike whatever the clip) stay out of the search after a restart.
ALTER TABLE clip_fingerprints ADD COLUMN quality INTEGER;
CREATE INDEX clip_fingerprints_clip ON clip_fingerprints(clip_id);
