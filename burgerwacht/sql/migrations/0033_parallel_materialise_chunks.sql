-- A large alert's deliveries are written in parallel chunks (issue 16, "Two million
-- recipients"): the send records the chunks left to write, one row per range of
-- resident ids (lo < resident_id <= hi); any writer (several worker processes, several
-- writers per worker) takes one with FOR UPDATE SKIP LOCKED, writes it and deletes the
-- row in the same transaction, so a killed writer's chunk is taken again and no two
-- writers ever write the same chunk. alerts.materialise_cursor stays non-NULL while the
-- alert is materialising (now: the first resident id of the chunks at send time); the
-- writer that finds no chunk left sets it NULL and materialised_at, once.
CREATE TABLE materialise_chunks (
    alert_id bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    lo bigint NOT NULL,
    hi bigint NOT NULL CHECK (hi > lo),
    PRIMARY KEY (alert_id, lo)
);
COMMENT ON TABLE materialise_chunks IS
    'chunks of a large alert''s deliveries not yet written: residents with lo < id <= hi';

-- (the trigger that deletes the chunks of an alert that stops materialising lives in
-- functions/deliveries.sql)

-- an alert being written with the old single cursor when this migration runs: its
-- remaining range becomes chunks of 10,000 resident ids
INSERT INTO materialise_chunks (alert_id, lo, hi)
SELECT a.id, g, least(g + 10000, a.materialise_end)
FROM alerts a, generate_series(a.materialise_cursor, a.materialise_end - 1, 10000) g
WHERE a.materialise_cursor IS NOT NULL AND a.materialise_end > a.materialise_cursor;
UPDATE alerts SET materialise_cursor = NULL, materialised_at = clock_timestamp()
WHERE materialise_cursor IS NOT NULL AND materialise_end <= materialise_cursor;
