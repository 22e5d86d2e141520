-- Deliveries have no per-row foreign keys (0008: they cost more than the insert); their
-- ON DELETE actions are these statement-level triggers, which run once per DELETE:
--   resident erased  → their deliveries keep their state but lose the resident_id;
--   alert deleted    → its deliveries go (alerts are not deleted by the service);
--   delivery deleted (retention) → a fallback pointing at it forgets the link.

CREATE OR REPLACE FUNCTION residents_erased_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE deliveries SET resident_id = NULL WHERE resident_id IN (SELECT id FROM gone);
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
