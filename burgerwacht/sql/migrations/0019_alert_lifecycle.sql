-- Alerts that follow the incident (issue 15): follow-ups (vervolgberichten), widening in
-- waves (by hand or on a schedule), and links between alerts for one incident.
--
-- Never twice. Every message to a resident is one delivery row, and the unique key
-- (alert, resident, channel, kind, seq) says which message it is:
--   kind 'alert'   seq 0  the start message, whichever wave brought the resident in
--                         (wave: the wave's number, 0 for the first send; not in the key,
--                         so a resident inside two waves' targets gets the start once)
--   kind 'update'  seq N  follow-up N
--   kind 'closing' seq 0  the closing message
-- text_seq on a start message is the number of the latest follow-up when it was first
-- claimed (read in the claim statement itself): the text it carries is the start text
-- with that follow-up folded in, so a queued start never leaves with stale text, and a
-- resident whose start carried follow-up k gets follow-ups k+1 … only (see
-- burgerwacht/alerts/worker.py and store.py).

CREATE TABLE alert_updates (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id      bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    number        integer NOT NULL CHECK (number > 0),
    message       text NOT NULL,
    voice_message text,
    created_by    bigint REFERENCES staff_users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- materialised in two steps (a first batch commits at once, so the first message
    -- leaves within a fraction of a second; then the rest): false until the rest is in.
    -- A process that died in between leaves it false; the worker completes it.
    complete      boolean NOT NULL DEFAULT false,
    UNIQUE (alert_id, number)
);

CREATE TABLE alert_waves (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id       bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    number         integer NOT NULL CHECK (number > 0),
    target         jsonb NOT NULL,            -- as the operator gave it (WGS84)
    target_circle  circle,                    -- RD New, like alerts' target columns
    target_polygon polygon,
    target_codes   text[],
    added          integer NOT NULL,          -- residents who got the alert through this wave
    auto           boolean NOT NULL DEFAULT false,  -- added by auto-widening
    scope          text[],                    -- the acting operator's municipalities (NULL = national)
    created_by     bigint REFERENCES staff_users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    complete       boolean NOT NULL DEFAULT false,  -- as alert_updates.complete
    UNIQUE (alert_id, number),
    CHECK (num_nonnulls(target_circle, target_polygon, target_codes) = 1)
);

ALTER TABLE alerts
    ADD COLUMN update_number   integer NOT NULL DEFAULT 0,  -- the latest follow-up's number
    ADD COLUMN wave_number     integer NOT NULL DEFAULT 0,  -- the latest wave's number
    ADD COLUMN follows         bigint REFERENCES alerts (id),
    ADD COLUMN widen           jsonb,                       -- auto-widening {every_minutes, step_m, max_radius_m}
    ADD COLUMN widen_radius_m  double precision,            -- the radius reached so far
    ADD COLUMN widen_next_at   timestamptz,                 -- the next auto wave; NULL when none is due
    ADD COLUMN widen_ended     text;                        -- why auto-widening ended (max_radius, stopped, …)
CREATE INDEX alerts_widen_due ON alerts (widen_next_at) WHERE widen_next_at IS NOT NULL;

ALTER TABLE deliveries
    ADD COLUMN seq      integer NOT NULL DEFAULT 0,
    ADD COLUMN wave     integer NOT NULL DEFAULT 0,
    ADD COLUMN text_seq integer;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_kind_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_kind_check CHECK (kind IN ('alert', 'update', 'closing', 'bulletin'));
ALTER TABLE deliveries ADD CONSTRAINT deliveries_seq_check CHECK ((kind = 'update') = (seq > 0));
ALTER TABLE deliveries DROP CONSTRAINT deliveries_alert_id_resident_id_channel_kind_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_message_key UNIQUE (alert_id, resident_id, channel, kind, seq);
CREATE INDEX alert_updates_incomplete ON alert_updates (created_at) WHERE NOT complete;
CREATE INDEX alert_waves_incomplete ON alert_waves (created_at) WHERE NOT complete;

-- progress per follow-up (the console's update list) without reading the start messages
CREATE INDEX deliveries_alert_updates ON deliveries (alert_id, seq, state) INCLUDE (channel) WHERE kind = 'update';
