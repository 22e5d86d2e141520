-- Deliveries partitioned by month (issue 16), so that retention drops whole partitions.
--
-- The partition key is the month of the ALERT (alerts.alert_month, fixed when the alert
-- row is made), copied onto every delivery of the alert, never the delivery's own
-- created_at: all messages of one alert then live in one partition, where the unique
-- key deliveries_message_key (now with alert_month) still makes every send exactly-once
-- (INSERT ... ON CONFLICT DO NOTHING). Bulletins (alert_id = -bulletin id) carry theirs.
-- Tuple routing happens before BEFORE-row triggers, so the inserts supply the column.
--
-- A database that already holds deliveries keeps them where they are: the old table is
-- renamed, gains alert_month with a constant (metadata only: existing rows read the
-- default), and is ATTACHed as the partition 'deliveries_legacy' for the month
-- 2000-01 — the month every existing alert and bulletin is given. Its CHECK constraint
-- lets ATTACH skip the scan; its non-unique indexes already match the new parent's and
-- are attached, not rebuilt. The unique ones must include the partition key, so the
-- primary key (id, alert_month), the message key and the provider sid index are built
-- again on it (bench/bench_partition.py measures the lock this holds).
--
-- id: identity columns are not allowed on partitioned tables before PostgreSQL 17, so
-- it becomes a sequence default, continuing the identity's sequence where it was.

-- the alert's month: existing alerts the legacy month, new ones their own (UTC)
ALTER TABLE alerts ADD COLUMN alert_month date NOT NULL DEFAULT '2000-01-01';
ALTER TABLE alerts ALTER COLUMN alert_month SET DEFAULT (date_trunc('month', now() AT TIME ZONE 'UTC'))::date;
ALTER TABLE bulletins ADD COLUMN alert_month date NOT NULL DEFAULT '2000-01-01';
ALTER TABLE bulletins ALTER COLUMN alert_month SET DEFAULT (date_trunc('month', now() AT TIME ZONE 'UTC'))::date;

LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE;
ALTER TABLE deliveries RENAME TO deliveries_legacy;

-- its triggers move with it; the parent gets them below (and the functions files)
DROP TRIGGER deliveries_deleted_fallbacks ON deliveries_legacy;
DROP TRIGGER IF EXISTS deliveries_inserted_fatigue ON deliveries_legacy;
DROP TRIGGER IF EXISTS deliveries_counted_fatigue ON deliveries_legacy;
DROP TRIGGER IF EXISTS deliveries_deleted_fatigue ON deliveries_legacy;

-- id: the identity's sequence value carries over to a plain sequence
CREATE SEQUENCE deliveries_id_seq_new AS bigint;
SELECT setval('deliveries_id_seq_new', s.last_value, s.is_called) FROM deliveries_id_seq s;
ALTER TABLE deliveries_legacy ALTER COLUMN id DROP IDENTITY;  -- drops deliveries_id_seq
ALTER SEQUENCE deliveries_id_seq_new RENAME TO deliveries_id_seq;

-- one pass over the rows: the column is metadata only, the CHECK is verified here so
-- that ATTACH need not scan again
ALTER TABLE deliveries_legacy
    ADD COLUMN alert_month date NOT NULL DEFAULT '2000-01-01',
    ADD CONSTRAINT deliveries_legacy_month CHECK (alert_month >= '2000-01-01' AND alert_month < '2000-02-01');
ALTER TABLE deliveries_legacy ALTER COLUMN alert_month DROP DEFAULT;  -- the rows keep reading it

-- unique keys with the partition key (built on the rows), the old ones dropped
ALTER TABLE deliveries_legacy DROP CONSTRAINT deliveries_pkey;
ALTER TABLE deliveries_legacy DROP CONSTRAINT deliveries_message_key;
DROP INDEX deliveries_provider_sid;
ALTER TABLE deliveries_legacy ADD CONSTRAINT deliveries_legacy_pkey PRIMARY KEY (id, alert_month);
ALTER TABLE deliveries_legacy ADD CONSTRAINT deliveries_legacy_message_key
    UNIQUE (alert_id, resident_id, channel, kind, seq, alert_month);
CREATE UNIQUE INDEX deliveries_legacy_provider_sid ON deliveries_legacy (provider_sid, alert_month)
    WHERE provider_sid IS NOT NULL;

-- the other indexes keep their definitions (the parent's match them) under new names
ALTER INDEX deliveries_alert_state RENAME TO deliveries_legacy_alert_state;
ALTER INDEX deliveries_alert_updates RENAME TO deliveries_legacy_alert_updates;
ALTER INDEX deliveries_bulletins RENAME TO deliveries_legacy_bulletins;
ALTER INDEX deliveries_claims RENAME TO deliveries_legacy_claims;
ALTER INDEX deliveries_created RENAME TO deliveries_legacy_created;
ALTER INDEX deliveries_fallback_of RENAME TO deliveries_legacy_fallback_of;
ALTER INDEX deliveries_queue RENAME TO deliveries_legacy_queue;
ALTER INDEX deliveries_resident_recent RENAME TO deliveries_legacy_resident_recent;
ALTER INDEX deliveries_sent RENAME TO deliveries_legacy_sent;

CREATE TABLE deliveries (
    id bigint NOT NULL DEFAULT nextval('deliveries_id_seq'),
    alert_id bigint NOT NULL,
    resident_id bigint,
    channel text NOT NULL,
    kind text NOT NULL DEFAULT 'alert',
    level text NOT NULL,
    state text NOT NULL DEFAULT 'queued',
    reason text,
    not_before timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    reconcile boolean NOT NULL DEFAULT false,
    claimed_by text,
    claimed_at timestamptz,
    attempt_at timestamptz,
    provider_sid text,
    error_code integer,
    fallback_of bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    seq integer NOT NULL DEFAULT 0,
    wave integer NOT NULL DEFAULT 0,
    text_seq integer,
    sender text,
    alert_month date NOT NULL,  -- no default: every insert copies its alert's
    CONSTRAINT deliveries_channel_check CHECK (channel = ANY (ARRAY['sms'::text, 'voice'::text])),
    CONSTRAINT deliveries_kind_check CHECK (kind = ANY (ARRAY['alert'::text, 'update'::text, 'closing'::text, 'bulletin'::text])),
    CONSTRAINT deliveries_seq_check CHECK ((kind = 'update'::text) = (seq > 0)),
    CONSTRAINT deliveries_state_check CHECK (state = ANY (ARRAY['queued'::text, 'sending'::text, 'sent'::text,
        'delivered'::text, 'undelivered'::text, 'failed'::text, 'expired'::text, 'cancelled'::text, 'skipped'::text])),
    CONSTRAINT deliveries_pkey PRIMARY KEY (id, alert_month),
    CONSTRAINT deliveries_message_key UNIQUE (alert_id, resident_id, channel, kind, seq, alert_month)
) PARTITION BY RANGE (alert_month);
ALTER SEQUENCE deliveries_id_seq OWNED BY deliveries.id;

CREATE UNIQUE INDEX deliveries_provider_sid ON deliveries (provider_sid, alert_month) WHERE provider_sid IS NOT NULL;
CREATE INDEX deliveries_alert_state ON deliveries (alert_id, kind, state) INCLUDE (channel);
CREATE INDEX deliveries_alert_updates ON deliveries (alert_id, seq, state) INCLUDE (channel) WHERE kind = 'update';
CREATE INDEX deliveries_bulletins ON deliveries (resident_id, created_at) WHERE kind = 'bulletin';
CREATE INDEX deliveries_claims ON deliveries (claimed_at) WHERE state = 'sending';
CREATE INDEX deliveries_created ON deliveries USING brin (created_at);
CREATE INDEX deliveries_fallback_of ON deliveries (fallback_of) WHERE fallback_of IS NOT NULL;
CREATE INDEX deliveries_queue ON deliveries (not_before, id) WHERE state = 'queued';
CREATE INDEX deliveries_resident_recent ON deliveries (resident_id, created_at);
CREATE INDEX deliveries_sent ON deliveries (updated_at) WHERE state = 'sent';

ALTER TABLE deliveries ATTACH PARTITION deliveries_legacy FOR VALUES FROM ('2000-01-01') TO ('2000-02-01');
-- an insert never fails for want of a partition
CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT;

-- the month partitions, made ahead (the daily job 'deliveries-partitions' keeps making
-- them); a month with rows already in the default partition is left there
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
SELECT deliveries_partitions_ahead(2);

-- the triggers on the parent (statement triggers with transition tables are allowed
-- there; the row trigger is cloned onto every partition), in this transaction so no
-- insert goes uncounted; the fatigue functions exist only where the functions files ran
-- (a deployed database: a fresh one gets its triggers from them, after the migrations)
CREATE TRIGGER deliveries_deleted_fallbacks
    AFTER DELETE ON deliveries REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_deleted_fallbacks();
DO $$
BEGIN
    IF to_regprocedure('deliveries_inserted_fatigue()') IS NOT NULL THEN
        CREATE TRIGGER deliveries_inserted_fatigue
            AFTER INSERT ON deliveries REFERENCING NEW TABLE AS born
            FOR EACH STATEMENT EXECUTE FUNCTION deliveries_inserted_fatigue();
    END IF;
    IF to_regprocedure('deliveries_counted_fatigue()') IS NOT NULL THEN
        CREATE TRIGGER deliveries_counted_fatigue
            AFTER UPDATE OF state, created_at, resident_id, alert_id, kind, level ON deliveries FOR EACH ROW
            WHEN ((OLD.kind = 'alert' AND OLD.level = 'regular' AND OLD.resident_id IS NOT NULL
                   AND OLD.state NOT IN ('skipped', 'cancelled', 'expired'))
                  IS DISTINCT FROM
                  (NEW.kind = 'alert' AND NEW.level = 'regular' AND NEW.resident_id IS NOT NULL
                   AND NEW.state NOT IN ('skipped', 'cancelled', 'expired'))
                  OR ((OLD.kind = 'alert' AND OLD.level = 'regular' AND OLD.resident_id IS NOT NULL
                       AND OLD.state NOT IN ('skipped', 'cancelled', 'expired'))
                      AND (OLD.created_at, OLD.resident_id, OLD.alert_id)
                          IS DISTINCT FROM (NEW.created_at, NEW.resident_id, NEW.alert_id)))
            EXECUTE FUNCTION deliveries_counted_fatigue();
    END IF;
    IF to_regprocedure('deliveries_deleted_fatigue()') IS NOT NULL THEN
        CREATE TRIGGER deliveries_deleted_fatigue
            AFTER DELETE ON deliveries REFERENCING OLD TABLE AS gone
            FOR EACH STATEMENT EXECUTE FUNCTION deliveries_deleted_fatigue();
    END IF;
END $$;
