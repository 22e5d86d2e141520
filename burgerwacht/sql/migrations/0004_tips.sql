-- Tips (meldingen) sent back by residents, by SMS or on the voice tip line.
--
-- ERASURE RULE: a resident's VERWIJDER clears `phone` and `resident_id` on their tips
-- (the tip text stays for the police until its retention ends) and deletes their relay
-- and call-context rows (found through `phone_hash`, a keyed hash). Anonymous tips never
-- hold a number or a resident link; only the encrypted relay entry can reach the sender,
-- and it is purged after retention.relay_hours.

CREATE TABLE tip_relay (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_cipher text NOT NULL,        -- Fernet(security.secret_key); never shown
    phone_hash   bytea NOT NULL,       -- keyed hash, only to honour erasure requests
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tip_relay_phone_hash ON tip_relay (phone_hash);
CREATE INDEX tip_relay_created ON tip_relay (created_at);

CREATE TABLE tips (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_sid      text NOT NULL UNIQUE,     -- MessageSid / RecordingSid: the provider's retries dedupe here
    alert_id          bigint REFERENCES alerts (id) ON DELETE SET NULL,
    candidate_alerts  bigint[],                 -- several active alerts and no reference given
    municipalities    text[] NOT NULL DEFAULT '{}',  -- whose operators see it
    channel           text NOT NULL CHECK (channel IN ('sms', 'voice')),
    text              text,
    recording_url     text,
    recording_seconds integer,
    anonymous         boolean NOT NULL DEFAULT false,
    phone             text,                     -- NULL when anonymous or erased
    resident_id       bigint REFERENCES residents (id) ON DELETE SET NULL,
    relay_id          bigint REFERENCES tip_relay (id) ON DELETE SET NULL,
    status            text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'read', 'useful', 'not_useful')),
    note              text,
    received_at       timestamptz NOT NULL DEFAULT now(),
    erased_at         timestamptz,
    CHECK (NOT anonymous OR (phone IS NULL AND resident_id IS NULL))
);
CREATE INDEX tips_alert ON tips (alert_id, received_at DESC);
CREATE INDEX tips_municipalities ON tips USING gin (municipalities);
CREATE INDEX tips_received ON tips (received_at DESC);
CREATE INDEX tips_phone ON tips (phone) WHERE phone IS NOT NULL;

-- Who is on a tip-line call (the recording callback does not say): kept until the
-- recording arrives, purged after a day.
CREATE TABLE tip_calls (
    call_sid    text PRIMARY KEY,
    phone_hash  bytea,
    phone       text,                 -- NULL for anonymous callers
    delivery_id bigint,               -- digit 2 from an alert call
    created_at  timestamptz NOT NULL DEFAULT now()
);
