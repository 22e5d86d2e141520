-- The send path: targeting reads one index and nothing else; materialising 100k
-- deliveries carries no per-row foreign-key checks.
--
-- 1. Targeting.
-- The recipient query used to walk addresses (GiST) → resident_addresses → residents:
-- two random index probes and heap visits per recipient, ~80 ms for a 20k-recipient
-- circle among 2M addresses. Each enrolment now carries a copy of its address's place
-- (point and CBS codes) and of its resident's status, kept current by triggers, and a
-- partial GiST index over active enrolments INCLUDEs every column the query reads, so a
-- circle or polygon is answered by an index-only scan.

ALTER TABLE resident_addresses
    ADD COLUMN location          point,
    ADD COLUMN buurt_code        text,
    ADD COLUMN wijk_code         text,
    ADD COLUMN municipality_code text,
    ADD COLUMN active            boolean NOT NULL DEFAULT true,
    -- channels as bits (1 sms, 2 voice): cheaper to test and group by than text[]
    ADD COLUMN channel_bits      smallint GENERATED ALWAYS AS (
        (CASE WHEN 'sms' = ANY (channels) THEN 1 ELSE 0 END)
        + (CASE WHEN 'voice' = ANY (channels) THEN 2 ELSE 0 END)) STORED,
    -- the resident's only enrolment: their rows need no grouping (kept by a trigger)
    ADD COLUMN sole              boolean NOT NULL DEFAULT true;

UPDATE resident_addresses ra
SET sole = false
WHERE resident_id IN (SELECT resident_id FROM resident_addresses GROUP BY resident_id HAVING count(*) > 1);

UPDATE resident_addresses ra
SET location = a.location, buurt_code = a.buurt_code, wijk_code = a.wijk_code,
    municipality_code = a.municipality_code, active = (r.status = 'active')
FROM addresses a, residents r
WHERE a.id = ra.address_id AND r.id = ra.resident_id;

ALTER TABLE resident_addresses ALTER COLUMN location SET NOT NULL;

-- New or moved enrolment: copy the address's place and the resident's status. An
-- enrolment never moves to another resident (the sole flags would go stale).
CREATE FUNCTION resident_addresses_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.resident_id IS DISTINCT FROM OLD.resident_id THEN
        RAISE EXCEPTION 'an enrolment cannot move to another resident';
    END IF;
    -- FOR SHARE: an address being re-placed by an uncommitted import is read once that
    -- commits (else this copy would keep the old place, and the import's propagation,
    -- which cannot see this row yet, would not fix it)
    SELECT a.location, a.buurt_code, a.wijk_code, a.municipality_code
    INTO NEW.location, NEW.buurt_code, NEW.wijk_code, NEW.municipality_code
    FROM addresses a WHERE a.id = NEW.address_id FOR SHARE;
    SELECT r.status = 'active' INTO NEW.active FROM residents r WHERE r.id = NEW.resident_id;
    RETURN NEW;
END $$;

CREATE TRIGGER resident_addresses_fill
    BEFORE INSERT OR UPDATE OF address_id, resident_id ON resident_addresses
    FOR EACH ROW EXECUTE FUNCTION resident_addresses_fill();

-- Enrolments added or removed: recount the residents concerned. Their rows are locked
-- first, so two transactions adding an enrolment for the same resident at once count
-- one after the other (READ COMMITTED: the second count sees the first's row), and a
-- resident never has two rows that each claim to be the only one. The status copied by
-- the insert is checked again under that lock (a STOP committed in between).
CREATE FUNCTION resident_addresses_recount() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM residents r WHERE r.id IN (SELECT resident_id FROM changed) ORDER BY r.id FOR NO KEY UPDATE;
    UPDATE resident_addresses ra SET sole = (c.n = 1)
    FROM (SELECT x.resident_id, count(*) AS n FROM resident_addresses x
          WHERE x.resident_id IN (SELECT resident_id FROM changed) GROUP BY x.resident_id) c
    WHERE ra.resident_id = c.resident_id AND ra.sole IS DISTINCT FROM (c.n = 1);
    IF TG_OP = 'INSERT' THEN
        UPDATE resident_addresses ra SET active = (r.status = 'active')
        FROM changed n JOIN residents r ON r.id = n.resident_id
        WHERE ra.id = n.id AND ra.active IS DISTINCT FROM (r.status = 'active');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER resident_addresses_added
    AFTER INSERT ON resident_addresses REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION resident_addresses_recount();
CREATE TRIGGER resident_addresses_removed
    AFTER DELETE ON resident_addresses REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION resident_addresses_recount();

-- An address re-placed by a newer CBS map (or corrected): every enrolment there follows.
-- Statement level with a transition table, so a re-import of 100k addresses is one join.
CREATE FUNCTION addresses_propagate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE resident_addresses ra
    SET location = n.location, buurt_code = n.buurt_code, wijk_code = n.wijk_code,
        municipality_code = n.municipality_code
    FROM changed n
    WHERE ra.address_id = n.id
      AND (ra.location[0], ra.location[1], ra.buurt_code, ra.wijk_code, ra.municipality_code)
          IS DISTINCT FROM (n.location[0], n.location[1], n.buurt_code, n.wijk_code, n.municipality_code);
    RETURN NULL;
END $$;

CREATE TRIGGER addresses_propagate
    AFTER UPDATE ON addresses REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION addresses_propagate();

-- STOP / START / erasure: the resident's enrolments leave or rejoin the target index.
CREATE FUNCTION residents_propagate_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE resident_addresses SET active = (NEW.status = 'active')
    WHERE resident_id = NEW.id AND active IS DISTINCT FROM (NEW.status = 'active');
    RETURN NULL;
END $$;

CREATE TRIGGER residents_propagate_status
    AFTER UPDATE OF status ON residents
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION residents_propagate_status();

-- two partial indexes: the sole enrolments (nearly all) and the others, which the
-- recipient query groups per resident
CREATE INDEX resident_addresses_target ON resident_addresses USING gist (location)
    INCLUDE (resident_id, channel_bits, quiet_start, quiet_end, municipality_code)
    WHERE active AND sole;
CREATE INDEX resident_addresses_target_multi ON resident_addresses USING gist (location)
    INCLUDE (resident_id, channel_bits, quiet_start, quiet_end, municipality_code)
    WHERE active AND NOT sole;
CREATE INDEX resident_addresses_buurt ON resident_addresses (buurt_code) WHERE active;
CREATE INDEX resident_addresses_wijk ON resident_addresses (wijk_code) WHERE active;
CREATE INDEX resident_addresses_municipality ON resident_addresses (municipality_code) WHERE active;

-- 2. Materialising. The foreign keys of deliveries cost more than the insert itself: per
-- row, one trigger locking the alert's row (FOR KEY SHARE) and one locking the
-- resident's, ~0.85 s of ~2 s for 100k deliveries. Deliveries are only ever written by
-- alerts/store.py from rows it has just read (the alert locked FOR UPDATE), so the
-- checks guard nothing there; their ON DELETE actions are kept as statement-level
-- triggers, which run once per DELETE, not once per row:
--   resident erased  → their deliveries keep their state but lose the resident_id;
--   alert deleted    → its deliveries go (alerts are not deleted by the service);
--   delivery deleted (retention) → a fallback pointing at it forgets the link (the old
--   NO ACTION key made such a DELETE fail).
-- A resident erased while an alert to them is being materialised can leave that one
-- delivery with a resident_id of nobody: the worker finds no phone number for it and
-- cancels it (reason resident_stopped_or_erased); it holds no personal data.
ALTER TABLE deliveries
    DROP CONSTRAINT deliveries_alert_id_fkey,
    DROP CONSTRAINT deliveries_resident_id_fkey,
    DROP CONSTRAINT deliveries_fallback_of_fkey;

CREATE FUNCTION residents_erased_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE deliveries SET resident_id = NULL WHERE resident_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
CREATE TRIGGER residents_erased_deliveries
    AFTER DELETE ON residents REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION residents_erased_deliveries();

CREATE FUNCTION alerts_deleted_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
CREATE TRIGGER alerts_deleted_deliveries
    AFTER DELETE ON alerts REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION alerts_deleted_deliveries();

CREATE FUNCTION deliveries_deleted_fallbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE deliveries SET fallback_of = NULL WHERE fallback_of IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
CREATE TRIGGER deliveries_deleted_fallbacks
    AFTER DELETE ON deliveries REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_deleted_fallbacks();

-- Retention deletes by age: a BRIN range index (deliveries arrive in time order) costs
-- next to nothing per insert, unlike the btree it replaces.
DROP INDEX deliveries_created;
CREATE INDEX deliveries_created ON deliveries USING brin (created_at);

-- Progress per channel (the console's bars) from an index-only scan, as per state before.
DROP INDEX deliveries_alert_state;
CREATE INDEX deliveries_alert_state ON deliveries (alert_id, kind, state) INCLUDE (channel);

-- The status check of SMS still 'sent' (alerts/jobs.py) reads them oldest first.
CREATE INDEX deliveries_sent_sms ON deliveries (updated_at) WHERE state = 'sent' AND channel = 'sms';
