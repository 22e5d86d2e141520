-- A large alert's deliveries are written in chunks of resident ids (issue 16, "Two
-- million recipients"): the send transaction writes the first chunk, so the workers
-- start at once; the dispatch workers write the rest, one chunk per transaction.
-- materialise_cursor: the resident id up to which (inclusive) deliveries are written;
-- NULL when nothing is left to write (never chunked, done, or the alert ended first).
-- materialise_end: the highest resident id at send time (residents enrolled later are
-- not added, as with an alert written at once). materialised_at: when the last chunk
-- (or the send itself) wrote the alert's deliveries.
ALTER TABLE alerts
    ADD COLUMN materialise_cursor bigint,
    ADD COLUMN materialise_end bigint,
    ADD COLUMN materialised_at timestamptz;
COMMENT ON COLUMN alerts.materialise_cursor IS
    'chunked deliveries: written for resident ids <= this; NULL when nothing is left to write';
COMMENT ON COLUMN alerts.materialise_end IS 'chunked deliveries: the highest resident id at send time';
COMMENT ON COLUMN alerts.materialised_at IS 'when all of the alert''s start messages were written';
UPDATE alerts SET materialised_at = sent_at WHERE sent_at IS NOT NULL;
-- the workers look for alerts still being written
CREATE INDEX alerts_materialising ON alerts (id) WHERE materialise_cursor IS NOT NULL;
