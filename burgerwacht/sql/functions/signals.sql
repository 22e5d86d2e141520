-- Signals: every change marks its (old and new) days dirty for the rollups, whatever
-- wrote it (API, SMS, Open311, COPY, a manual fix), statement-level so bulk loads stay
-- fast (0005); the markers are held until the change commits (0009). Every signal
-- carries its cell, filled by a trigger so it never disagrees with the row's codes (0011).

-- Dirty-day markers are held until the changing transaction commits (0009). In 0005 a
-- change to an already dirty day did nothing to the marker (ON CONFLICT DO NOTHING
-- takes no lock), so a rollup run could clear that day and count it without the
-- uncommitted change; after the commit the day was clean and the change was missing
-- from the rollups (and from every summary) until the day changed again. Now the
-- marker is locked FOR KEY SHARE: markers do not block one another, but the rollup's
-- FOR UPDATE SKIP LOCKED leaves a day alone while a change to it is uncommitted, and
-- a marker the rollup has just deleted is inserted again.
CREATE OR REPLACE FUNCTION signals_mark_days(codes text[], days date[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    wanted integer := coalesce(cardinality(codes), 0);
    held integer;
BEGIN
    IF wanted = 0 THEN
        RETURN;  -- a statement that changed no row
    END IF;
    LOOP
        INSERT INTO signal_dirty_days (municipality_code, day)
        SELECT * FROM unnest(codes, days) ON CONFLICT DO NOTHING;
        SELECT count(*) INTO held FROM (
            SELECT 1 FROM signal_dirty_days s
            JOIN unnest(codes, days) AS u(code, day) ON s.municipality_code = u.code AND s.day = u.day
            FOR KEY SHARE OF s) locked;
        EXIT WHEN held >= wanted;  -- else a rollup deleted one meanwhile: mark it again
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION signals_mark_dirty_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM signals_mark_days(array_agg(municipality_code), array_agg(observed_on))
    FROM (SELECT DISTINCT municipality_code, observed_on FROM new_rows) d;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION signals_mark_dirty_old() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM signals_mark_days(array_agg(municipality_code), array_agg(observed_on))
    FROM (SELECT DISTINCT municipality_code, observed_on FROM old_rows) d;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION signals_mark_dirty_both() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM signals_mark_days(array_agg(municipality_code), array_agg(observed_on))
    FROM (SELECT municipality_code, observed_on FROM old_rows
          UNION SELECT municipality_code, observed_on FROM new_rows) d;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER signals_dirty_insert AFTER INSERT ON signals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION signals_mark_dirty_new();
CREATE OR REPLACE TRIGGER signals_dirty_update AFTER UPDATE ON signals
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION signals_mark_dirty_both();
CREATE OR REPLACE TRIGGER signals_dirty_delete AFTER DELETE ON signals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION signals_mark_dirty_old();

-- Looks the cell up (one index probe), creating it on first use. Two sessions creating
-- the same new cell both get its id: the loser's ON CONFLICT waits for the winner and
-- then returns the winner's row (a no-op update, on this rare path only).
CREATE OR REPLACE FUNCTION signals_fill_cell() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE TRIGGER signals_cell BEFORE INSERT OR UPDATE OF municipality_code, buurt_code, category, cell
    ON signals FOR EACH ROW EXECUTE FUNCTION signals_fill_cell();

-- Record keys never change (0015): a new key would be a fresh noise draw for every cell
-- holding the record, and comparing releases would average the noise away.
CREATE OR REPLACE FUNCTION signals_keep_ckey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.ckey := OLD.ckey;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER signals_ckey BEFORE UPDATE OF ckey ON signals
    FOR EACH ROW EXECUTE FUNCTION signals_keep_ckey();
