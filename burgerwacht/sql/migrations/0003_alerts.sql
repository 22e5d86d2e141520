-- Alerts (acties) and their deliveries: the durable dispatch queue.
--
-- One delivery per (alert, resident, channel, kind), materialised in one INSERT … SELECT
-- when an alert is sent. Workers claim queued rows with FOR UPDATE SKIP LOCKED; states
-- only move forward (see burgerwacht/alerts/states.py).
--
-- ERASURE RULE: deliveries never hold a phone number or message text; erasing a
-- resident sets resident_id to NULL (ON DELETE SET NULL) so only anonymous counts stay.

CREATE TABLE alerts (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference          text NOT NULL CHECK (reference ~ '^[A-Z0-9]{3,6}$'),
    status             text NOT NULL DEFAULT 'draft'
                       CHECK (status IN ('draft', 'sending', 'active', 'closed', 'cancelled', 'expired')),
    level              text NOT NULL CHECK (level IN ('regular', 'missing_child', 'amber_regional', 'amber_national')),
    title              text NOT NULL,
    message            text NOT NULL,
    voice_message      text,
    target             jsonb NOT NULL,          -- as the operator gave it (WGS84)
    target_circle      circle,                  -- RD New
    target_polygon     polygon,                 -- RD New
    target_codes       text[],
    municipalities     text[] NOT NULL,         -- reached municipalities within the creator's scope
    channels           text[] NOT NULL CHECK (channels <@ ARRAY['sms', 'voice'] AND cardinality(channels) > 0),
    expires_in_minutes integer NOT NULL CHECK (expires_in_minutes > 0),
    family_consent     boolean NOT NULL DEFAULT false,
    created_by         bigint REFERENCES staff_users (id),
    scope              text[],                  -- the creator's scope (NULL = national)
    created_at         timestamptz NOT NULL DEFAULT now(),
    sent_at            timestamptz,
    expires_at         timestamptz,
    closed_at          timestamptz,
    closing_message    text,
    estimate           jsonb,                   -- the preview's figures, kept to compare with the real run
    CHECK (num_nonnulls(target_circle, target_polygon, target_codes) = 1)
);
-- a reference identifies one live alert; old references may be reused
CREATE UNIQUE INDEX alerts_live_reference ON alerts (reference) WHERE status IN ('draft', 'sending', 'active');
CREATE INDEX alerts_municipalities ON alerts USING gin (municipalities);
CREATE INDEX alerts_created ON alerts (created_at DESC);

CREATE TABLE deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    resident_id      bigint REFERENCES residents (id) ON DELETE SET NULL,
    channel          text NOT NULL CHECK (channel IN ('sms', 'voice')),
    kind             text NOT NULL DEFAULT 'alert' CHECK (kind IN ('alert', 'closing')),
    level            text NOT NULL,           -- copied from the alert: the fatigue budget counts regular ones
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed',
                                      'expired', 'cancelled', 'skipped')),
    reason           text,                    -- why skipped/failed/deferred (quiet_hours, budget, …)
    not_before       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    reconcile        boolean NOT NULL DEFAULT false,   -- outcome of the last attempt unknown
    claimed_by       text,
    claimed_at       timestamptz,
    attempt_at       timestamptz,             -- when the last provider request started
    provider_sid     text UNIQUE,
    error_code       integer,
    fallback_of      bigint REFERENCES deliveries (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (alert_id, resident_id, channel, kind)
);
CREATE INDEX deliveries_queue ON deliveries (not_before, id) WHERE state = 'queued';
CREATE INDEX deliveries_claims ON deliveries (claimed_at) WHERE state = 'sending';
CREATE INDEX deliveries_alert_state ON deliveries (alert_id, kind, state);
CREATE INDEX deliveries_resident_recent ON deliveries (resident_id, created_at);

-- Provider rate limits shared by every worker on every machine: a token bucket per
-- channel, refilled from the clock on each grant.
CREATE TABLE rate_buckets (
    name       text PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
