-- Residents in control (issue 19): self-service by SMS and on /mijn, English alert
-- texts, pause, visits, time windows per address, accessibility, bulletin opt-in.

-- Bulletins (issue 18) are opt-in; another part creates the same column the same way.
ALTER TABLE residents ADD COLUMN IF NOT EXISTS bulletins_opt_in boolean NOT NULL DEFAULT false;

ALTER TABLE residents
    -- PAUZE: no regular alerts until then; pause_all: no missing-person alerts either
    ADD COLUMN paused_until timestamptz,
    ADD COLUMN pause_all boolean NOT NULL DEFAULT false,
    -- accessibility: calls spoken slowly / the message said twice; never a call
    ADD COLUMN slow_speech boolean NOT NULL DEFAULT false,
    ADD COLUMN repeat_message boolean NOT NULL DEFAULT false,
    ADD COLUMN sms_only boolean NOT NULL DEFAULT false,
    -- VERHUIS waiting for JA: the new address replaces enrolment move_from_id
    ADD COLUMN move_address_id bigint REFERENCES addresses (id) ON DELETE SET NULL,
    ADD COLUMN move_from_id bigint,
    ADD COLUMN move_expires_at timestamptz;

ALTER TABLE enrolments
    ADD COLUMN slow_speech boolean NOT NULL DEFAULT false,
    ADD COLUMN repeat_message boolean NOT NULL DEFAULT false,
    ADD COLUMN sms_only boolean NOT NULL DEFAULT false;

-- Per enrolment: a visit (BEZOEK) ends by itself at visit_until; time_windows
-- ([{"days": [1..7], "start": "08:00", "end": "18:00"}], ISO weekdays, Europe/Amsterdam)
-- limit when the address is targeted. paused_until / pause_all are copies of the
-- resident's (kept by triggers in functions/residents_self_service.sql), so the
-- recipient query stays one scan with no join.
ALTER TABLE resident_addresses
    ADD COLUMN visit_until timestamptz,
    ADD COLUMN time_windows jsonb,
    ADD COLUMN paused_until timestamptz,
    ADD COLUMN pause_all boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT resident_addresses_time_windows_check
        CHECK (time_windows IS NULL OR jsonb_typeof(time_windows) = 'array');

-- the target indexes carry what resident_address_targeted() reads (index-only scans stay)
DROP INDEX resident_addresses_target;
DROP INDEX resident_addresses_target_multi;
CREATE INDEX resident_addresses_target ON resident_addresses USING gist (location)
    INCLUDE (resident_id, channel_bits, quiet_start, quiet_end, municipality_code,
             paused_until, pause_all, visit_until, time_windows)
    WHERE active AND sole;
CREATE INDEX resident_addresses_target_multi ON resident_addresses USING gist (location)
    INCLUDE (resident_id, channel_bits, quiet_start, quiet_end, municipality_code,
             paused_until, pause_all, visit_until, time_windows)
    WHERE active AND NOT sole;
CREATE INDEX resident_addresses_visits ON resident_addresses (visit_until) WHERE visit_until IS NOT NULL;

ALTER TABLE alerts
    ADD COLUMN message_en text CHECK (length(message_en) BETWEEN 1 AND 640),
    ADD COLUMN voice_message_en text CHECK (length(voice_message_en) <= 1500);

-- /mijn: a code by SMS, then a short-lived session (only hashes are stored)
CREATE TABLE mijn_logins (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    phone text NOT NULL,
    code_hash bytea NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX mijn_logins_phone ON mijn_logins (phone);

CREATE TABLE mijn_sessions (
    token_hash bytea PRIMARY KEY,
    resident_id bigint NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX mijn_sessions_resident ON mijn_sessions (resident_id);
