-- Buurtsignaal: neighbourhood signals, their daily/monthly rollups, gebiedsscan
-- registrations, stored weekly reports and the Open311 rate limit.
--
-- PRIVACY RULES (see docs/signals.md):
-- * a signal holds no phone number, name, e-mail or resident link: an SMS signal keeps
--   area, category, date and source, and its text; erasure (VERWIJDER) has nothing
--   to remove here because nothing here identifies the sender;
-- * `text` and `location` (exact point, RD New) are for fieldworkers/operators of the
--   municipality only and are cleared after the configured retention;
-- * analysts read only the rollups, through the suppression and rounding in
--   burgerwacht/signals/privacy.py.

CREATE TABLE signals (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Open311 service_request_id: random and unguessable, so request ids cannot be
    -- enumerated into microdata
    public_id         text NOT NULL UNIQUE,
    municipality_code text NOT NULL CHECK (municipality_code ~ '^GM\d{4}$'),
    wijk_code         text,
    buurt_code        text NOT NULL CHECK (buurt_code ~ '^BU\d{8}$'),
    category          text NOT NULL CHECK (category ~ '^[a-z][a-z0-9_]{0,39}$'),
    severity          smallint CHECK (severity BETWEEN 1 AND 5),
    observed_on       date NOT NULL,
    source            text NOT NULL CHECK (source IN ('interview', 'schouw', 'sms', 'open311', 'handhaving')),
    text              text CHECK (length(text) <= 4000),
    location          point,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    status_notes      text CHECK (length(status_notes) <= 1000),
    -- 'user:<id>', 'resident' (never a number), 'open311:public', 'open311:user:<id>'
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    text_cleared_at   timestamptz
);
CREATE INDEX signals_municipality_day ON signals (municipality_code, observed_on)
    INCLUDE (buurt_code, category, severity);
CREATE INDEX signals_municipality_list ON signals (municipality_code, id DESC);
CREATE INDEX signals_retention ON signals (created_at) WHERE text IS NOT NULL OR location IS NOT NULL;

-- Rollups: exact counts per buurt, category and day (and month). The rollup job
-- recomputes the days listed in signal_dirty_days; summaries read rollups for clean
-- days and the signals table for dirty ones, so they always equal live counts.
CREATE TABLE signal_daily (
    municipality_code text NOT NULL,
    day               date NOT NULL,
    buurt_code        text NOT NULL,
    category          text NOT NULL,
    n                 integer NOT NULL,
    n_rated           integer NOT NULL,
    severity_sum      integer NOT NULL,
    PRIMARY KEY (municipality_code, day, buurt_code, category)
);

CREATE TABLE signal_monthly (
    municipality_code text NOT NULL,
    month             date NOT NULL,  -- first day of the month
    buurt_code        text NOT NULL,
    category          text NOT NULL,
    n                 integer NOT NULL,
    n_rated           integer NOT NULL,
    severity_sum      integer NOT NULL,
    PRIMARY KEY (municipality_code, month, buurt_code, category)
);

CREATE TABLE signal_dirty_days (
    municipality_code text NOT NULL,
    day               date NOT NULL,
    PRIMARY KEY (municipality_code, day)
);

-- Every change to signals marks its (old and new) days dirty, whatever wrote it
-- (API, SMS, Open311, COPY, a manual fix): statement-level, so bulk loads stay fast.
CREATE FUNCTION signals_mark_dirty_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO signal_dirty_days (municipality_code, day)
    SELECT DISTINCT municipality_code, observed_on FROM new_rows
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION signals_mark_dirty_old() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO signal_dirty_days (municipality_code, day)
    SELECT DISTINCT municipality_code, observed_on FROM old_rows
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION signals_mark_dirty_both() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO signal_dirty_days (municipality_code, day)
    SELECT municipality_code, observed_on FROM old_rows
    UNION SELECT municipality_code, observed_on FROM new_rows
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER signals_dirty_insert AFTER INSERT ON signals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION signals_mark_dirty_new();
CREATE TRIGGER signals_dirty_update AFTER UPDATE ON signals
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION signals_mark_dirty_both();
CREATE TRIGGER signals_dirty_delete AFTER DELETE ON signals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION signals_mark_dirty_old();

-- Police registrations (systeemkennis) per area, theme and period.
CREATE TABLE gebiedsscan (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    municipality_code text NOT NULL,
    area_code         text NOT NULL,
    theme             text NOT NULL,
    period_start      date NOT NULL,
    period_end        date NOT NULL,  -- inclusive
    registered_count  integer NOT NULL CHECK (registered_count >= 0),
    imported_at       timestamptz NOT NULL DEFAULT now(),
    imported_by       text NOT NULL,
    UNIQUE (area_code, theme, period_start, period_end),
    CHECK (period_end >= period_start)
);
CREATE INDEX gebiedsscan_municipality ON gebiedsscan (municipality_code, period_start);

-- Stored periodic reports (already suppressed and rounded: analyst output only).
CREATE TABLE signal_reports (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    municipality_code text NOT NULL,
    kind              text NOT NULL,
    period_label      text NOT NULL,
    period_start      date NOT NULL,
    period_end        date NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    rows              integer NOT NULL,
    content           jsonb NOT NULL,
    csv_path          text,
    UNIQUE (municipality_code, kind, period_label)
);

-- Open311 public-key rate limit: hits per client per minute, shared by every web
-- process. `client` is a keyed hash of the IP address, never the address itself.
CREATE TABLE open311_rate (
    client       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (client, window_start)
);

-- Rollup bookkeeping (one row).
CREATE TABLE signal_rollup_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_run_at timestamptz
);
INSERT INTO signal_rollup_state (id, last_run_at) VALUES (true, NULL);
