-- Deliveries have no per-row foreign keys (0008: they cost more than the insert); their
-- ON DELETE actions are these statement-level triggers, which run once per DELETE:
--   resident erased  → their deliveries keep their state but lose the resident_id;
--   alert deleted    → its deliveries go (alerts are not deleted by the service);
--   delivery deleted (retention) → a fallback pointing at it forgets the link.

CREATE OR REPLACE FUNCTION residents_erased_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE deliveries SET resident_id = NULL WHERE resident_id IN (SELECT id FROM gone);
    DELETE FROM resident_fatigue WHERE resident_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER residents_erased_deliveries
    AFTER DELETE ON residents REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION residents_erased_deliveries();

CREATE OR REPLACE FUNCTION alerts_deleted_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER alerts_deleted_deliveries
    AFTER DELETE ON alerts REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION alerts_deleted_deliveries();

CREATE OR REPLACE FUNCTION deliveries_deleted_fallbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE deliveries SET fallback_of = NULL WHERE fallback_of IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER deliveries_deleted_fallbacks
    AFTER DELETE ON deliveries REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_deleted_fallbacks();

-- The fatigue budget's summary (sql/0030): resident_fatigue holds, per resident, the
-- regular alerts whose start messages count against the budget (kind 'alert', level
-- 'regular', state not skipped/cancelled/expired), each with the newest created_at of
-- those messages: what the budget rule counted by reading deliveries. These triggers
-- keep it exact in the transaction that writes the deliveries:
--   insert (materialise, waves, fallbacks): one statement-level upsert per INSERT that
--     merges the new entries (the newer time wins); other levels only pass the filter;
--   a start message crossing between counted and not counted (cancelled, expired, ...),
--     or a counted one changing resident or time: a row trigger whose WHEN clause the
--     send path's other updates never pass rebuilds that resident's entries from
--     deliveries;
--   deliveries deleted: the residents they name are rebuilt; erasure drops the row.
-- Writers serialise on the resident's row: a rebuild locks it first and then reads
-- deliveries in a later statement (a fresh snapshot under READ COMMITTED), and the
-- insert's upsert waits for that lock, so a concurrent send and cancel cannot both miss
-- each other's change. Entries may be older than 24 hours (the reader checks the time);
-- the purge job drops them.

CREATE OR REPLACE FUNCTION fatigue_entries_of(p_resident bigint, OUT alerts bigint[], OUT times timestamptz[])
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(alert_id ORDER BY at DESC, alert_id DESC), '{}'),
           coalesce(array_agg(at ORDER BY at DESC, alert_id DESC), '{}')
    FROM (SELECT d.alert_id, max(d.created_at) AS at FROM deliveries d
          WHERE d.resident_id = p_resident AND d.kind = 'alert' AND d.level = 'regular'
            AND d.state NOT IN ('skipped', 'cancelled', 'expired')
            AND d.created_at > now() - interval '24 hours'
          GROUP BY d.alert_id) x
$$;

CREATE OR REPLACE FUNCTION fatigue_rebuild(p_residents bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- made or locked in one step (a purge deleting an empty row cannot slip in between)
    INSERT INTO resident_fatigue AS f (resident_id)
    SELECT DISTINCT r FROM unnest(p_residents) r WHERE r IS NOT NULL ORDER BY 1
    ON CONFLICT (resident_id) DO UPDATE SET alerts = f.alerts;
    -- a new statement: its snapshot sees whatever the lock's previous holders committed
    UPDATE resident_fatigue f SET (alerts, times) = (SELECT e.alerts, e.times FROM fatigue_entries_of(f.resident_id) e)
    WHERE f.resident_id = ANY (p_residents);
END $$;

CREATE OR REPLACE FUNCTION deliveries_inserted_fatigue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO resident_fatigue AS f (resident_id, alerts, times)
    SELECT resident_id, array_agg(alert_id), array_agg(at)
    FROM (SELECT resident_id, alert_id, max(created_at) AS at FROM born
          WHERE kind = 'alert' AND level = 'regular' AND resident_id IS NOT NULL
            AND state NOT IN ('skipped', 'cancelled', 'expired')
          GROUP BY resident_id, alert_id) x
    GROUP BY resident_id
    ORDER BY resident_id
    ON CONFLICT (resident_id) DO UPDATE SET (alerts, times) = (
        SELECT coalesce(array_agg(m.alert_id ORDER BY m.at DESC, m.alert_id DESC), '{}'),
               coalesce(array_agg(m.at ORDER BY m.at DESC, m.alert_id DESC), '{}')
        FROM (SELECT u.alert_id, max(u.at) AS at
              FROM (SELECT * FROM unnest(f.alerts, f.times)
                    UNION ALL SELECT * FROM unnest(EXCLUDED.alerts, EXCLUDED.times)) u (alert_id, at)
              WHERE u.at > now() - interval '24 hours'
              GROUP BY u.alert_id) m);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER deliveries_inserted_fatigue
    AFTER INSERT ON deliveries REFERENCING NEW TABLE AS born
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_inserted_fatigue();

CREATE OR REPLACE FUNCTION deliveries_counted_fatigue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.resident_id IS NOT DISTINCT FROM OLD.resident_id AND NEW.state IN ('skipped', 'cancelled', 'expired') THEN
        -- the common case (an alert's queued messages cancelled or expired, row by row):
        -- no row, nothing counted to take out; else lock it, then rebuild from a fresh
        -- snapshot (the next statement)
        PERFORM 1 FROM resident_fatigue WHERE resident_id = NEW.resident_id FOR UPDATE;
        IF FOUND THEN
            UPDATE resident_fatigue f SET (alerts, times) = (
                SELECT coalesce(array_agg(x.alert_id ORDER BY x.at DESC, x.alert_id DESC), '{}'),
                       coalesce(array_agg(x.at ORDER BY x.at DESC, x.alert_id DESC), '{}')
                FROM (SELECT d.alert_id, max(d.created_at) AS at FROM deliveries d
                      WHERE d.resident_id = NEW.resident_id AND d.kind = 'alert' AND d.level = 'regular'
                        AND d.state NOT IN ('skipped', 'cancelled', 'expired')
                        AND d.created_at > now() - interval '24 hours'
                      GROUP BY d.alert_id) x)
            WHERE f.resident_id = NEW.resident_id;
        END IF;
    ELSE
        PERFORM fatigue_rebuild(ARRAY[OLD.resident_id, NEW.resident_id]);
    END IF;
    RETURN NULL;
END $$;
-- Fires when a row counts and did not (or the reverse), or a counted row changes what it
-- counts for (its time, resident, alert); the send path's own updates (queued → sending
-- → sent → delivered, attempts, claims) never pass the WHEN clause.
CREATE OR REPLACE TRIGGER deliveries_counted_fatigue
    AFTER UPDATE OF state, created_at, resident_id, alert_id, kind, level ON deliveries FOR EACH ROW
    WHEN ((OLD.kind = 'alert' AND OLD.level = 'regular' AND OLD.resident_id IS NOT NULL
           AND OLD.state NOT IN ('skipped', 'cancelled', 'expired'))
          IS DISTINCT FROM
          (NEW.kind = 'alert' AND NEW.level = 'regular' AND NEW.resident_id IS NOT NULL
           AND NEW.state NOT IN ('skipped', 'cancelled', 'expired'))
          OR ((OLD.kind = 'alert' AND OLD.level = 'regular' AND OLD.resident_id IS NOT NULL
               AND OLD.state NOT IN ('skipped', 'cancelled', 'expired'))
              AND (OLD.created_at, OLD.resident_id, OLD.alert_id) IS DISTINCT FROM (NEW.created_at, NEW.resident_id, NEW.alert_id)))
    EXECUTE FUNCTION deliveries_counted_fatigue();

CREATE OR REPLACE FUNCTION deliveries_deleted_fatigue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fatigue_rebuild(array_agg(DISTINCT g.resident_id))
    FROM gone g JOIN resident_fatigue f ON f.resident_id = g.resident_id AND g.alert_id = ANY (f.alerts)
    WHERE g.kind = 'alert' AND g.level = 'regular'
    HAVING count(*) > 0;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER deliveries_deleted_fatigue
    AFTER DELETE ON deliveries REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_deleted_fatigue();

-- Deliveries are partitioned by their alert's month (sql/0032): the month partitions are
-- made ahead, this month and the next p_months (the daily job 'deliveries-partitions');
-- a month whose rows already went to the default partition is left there (a warning).
CREATE OR REPLACE FUNCTION deliveries_partitions_ahead(p_months integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    name text;
    made integer := 0;
BEGIN
    FOR i IN 0..p_months LOOP
        name := 'deliveries_' || to_char(m, 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            IF EXISTS (SELECT 1 FROM deliveries_default
                       WHERE alert_month >= m AND alert_month < (m + interval '1 month')::date) THEN
                RAISE WARNING 'deliveries of % are in deliveries_default: no partition made', m;
            ELSE
                EXECUTE format('CREATE TABLE %I PARTITION OF deliveries FOR VALUES FROM (%L) TO (%L)',
                               name, m, (m + interval '1 month')::date);
                made := made + 1;
            END IF;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN made;
END $$;

-- A large alert that stops materialising (closed, cancelled, expired, or done: its
-- materialise_cursor becomes NULL) has no chunk left to write (migration 0033). The
-- DELETE waits for chunks being written right now (their writers hold the rows).
CREATE OR REPLACE FUNCTION materialise_chunks_stop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM materialise_chunks WHERE alert_id = NEW.id;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER alerts_materialise_stop AFTER UPDATE OF materialise_cursor ON alerts
    FOR EACH ROW WHEN (OLD.materialise_cursor IS NOT NULL AND NEW.materialise_cursor IS NULL)
    EXECUTE FUNCTION materialise_chunks_stop();
