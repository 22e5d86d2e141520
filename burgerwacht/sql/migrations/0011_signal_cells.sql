-- The live count per buurt, category and month groups by one integer instead of two
-- text columns (issue 6: at 1M signals the text comparisons were 20 of the count
-- query's ~50 ms; the integer key measured 35 ms for the same year, BENCHMARKS.md).
--
-- signal_cells numbers each (municipality, buurt, category) that has ever had a signal.
-- It holds codes only, no person and no text. Every signal carries its cell, filled by
-- a trigger whatever writes the row (API, SMS, Open311, COPY, a manual fix), so the
-- cell can never disagree with the row's codes.
-- The whole migration holds signals exclusively (it rewrites the table anyway): a signal
-- committed between the backfill of signal_cells and the rewrite would have no cell.
LOCK TABLE signals IN ACCESS EXCLUSIVE MODE;

CREATE TABLE signal_cells (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    municipality_code text NOT NULL,
    buurt_code        text NOT NULL,
    category          text NOT NULL,
    UNIQUE (municipality_code, buurt_code, category)
);

INSERT INTO signal_cells (municipality_code, buurt_code, category)
SELECT DISTINCT municipality_code, buurt_code, category FROM signals ORDER BY 1, 2, 3;

-- The backfill rewrites the table once (measured: ~8 s per million signals under this
-- migration's exclusive lock, indexes rebuilt in bulk; an UPDATE of every row took
-- 31 s). A column type change with USING is the one statement that both rewrites and
-- may compute from the row; it fires no trigger, so no day is marked dirty (no count
-- changes). The old index goes first so the rewrite does not rebuild it.
DROP INDEX signals_month_counts;
CREATE FUNCTION pg_temp.signal_cell_of(m text, b text, c text) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT id FROM signal_cells WHERE municipality_code = m AND buurt_code = b AND category = c
$$;
ALTER TABLE signals ADD COLUMN cell integer;
ALTER TABLE signals
    ALTER COLUMN cell TYPE integer USING pg_temp.signal_cell_of(municipality_code, buurt_code, category),
    ALTER COLUMN cell SET NOT NULL;

-- Looks the cell up (one index probe), creating it on first use. Two sessions creating
-- the same new cell both get its id: the loser's ON CONFLICT waits for the winner and
-- then returns the winner's row (a no-op update, on this rare path only).
CREATE FUNCTION signals_fill_cell() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT id INTO NEW.cell FROM signal_cells
    WHERE municipality_code = NEW.municipality_code AND buurt_code = NEW.buurt_code
      AND category = NEW.category;
    IF NOT FOUND THEN
        INSERT INTO signal_cells (municipality_code, buurt_code, category)
        VALUES (NEW.municipality_code, NEW.buurt_code, NEW.category)
        ON CONFLICT (municipality_code, buurt_code, category) DO UPDATE SET category = EXCLUDED.category
        RETURNING id INTO NEW.cell;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER signals_cell BEFORE INSERT OR UPDATE OF municipality_code, buurt_code, category, cell
    ON signals FOR EACH ROW EXECUTE FUNCTION signals_fill_cell();

-- The count's index: 0009's, with the cell in place of the two codes.
CREATE INDEX signals_cell_counts ON signals (municipality_code, observed_month, cell, severity);
