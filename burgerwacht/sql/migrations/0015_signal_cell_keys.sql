-- Cell-key perturbation (issue 18, docs/signals.md "Cell-key perturbation").
--
-- Every signal carries a fixed random record key `ckey` in [0, 2^31), set when the row
-- is written and never changed afterwards. A published cell's key is the sum of its
-- records' keys modulo 2^31, and its noise a fixed function of that key
-- (burgerwacht/signals/privacy.py): the same records always give the same published
-- value, and one record more or less moves the cell key to a fresh random position.
-- The key is server-side only: no API, export or report ever shows it.
--
-- The whole migration holds signals and the rollups exclusively: the rollups' key sums
-- must be computed from the same rows as their counts.
LOCK TABLE signals, signal_daily, signal_monthly IN ACCESS EXCLUSIVE MODE;

-- A volatile default is evaluated per row when the column is added (the table is
-- rewritten once, no trigger fires): every existing signal gets its own key. The key
-- comes from gen_random_uuid() (a strong random source), whose first 32 bits are random.
ALTER TABLE signals ADD COLUMN ckey integer NOT NULL
    DEFAULT (('x' || substr(gen_random_uuid()::text, 1, 8))::bit(32)::int & 2147483647)
    CHECK (ckey >= 0);

-- Keys never change (a new key would be a fresh noise draw for every cell holding the
-- record, and comparing releases would then average the noise away).
CREATE FUNCTION signals_keep_ckey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.ckey := OLD.ckey;
    RETURN NEW;
END $$;
CREATE TRIGGER signals_ckey BEFORE UPDATE OF ckey ON signals
    FOR EACH ROW EXECUTE FUNCTION signals_keep_ckey();

-- The live count keeps its index-only scan: the key is the index's last column (the
-- index loses its deduplication, so it grows to one entry per signal).
DROP INDEX signals_cell_counts;
CREATE INDEX signals_cell_counts ON signals (municipality_code, observed_month, cell, severity, ckey);

-- Key sums (mod 2^31) beside the counts in the rollups, backfilled from the same rows.
ALTER TABLE signal_daily ADD COLUMN key_sum bigint NOT NULL DEFAULT 0;
ALTER TABLE signal_monthly ADD COLUMN key_sum bigint NOT NULL DEFAULT 0;

UPDATE signal_daily d SET key_sum = s.key_sum
FROM (
    SELECT municipality_code, observed_on, buurt_code, category, sum(ckey) % 2147483648 AS key_sum
    FROM signals GROUP BY 1, 2, 3, 4
) s
WHERE s.municipality_code = d.municipality_code AND s.observed_on = d.day
  AND s.buurt_code = d.buurt_code AND s.category = d.category;

UPDATE signal_monthly m SET key_sum = d.key_sum
FROM (
    SELECT municipality_code, date_trunc('month', day)::date AS month, buurt_code, category,
           sum(key_sum) % 2147483648 AS key_sum
    FROM signal_daily GROUP BY 1, 2, 3, 4
) d
WHERE d.municipality_code = m.municipality_code AND d.month = m.month
  AND d.buurt_code = m.buurt_code AND d.category = m.category;

-- Stored cubes were protected without noise: none may be served again (the rollup job
-- rebuilds them; their parameters now name the noise, so they would not match anyway).
DELETE FROM signal_cubes;
