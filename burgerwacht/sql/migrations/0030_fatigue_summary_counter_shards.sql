-- The fatigue budget kept by the send path (issue 16): per resident, the regular alerts
-- that count against the budget, each with the newest created_at of its counted start
-- messages (kind 'alert', level 'regular', state not skipped/cancelled/expired). The
-- budget rule (alerts/store.py) reads the residents with at least that many entries
-- through resident_fatigue_entries instead of reading every recipient's day of
-- deliveries; it checks the 24-hour window and leaves out the alert itself on the row.
-- The triggers in functions/deliveries.sql keep the rows in step with deliveries in the
-- same transaction; the purge job drops entries older than 24 hours.
CREATE TABLE resident_fatigue (
    resident_id bigint PRIMARY KEY,
    alerts bigint[] NOT NULL DEFAULT '{}',         -- newest first
    times timestamptz[] NOT NULL DEFAULT '{}',     -- per entry: newest counted start message
    CHECK (cardinality(alerts) = cardinality(times))
);
COMMENT ON TABLE resident_fatigue IS 'regular alerts per resident that count against the fatigue budget (kept by triggers on deliveries)';
CREATE INDEX resident_fatigue_entries ON resident_fatigue ((cardinality(alerts)));

INSERT INTO resident_fatigue (resident_id, alerts, times)
SELECT resident_id, array_agg(alert_id ORDER BY at DESC, alert_id DESC), array_agg(at ORDER BY at DESC, alert_id DESC)
FROM (SELECT d.resident_id, d.alert_id, max(d.created_at) AS at
      FROM deliveries d
      WHERE d.kind = 'alert' AND d.level = 'regular' AND d.resident_id IS NOT NULL
        AND d.state NOT IN ('skipped', 'cancelled', 'expired')
        AND d.created_at > now() - interval '24 hours'
      GROUP BY d.resident_id, d.alert_id) x
GROUP BY resident_id;

-- Enrolment bursts (issue 16): every SMS enrolment added one to the same row
-- (stats_counters 'enrolments_sms') in its transaction, so concurrent enrolments queued
-- on that row's lock until each one's commit had been flushed (~200/s at most). The
-- counters are now kept in shards (one per server process, modulo 1024: two
-- transactions meet on a row only when their backends share a shard), and
-- stats_counters, the sum per name, is a view with the same columns.
CREATE TABLE stats_counter_shards (
    name  text NOT NULL,
    shard smallint NOT NULL,
    value bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (name, shard)
);
COMMENT ON TABLE stats_counter_shards IS 'anonymous counters that survive erasure, in shards (the view stats_counters sums them)';
INSERT INTO stats_counter_shards (name, shard, value) SELECT name, 0, value FROM stats_counters;
DROP TABLE stats_counters;
CREATE VIEW stats_counters AS
    SELECT name, sum(value)::bigint AS value FROM stats_counter_shards GROUP BY name;
