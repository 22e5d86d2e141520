-- The schema of a freshly migrated burgerwacht database (normalised, sorted by name).
-- Generated from the catalog by `burgerwacht schema-dump --fresh`; do not edit by hand:
-- change a migration or a functions file, then regenerate (see burgerwacht/db/schema.py).

CREATE TABLE addresses (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    postcode text NOT NULL,
    house_number integer NOT NULL,
    house_letter text DEFAULT ''::text NOT NULL,
    addition text DEFAULT ''::text NOT NULL,
    location point NOT NULL,
    buurt_code text,
    wijk_code text,
    municipality_code text
);

CREATE TABLE alert_photos (
    alert_id bigint NOT NULL,
    data bytea NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    bytes integer NOT NULL,
    source_format text NOT NULL,
    alt text DEFAULT ''::text NOT NULL,
    etag text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE alert_templates (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    name text NOT NULL,
    municipality_code text,
    level text NOT NULL,
    title text NOT NULL,
    message text NOT NULL,
    voice_message text,
    channels text[] NOT NULL,
    expires_in_minutes integer NOT NULL,
    radius_m double precision,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE alert_updates (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    alert_id bigint NOT NULL,
    number integer NOT NULL,
    message text NOT NULL,
    voice_message text,
    created_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    complete boolean DEFAULT false NOT NULL
);

CREATE TABLE alert_waves (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    alert_id bigint NOT NULL,
    number integer NOT NULL,
    target jsonb NOT NULL,
    target_circle circle,
    target_polygon polygon,
    target_codes text[],
    added integer NOT NULL,
    auto boolean DEFAULT false NOT NULL,
    scope text[],
    created_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    complete boolean DEFAULT false NOT NULL
);

CREATE TABLE alerts (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    reference text NOT NULL,
    status text DEFAULT 'draft'::text NOT NULL,
    level text NOT NULL,
    title text NOT NULL,
    message text NOT NULL,
    voice_message text,
    target jsonb NOT NULL,
    target_circle circle,
    target_polygon polygon,
    target_codes text[],
    municipalities text[] NOT NULL,
    channels text[] NOT NULL,
    expires_in_minutes integer NOT NULL,
    family_consent boolean DEFAULT false NOT NULL,
    created_by bigint,
    scope text[],
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    expires_at timestamp with time zone,
    closed_at timestamp with time zone,
    closing_message text,
    estimate jsonb,
    cap_source_identifier text,
    cap_source_sender text,
    cap_source_sent timestamp with time zone,
    cap_sent timestamp with time zone,
    update_number integer DEFAULT 0 NOT NULL,
    wave_number integer DEFAULT 0 NOT NULL,
    follows bigint,
    widen jsonb,
    widen_radius_m double precision,
    widen_next_at timestamp with time zone,
    widen_ended text,
    outcome text,
    outcome_note text,
    message_en text,
    voice_message_en text,
    mode text DEFAULT 'live'::text NOT NULL,
    approval jsonb,
    rejection jsonb,
    template_id bigint,
    public_token text,
    link text DEFAULT 'auto'::text NOT NULL,
    sent_by bigint,
    materialise_cursor bigint,
    materialise_end bigint,
    materialised_at timestamp with time zone,
    alert_month date DEFAULT (date_trunc('month'::text, (now() AT TIME ZONE 'UTC'::text)))::date NOT NULL
);

CREATE TABLE area_figures (
    code text NOT NULL,
    level text NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    municipality_code text NOT NULL,
    year integer,
    inhabitants integer,
    households integer,
    source text DEFAULT 'kwb'::text NOT NULL,
    imported_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE areas (
    code text NOT NULL,
    level text NOT NULL,
    name text NOT NULL,
    municipality_code text NOT NULL,
    district_code text,
    year integer,
    geometry jsonb NOT NULL,
    bbox box NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    object_type text,
    object_id text,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);

CREATE TABLE bulletins (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    municipality_code text NOT NULL,
    area_code text NOT NULL,
    area_level text NOT NULL,
    message text NOT NULL,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    recipients integer DEFAULT 0 NOT NULL,
    deferred integer DEFAULT 0 NOT NULL,
    over_cap integer DEFAULT 0 NOT NULL,
    alert_month date DEFAULT (date_trunc('month'::text, (now() AT TIME ZONE 'UTC'::text)))::date NOT NULL
);

CREATE TABLE call_slots (
    delivery_id bigint NOT NULL,
    attempt integer NOT NULL,
    taken_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE code_requests (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    phone text NOT NULL,
    ip text NOT NULL,
    prefix text NOT NULL,
    budget boolean DEFAULT true NOT NULL
);

CREATE TABLE deliveries (
    id bigint DEFAULT nextval('deliveries_id_seq'::regclass) NOT NULL,
    alert_id bigint NOT NULL,
    resident_id bigint,
    channel text NOT NULL,
    kind text DEFAULT 'alert'::text NOT NULL,
    level text NOT NULL,
    state text DEFAULT 'queued'::text NOT NULL,
    reason text,
    not_before timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    reconcile boolean DEFAULT false NOT NULL,
    claimed_by text,
    claimed_at timestamp with time zone,
    attempt_at timestamp with time zone,
    provider_sid text,
    error_code integer,
    fallback_of bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    seq integer DEFAULT 0 NOT NULL,
    wave integer DEFAULT 0 NOT NULL,
    text_seq integer,
    sender text,
    alert_month date NOT NULL
) PARTITION BY RANGE (alert_month);

CREATE TABLE enrolments (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    phone text NOT NULL,
    phone_kind text NOT NULL,
    address_id bigint NOT NULL,
    label text NOT NULL,
    channels text[] NOT NULL,
    quiet_start time without time zone,
    quiet_end time without time zone,
    language text NOT NULL,
    code_hash bytea NOT NULL,
    code_cipher text,
    attempts integer DEFAULT 0 NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    verified_at timestamp with time zone,
    resident_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    slow_speech boolean DEFAULT false NOT NULL,
    repeat_message boolean DEFAULT false NOT NULL,
    sms_only boolean DEFAULT false NOT NULL
);

CREATE TABLE gebiedsscan (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    municipality_code text NOT NULL,
    area_code text NOT NULL,
    theme text NOT NULL,
    period_start date NOT NULL,
    period_end date NOT NULL,
    registered_count integer NOT NULL,
    imported_at timestamp with time zone DEFAULT now() NOT NULL,
    imported_by text NOT NULL
);

CREATE TABLE inbound_messages (
    sid text NOT NULL,
    kind text NOT NULL,
    reply text,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE job_runs (
    job text NOT NULL,
    period text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    process text NOT NULL,
    result jsonb
);

CREATE TABLE materialise_chunks (
    alert_id bigint NOT NULL,
    lo bigint NOT NULL,
    hi bigint NOT NULL
);

CREATE TABLE mijn_logins (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    phone text NOT NULL,
    code_hash bytea NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone
);

CREATE TABLE mijn_sessions (
    token_hash bytea NOT NULL,
    resident_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE municipality_extents (
    municipality_code text NOT NULL,
    extent box NOT NULL
);

CREATE TABLE municipality_priorities (
    municipality_code text NOT NULL,
    theme text NOT NULL,
    position integer NOT NULL,
    weight double precision NOT NULL,
    target_change_pct double precision,
    baseline_year integer,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_by text NOT NULL
);

CREATE TABLE open311_rate (
    client text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    hits integer NOT NULL
);

CREATE TABLE provider_media_deletions (
    message_sid text NOT NULL,
    media_sid text NOT NULL,
    attempts smallint DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public_tip_rate (
    bucket text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    hits integer DEFAULT 1 NOT NULL
);

CREATE TABLE rate_buckets (
    name text NOT NULL,
    tokens double precision NOT NULL,
    updated_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

CREATE TABLE resident_addresses (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    resident_id bigint NOT NULL,
    address_id bigint NOT NULL,
    label text DEFAULT 'thuis'::text NOT NULL,
    channels text[] NOT NULL,
    quiet_start time without time zone,
    quiet_end time without time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    location point NOT NULL,
    buurt_code text,
    wijk_code text,
    municipality_code text,
    active boolean DEFAULT true NOT NULL,
    channel_bits smallint GENERATED ALWAYS AS ((
CASE
    WHEN ('sms'::text = ANY (channels)) THEN 1
    ELSE 0
END +
CASE
    WHEN ('voice'::text = ANY (channels)) THEN 2
    ELSE 0
END)) STORED,
    sole boolean DEFAULT true NOT NULL,
    visit_until timestamp with time zone,
    time_windows jsonb,
    paused_until timestamp with time zone,
    pause_all boolean DEFAULT false NOT NULL
);

CREATE TABLE resident_fatigue (
    resident_id bigint NOT NULL,
    alerts bigint[] DEFAULT '{}'::bigint[] NOT NULL,
    times timestamp with time zone[] DEFAULT '{}'::timestamp with time zone[] NOT NULL
);

CREATE TABLE residents (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    phone text NOT NULL,
    phone_kind text NOT NULL,
    status text NOT NULL,
    language text DEFAULT 'nl'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    stopped_at timestamp with time zone,
    bulletins_opt_in boolean DEFAULT false NOT NULL,
    paused_until timestamp with time zone,
    pause_all boolean DEFAULT false NOT NULL,
    slow_speech boolean DEFAULT false NOT NULL,
    repeat_message boolean DEFAULT false NOT NULL,
    sms_only boolean DEFAULT false NOT NULL,
    move_address_id bigint,
    move_from_id bigint,
    move_expires_at timestamp with time zone,
    exercise boolean DEFAULT false NOT NULL
);

CREATE TABLE schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE signal_cells (
    id integer GENERATED ALWAYS AS IDENTITY NOT NULL,
    municipality_code text NOT NULL,
    buurt_code text NOT NULL,
    category text NOT NULL
);

CREATE TABLE signal_cubes (
    municipality_code text NOT NULL,
    year integer NOT NULL,
    params text NOT NULL,
    generation bigint NOT NULL,
    areas_version text NOT NULL,
    token text NOT NULL,
    built_at timestamp with time zone DEFAULT now() NOT NULL,
    build_ms integer NOT NULL,
    payload bytea NOT NULL
);

CREATE TABLE signal_daily (
    municipality_code text NOT NULL,
    day date NOT NULL,
    buurt_code text NOT NULL,
    category text NOT NULL,
    n integer NOT NULL,
    n_rated integer NOT NULL,
    severity_sum integer NOT NULL,
    key_sum bigint DEFAULT 0 NOT NULL
);

CREATE TABLE signal_dirty_days (
    municipality_code text NOT NULL,
    day date NOT NULL
);

CREATE TABLE signal_monthly (
    municipality_code text NOT NULL,
    month date NOT NULL,
    buurt_code text NOT NULL,
    category text NOT NULL,
    n integer NOT NULL,
    n_rated integer NOT NULL,
    severity_sum integer NOT NULL,
    key_sum bigint DEFAULT 0 NOT NULL
);

CREATE TABLE signal_reports (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    municipality_code text NOT NULL,
    kind text NOT NULL,
    period_label text NOT NULL,
    period_start date NOT NULL,
    period_end date NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    rows integer NOT NULL,
    content jsonb NOT NULL,
    csv_path text
);

CREATE TABLE signal_rollup_state (
    id boolean DEFAULT true NOT NULL,
    last_run_at timestamp with time zone
);

CREATE TABLE signal_rollup_years (
    municipality_code text NOT NULL,
    year integer NOT NULL,
    generation bigint NOT NULL
);

CREATE TABLE signals (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    public_id text NOT NULL,
    municipality_code text NOT NULL,
    wijk_code text,
    buurt_code text NOT NULL,
    category text NOT NULL,
    severity smallint,
    observed_on date NOT NULL,
    source text NOT NULL,
    text text,
    location point,
    status text DEFAULT 'open'::text NOT NULL,
    status_notes text,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    text_cleared_at timestamp with time zone,
    observed_month date GENERATED ALWAYS AS ((date_trunc('month'::text, (observed_on)::timestamp without time zone))::date) STORED,
    cell integer NOT NULL,
    ckey integer DEFAULT (((('x'::text || substr((gen_random_uuid())::text, 1, 8)))::bit(32))::integer & 2147483647) NOT NULL,
    public_note text
);

CREATE TABLE staff_tokens (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    user_id bigint NOT NULL,
    token_hash bytea NOT NULL,
    prefix text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    last_used_at timestamp with time zone
);

CREATE TABLE staff_users (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    municipalities text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    disabled_at timestamp with time zone,
    wijken text[] DEFAULT '{}'::text[] NOT NULL,
    control_room_number text
);

CREATE TABLE stats_counter_shards (
    name text NOT NULL,
    shard smallint NOT NULL,
    value bigint DEFAULT 0 NOT NULL
);

CREATE TABLE tip_calls (
    call_sid text NOT NULL,
    phone_hash bytea,
    phone text,
    delivery_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE tip_media (
    tip_id bigint NOT NULL,
    n smallint NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    source_url text,
    declared_type text,
    content_type text,
    data bytea,
    width integer,
    height integer,
    bytes integer,
    error text,
    attempts smallint DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE tip_relay (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    phone_cipher text NOT NULL,
    phone_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE tips (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    provider_sid text NOT NULL,
    alert_id bigint,
    candidate_alerts bigint[],
    municipalities text[] DEFAULT '{}'::text[] NOT NULL,
    channel text NOT NULL,
    text text,
    recording_url text,
    recording_seconds integer,
    anonymous boolean DEFAULT false NOT NULL,
    phone text,
    resident_id bigint,
    relay_id bigint,
    status text DEFAULT 'new'::text NOT NULL,
    note text,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    erased_at timestamp with time zone,
    led_to_outcome boolean DEFAULT false NOT NULL
);

ALTER TABLE addresses ADD CONSTRAINT addresses_house_number_check CHECK (house_number >= 1 AND house_number <= 99999);
ALTER TABLE addresses ADD CONSTRAINT addresses_pkey PRIMARY KEY (id);
ALTER TABLE addresses ADD CONSTRAINT addresses_postcode_check CHECK (postcode ~ '^[1-9]\d{3}[A-Z]{2}$'::text);
ALTER TABLE addresses ADD CONSTRAINT addresses_postcode_house_number_house_letter_addition_key UNIQUE (postcode, house_number, house_letter, addition);
ALTER TABLE alert_photos ADD CONSTRAINT alert_photos_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES alerts(id) ON DELETE CASCADE;
ALTER TABLE alert_photos ADD CONSTRAINT alert_photos_alt_check CHECK (length(alt) <= 300);
ALTER TABLE alert_photos ADD CONSTRAINT alert_photos_check CHECK (bytes = octet_length(data));
ALTER TABLE alert_photos ADD CONSTRAINT alert_photos_data_check CHECK (octet_length(data) >= 1 AND octet_length(data) <= 300000);
ALTER TABLE alert_photos ADD CONSTRAINT alert_photos_etag_check CHECK (etag ~ '^[0-9a-f]{16,64}$'::text);
ALTER TABLE alert_photos ADD CONSTRAINT alert_photos_height_check CHECK (height >= 1 AND height <= 1280);
ALTER TABLE alert_photos ADD CONSTRAINT alert_photos_pkey PRIMARY KEY (alert_id);
ALTER TABLE alert_photos ADD CONSTRAINT alert_photos_source_format_check CHECK (source_format = ANY (ARRAY['JPEG'::text, 'PNG'::text, 'WEBP'::text]));
ALTER TABLE alert_photos ADD CONSTRAINT alert_photos_width_check CHECK (width >= 1 AND width <= 1280);
ALTER TABLE alert_templates ADD CONSTRAINT alert_templates_expires_in_minutes_check CHECK (expires_in_minutes > 0);
ALTER TABLE alert_templates ADD CONSTRAINT alert_templates_message_check CHECK (length(message) >= 1 AND length(message) <= 640);
ALTER TABLE alert_templates ADD CONSTRAINT alert_templates_municipality_code_check CHECK (municipality_code ~ '^GM[0-9]{4}$'::text);
ALTER TABLE alert_templates ADD CONSTRAINT alert_templates_name_check CHECK (length(name) >= 1 AND length(name) <= 80);
ALTER TABLE alert_templates ADD CONSTRAINT alert_templates_pkey PRIMARY KEY (id);
ALTER TABLE alert_templates ADD CONSTRAINT alert_templates_radius_m_check CHECK (radius_m > 0::double precision);
ALTER TABLE alert_templates ADD CONSTRAINT alert_templates_title_check CHECK (length(title) >= 1 AND length(title) <= 120);
ALTER TABLE alert_templates ADD CONSTRAINT alert_templates_voice_message_check CHECK (length(voice_message) >= 1 AND length(voice_message) <= 1500);
ALTER TABLE alert_updates ADD CONSTRAINT alert_updates_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES alerts(id) ON DELETE CASCADE;
ALTER TABLE alert_updates ADD CONSTRAINT alert_updates_alert_id_number_key UNIQUE (alert_id, number);
ALTER TABLE alert_updates ADD CONSTRAINT alert_updates_created_by_fkey FOREIGN KEY (created_by) REFERENCES staff_users(id);
ALTER TABLE alert_updates ADD CONSTRAINT alert_updates_number_check CHECK (number > 0);
ALTER TABLE alert_updates ADD CONSTRAINT alert_updates_pkey PRIMARY KEY (id);
ALTER TABLE alert_waves ADD CONSTRAINT alert_waves_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES alerts(id) ON DELETE CASCADE;
ALTER TABLE alert_waves ADD CONSTRAINT alert_waves_alert_id_number_key UNIQUE (alert_id, number);
ALTER TABLE alert_waves ADD CONSTRAINT alert_waves_check CHECK (num_nonnulls(target_circle, target_polygon, target_codes) = 1);
ALTER TABLE alert_waves ADD CONSTRAINT alert_waves_created_by_fkey FOREIGN KEY (created_by) REFERENCES staff_users(id);
ALTER TABLE alert_waves ADD CONSTRAINT alert_waves_number_check CHECK (number > 0);
ALTER TABLE alert_waves ADD CONSTRAINT alert_waves_pkey PRIMARY KEY (id);
ALTER TABLE alerts ADD CONSTRAINT alerts_channels_check CHECK (channels <@ ARRAY['sms'::text, 'voice'::text] AND cardinality(channels) > 0);
ALTER TABLE alerts ADD CONSTRAINT alerts_check CHECK (num_nonnulls(target_circle, target_polygon, target_codes) = 1);
ALTER TABLE alerts ADD CONSTRAINT alerts_created_by_fkey FOREIGN KEY (created_by) REFERENCES staff_users(id);
ALTER TABLE alerts ADD CONSTRAINT alerts_expires_in_minutes_check CHECK (expires_in_minutes > 0);
ALTER TABLE alerts ADD CONSTRAINT alerts_follows_fkey FOREIGN KEY (follows) REFERENCES alerts(id);
ALTER TABLE alerts ADD CONSTRAINT alerts_level_check CHECK (level = ANY (ARRAY['regular'::text, 'missing_child'::text, 'amber_regional'::text, 'amber_national'::text]));
ALTER TABLE alerts ADD CONSTRAINT alerts_link_check CHECK (link = ANY (ARRAY['auto'::text, 'always'::text, 'never'::text]));
ALTER TABLE alerts ADD CONSTRAINT alerts_message_en_check CHECK (length(message_en) >= 1 AND length(message_en) <= 640);
ALTER TABLE alerts ADD CONSTRAINT alerts_mode_check CHECK (mode = ANY (ARRAY['live'::text, 'exercise'::text]));
ALTER TABLE alerts ADD CONSTRAINT alerts_outcome_check CHECK (outcome = ANY (ARRAY['found_safe'::text, 'found_other'::text, 'arrested'::text, 'not_found'::text, 'false_alarm'::text, 'other'::text]));
ALTER TABLE alerts ADD CONSTRAINT alerts_outcome_note_check CHECK (char_length(outcome_note) <= 500);
ALTER TABLE alerts ADD CONSTRAINT alerts_pkey PRIMARY KEY (id);
ALTER TABLE alerts ADD CONSTRAINT alerts_public_token_check CHECK (public_token ~ '^[0-9A-Za-z]{8,32}$'::text);
ALTER TABLE alerts ADD CONSTRAINT alerts_reference_check CHECK (reference ~ '^[A-Z0-9]{3,6}$'::text);
ALTER TABLE alerts ADD CONSTRAINT alerts_sent_by_fkey FOREIGN KEY (sent_by) REFERENCES staff_users(id);
ALTER TABLE alerts ADD CONSTRAINT alerts_status_check CHECK (status = ANY (ARRAY['draft'::text, 'awaiting_approval'::text, 'sending'::text, 'active'::text, 'closed'::text, 'cancelled'::text, 'expired'::text]));
ALTER TABLE alerts ADD CONSTRAINT alerts_template_id_fkey FOREIGN KEY (template_id) REFERENCES alert_templates(id) ON DELETE SET NULL;
ALTER TABLE alerts ADD CONSTRAINT alerts_voice_message_en_check CHECK (length(voice_message_en) <= 1500);
ALTER TABLE area_figures ADD CONSTRAINT area_figures_code_check CHECK (code ~ '^(GM[0-9]{4}|WK[0-9]{6}|BU[0-9]{8})$'::text);
ALTER TABLE area_figures ADD CONSTRAINT area_figures_households_check CHECK (households >= 0);
ALTER TABLE area_figures ADD CONSTRAINT area_figures_inhabitants_check CHECK (inhabitants >= 0);
ALTER TABLE area_figures ADD CONSTRAINT area_figures_level_check CHECK (level = ANY (ARRAY['gemeente'::text, 'wijk'::text, 'buurt'::text]));
ALTER TABLE area_figures ADD CONSTRAINT area_figures_municipality_code_check CHECK (municipality_code ~ '^GM[0-9]{4}$'::text);
ALTER TABLE area_figures ADD CONSTRAINT area_figures_pkey PRIMARY KEY (code);
ALTER TABLE area_figures ADD CONSTRAINT area_figures_year_check CHECK (year >= 1990 AND year <= 2100);
ALTER TABLE areas ADD CONSTRAINT areas_code_check CHECK (code ~ '^(GM\d{4}|WK\d{6}|BU\d{8})$'::text);
ALTER TABLE areas ADD CONSTRAINT areas_level_check CHECK (level = ANY (ARRAY['gemeente'::text, 'wijk'::text, 'buurt'::text]));
ALTER TABLE areas ADD CONSTRAINT areas_pkey PRIMARY KEY (code);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);
ALTER TABLE bulletins ADD CONSTRAINT bulletins_area_level_check CHECK (area_level = ANY (ARRAY['buurt'::text, 'wijk'::text]));
ALTER TABLE bulletins ADD CONSTRAINT bulletins_message_check CHECK (length(message) >= 1 AND length(message) <= 1000);
ALTER TABLE bulletins ADD CONSTRAINT bulletins_pkey PRIMARY KEY (id);
ALTER TABLE call_slots ADD CONSTRAINT call_slots_pkey PRIMARY KEY (delivery_id);
ALTER TABLE code_requests ADD CONSTRAINT code_requests_pkey PRIMARY KEY (id);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check CHECK (channel = ANY (ARRAY['sms'::text, 'voice'::text]));
ALTER TABLE deliveries ADD CONSTRAINT deliveries_kind_check CHECK (kind = ANY (ARRAY['alert'::text, 'update'::text, 'closing'::text, 'bulletin'::text]));
ALTER TABLE deliveries ADD CONSTRAINT deliveries_message_key UNIQUE (alert_id, resident_id, channel, kind, seq, alert_month);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id, alert_month);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_seq_check CHECK ((kind = 'update'::text) = (seq > 0));
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state = ANY (ARRAY['queued'::text, 'sending'::text, 'sent'::text, 'delivered'::text, 'undelivered'::text, 'failed'::text, 'expired'::text, 'cancelled'::text, 'skipped'::text]));
ALTER TABLE enrolments ADD CONSTRAINT enrolments_address_id_fkey FOREIGN KEY (address_id) REFERENCES addresses(id);
ALTER TABLE enrolments ADD CONSTRAINT enrolments_pkey PRIMARY KEY (id);
ALTER TABLE enrolments ADD CONSTRAINT enrolments_resident_id_fkey FOREIGN KEY (resident_id) REFERENCES residents(id) ON DELETE SET NULL;
ALTER TABLE gebiedsscan ADD CONSTRAINT gebiedsscan_area_code_theme_period_start_period_end_key UNIQUE (area_code, theme, period_start, period_end);
ALTER TABLE gebiedsscan ADD CONSTRAINT gebiedsscan_check CHECK (period_end >= period_start);
ALTER TABLE gebiedsscan ADD CONSTRAINT gebiedsscan_pkey PRIMARY KEY (id);
ALTER TABLE gebiedsscan ADD CONSTRAINT gebiedsscan_registered_count_check CHECK (registered_count >= 0);
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_pkey PRIMARY KEY (sid);
ALTER TABLE job_runs ADD CONSTRAINT job_runs_pkey PRIMARY KEY (job, period);
ALTER TABLE materialise_chunks ADD CONSTRAINT materialise_chunks_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES alerts(id) ON DELETE CASCADE;
ALTER TABLE materialise_chunks ADD CONSTRAINT materialise_chunks_check CHECK (hi > lo);
ALTER TABLE materialise_chunks ADD CONSTRAINT materialise_chunks_pkey PRIMARY KEY (alert_id, lo);
ALTER TABLE mijn_logins ADD CONSTRAINT mijn_logins_pkey PRIMARY KEY (id);
ALTER TABLE mijn_sessions ADD CONSTRAINT mijn_sessions_pkey PRIMARY KEY (token_hash);
ALTER TABLE mijn_sessions ADD CONSTRAINT mijn_sessions_resident_id_fkey FOREIGN KEY (resident_id) REFERENCES residents(id) ON DELETE CASCADE;
ALTER TABLE municipality_extents ADD CONSTRAINT municipality_extents_pkey PRIMARY KEY (municipality_code);
ALTER TABLE municipality_priorities ADD CONSTRAINT municipality_priorities_baseline_year_check CHECK (baseline_year >= 2000 AND baseline_year <= 2100);
ALTER TABLE municipality_priorities ADD CONSTRAINT municipality_priorities_municipality_code_check CHECK (municipality_code ~ '^GM\d{4}$'::text);
ALTER TABLE municipality_priorities ADD CONSTRAINT municipality_priorities_pkey PRIMARY KEY (municipality_code, theme);
ALTER TABLE municipality_priorities ADD CONSTRAINT municipality_priorities_position_check CHECK ("position" >= 0);
ALTER TABLE municipality_priorities ADD CONSTRAINT municipality_priorities_target_change_pct_check CHECK (target_change_pct >= '-100'::integer::double precision AND target_change_pct <= 1000::double precision);
ALTER TABLE municipality_priorities ADD CONSTRAINT municipality_priorities_theme_check CHECK (theme ~ '^[a-z][a-z0-9_]{0,39}$'::text);
ALTER TABLE municipality_priorities ADD CONSTRAINT municipality_priorities_weight_check CHECK (weight >= 0::double precision AND weight <= 10::double precision);
ALTER TABLE open311_rate ADD CONSTRAINT open311_rate_pkey PRIMARY KEY (client, window_start);
ALTER TABLE provider_media_deletions ADD CONSTRAINT provider_media_deletions_media_sid_check CHECK (media_sid ~ '^[A-Za-z0-9]{2,64}$'::text);
ALTER TABLE provider_media_deletions ADD CONSTRAINT provider_media_deletions_message_sid_check CHECK (message_sid ~ '^[A-Za-z0-9]{2,64}$'::text);
ALTER TABLE provider_media_deletions ADD CONSTRAINT provider_media_deletions_pkey PRIMARY KEY (message_sid, media_sid);
ALTER TABLE public_tip_rate ADD CONSTRAINT public_tip_rate_pkey PRIMARY KEY (bucket, window_start);
ALTER TABLE rate_buckets ADD CONSTRAINT rate_buckets_pkey PRIMARY KEY (name);
ALTER TABLE resident_addresses ADD CONSTRAINT resident_addresses_address_id_fkey FOREIGN KEY (address_id) REFERENCES addresses(id);
ALTER TABLE resident_addresses ADD CONSTRAINT resident_addresses_channels_check CHECK (cardinality(channels) > 0 AND channels <@ ARRAY['sms'::text, 'voice'::text]);
ALTER TABLE resident_addresses ADD CONSTRAINT resident_addresses_check CHECK ((quiet_start IS NULL) = (quiet_end IS NULL));
ALTER TABLE resident_addresses ADD CONSTRAINT resident_addresses_label_check CHECK (length(label) >= 1 AND length(label) <= 40);
ALTER TABLE resident_addresses ADD CONSTRAINT resident_addresses_pkey PRIMARY KEY (id);
ALTER TABLE resident_addresses ADD CONSTRAINT resident_addresses_resident_id_address_id_key UNIQUE (resident_id, address_id);
ALTER TABLE resident_addresses ADD CONSTRAINT resident_addresses_resident_id_fkey FOREIGN KEY (resident_id) REFERENCES residents(id) ON DELETE CASCADE;
ALTER TABLE resident_addresses ADD CONSTRAINT resident_addresses_time_windows_check CHECK (time_windows IS NULL OR jsonb_typeof(time_windows) = 'array'::text);
ALTER TABLE resident_fatigue ADD CONSTRAINT resident_fatigue_check CHECK (cardinality(alerts) = cardinality(times));
ALTER TABLE resident_fatigue ADD CONSTRAINT resident_fatigue_pkey PRIMARY KEY (resident_id);
ALTER TABLE residents ADD CONSTRAINT residents_language_check CHECK (language = ANY (ARRAY['nl'::text, 'en'::text]));
ALTER TABLE residents ADD CONSTRAINT residents_move_address_id_fkey FOREIGN KEY (move_address_id) REFERENCES addresses(id) ON DELETE SET NULL;
ALTER TABLE residents ADD CONSTRAINT residents_phone_check CHECK (phone ~ '^\+[1-9]\d{6,14}$'::text);
ALTER TABLE residents ADD CONSTRAINT residents_phone_key UNIQUE (phone);
ALTER TABLE residents ADD CONSTRAINT residents_phone_kind_check CHECK (phone_kind = ANY (ARRAY['mobile'::text, 'landline'::text, 'voip'::text, 'other'::text]));
ALTER TABLE residents ADD CONSTRAINT residents_pkey PRIMARY KEY (id);
ALTER TABLE residents ADD CONSTRAINT residents_status_check CHECK (status = ANY (ARRAY['active'::text, 'stopped'::text]));
ALTER TABLE schema_migrations ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);
ALTER TABLE signal_cells ADD CONSTRAINT signal_cells_municipality_code_buurt_code_category_key UNIQUE (municipality_code, buurt_code, category);
ALTER TABLE signal_cells ADD CONSTRAINT signal_cells_pkey PRIMARY KEY (id);
ALTER TABLE signal_cubes ADD CONSTRAINT signal_cubes_pkey PRIMARY KEY (municipality_code, year, params);
ALTER TABLE signal_cubes ADD CONSTRAINT signal_cubes_token_key UNIQUE (token);
ALTER TABLE signal_daily ADD CONSTRAINT signal_daily_pkey PRIMARY KEY (municipality_code, day, buurt_code, category);
ALTER TABLE signal_dirty_days ADD CONSTRAINT signal_dirty_days_pkey PRIMARY KEY (municipality_code, day);
ALTER TABLE signal_monthly ADD CONSTRAINT signal_monthly_pkey PRIMARY KEY (municipality_code, month, buurt_code, category);
ALTER TABLE signal_reports ADD CONSTRAINT signal_reports_municipality_code_kind_period_label_key UNIQUE (municipality_code, kind, period_label);
ALTER TABLE signal_reports ADD CONSTRAINT signal_reports_pkey PRIMARY KEY (id);
ALTER TABLE signal_rollup_state ADD CONSTRAINT signal_rollup_state_id_check CHECK (id);
ALTER TABLE signal_rollup_state ADD CONSTRAINT signal_rollup_state_pkey PRIMARY KEY (id);
ALTER TABLE signal_rollup_years ADD CONSTRAINT signal_rollup_years_pkey PRIMARY KEY (municipality_code, year);
ALTER TABLE signals ADD CONSTRAINT signals_buurt_code_check CHECK (buurt_code ~ '^BU\d{8}$'::text);
ALTER TABLE signals ADD CONSTRAINT signals_category_check CHECK (category ~ '^[a-z][a-z0-9_]{0,39}$'::text);
ALTER TABLE signals ADD CONSTRAINT signals_ckey_check CHECK (ckey >= 0);
ALTER TABLE signals ADD CONSTRAINT signals_municipality_code_check CHECK (municipality_code ~ '^GM\d{4}$'::text);
ALTER TABLE signals ADD CONSTRAINT signals_pkey PRIMARY KEY (id);
ALTER TABLE signals ADD CONSTRAINT signals_public_id_key UNIQUE (public_id);
ALTER TABLE signals ADD CONSTRAINT signals_severity_check CHECK (severity >= 1 AND severity <= 5);
ALTER TABLE signals ADD CONSTRAINT signals_source_check CHECK (source = ANY (ARRAY['interview'::text, 'schouw'::text, 'sms'::text, 'open311'::text, 'handhaving'::text]));
ALTER TABLE signals ADD CONSTRAINT signals_status_check CHECK (status = ANY (ARRAY['open'::text, 'closed'::text]));
ALTER TABLE signals ADD CONSTRAINT signals_status_notes_check CHECK (length(status_notes) <= 1000);
ALTER TABLE signals ADD CONSTRAINT signals_text_check CHECK (length(text) <= 4000);
ALTER TABLE staff_tokens ADD CONSTRAINT staff_tokens_pkey PRIMARY KEY (id);
ALTER TABLE staff_tokens ADD CONSTRAINT staff_tokens_token_hash_key UNIQUE (token_hash);
ALTER TABLE staff_tokens ADD CONSTRAINT staff_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES staff_users(id) ON DELETE CASCADE;
ALTER TABLE staff_users ADD CONSTRAINT staff_users_control_room_number_check CHECK (control_room_number ~ '^\+[1-9][0-9]{6,14}$'::text);
ALTER TABLE staff_users ADD CONSTRAINT staff_users_municipalities_check CHECK (cardinality(municipalities) > 0);
ALTER TABLE staff_users ADD CONSTRAINT staff_users_name_check CHECK (length(name) >= 1 AND length(name) <= 200);
ALTER TABLE staff_users ADD CONSTRAINT staff_users_pkey PRIMARY KEY (id);
ALTER TABLE staff_users ADD CONSTRAINT staff_users_role_check CHECK (role = ANY (ARRAY['operator'::text, 'analyst'::text, 'fieldworker'::text, 'admin'::text, 'wijkagent'::text]));
ALTER TABLE staff_users ADD CONSTRAINT staff_users_wijken_check CHECK ((role = 'wijkagent'::text) = (cardinality(wijken) > 0));
ALTER TABLE stats_counter_shards ADD CONSTRAINT stats_counter_shards_pkey PRIMARY KEY (name, shard);
ALTER TABLE tip_calls ADD CONSTRAINT tip_calls_pkey PRIMARY KEY (call_sid);
ALTER TABLE tip_media ADD CONSTRAINT tip_media_bytes_check CHECK (bytes >= 0);
ALTER TABLE tip_media ADD CONSTRAINT tip_media_check CHECK ((status = 'stored'::text) = (data IS NOT NULL));
ALTER TABLE tip_media ADD CONSTRAINT tip_media_check1 CHECK (status <> 'pending'::text OR source_url IS NOT NULL);
ALTER TABLE tip_media ADD CONSTRAINT tip_media_declared_type_check CHECK (length(declared_type) <= 255);
ALTER TABLE tip_media ADD CONSTRAINT tip_media_error_check CHECK (length(error) <= 500);
ALTER TABLE tip_media ADD CONSTRAINT tip_media_height_check CHECK (height > 0);
ALTER TABLE tip_media ADD CONSTRAINT tip_media_n_check CHECK (n >= 0 AND n <= 9);
ALTER TABLE tip_media ADD CONSTRAINT tip_media_pkey PRIMARY KEY (tip_id, n);
ALTER TABLE tip_media ADD CONSTRAINT tip_media_source_url_check CHECK (length(source_url) <= 2048);
ALTER TABLE tip_media ADD CONSTRAINT tip_media_status_check CHECK (status = ANY (ARRAY['pending'::text, 'stored'::text, 'not_kept'::text, 'failed'::text, 'erased'::text]));
ALTER TABLE tip_media ADD CONSTRAINT tip_media_tip_id_fkey FOREIGN KEY (tip_id) REFERENCES tips(id) ON DELETE CASCADE;
ALTER TABLE tip_media ADD CONSTRAINT tip_media_width_check CHECK (width > 0);
ALTER TABLE tip_relay ADD CONSTRAINT tip_relay_pkey PRIMARY KEY (id);
ALTER TABLE tips ADD CONSTRAINT tips_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES alerts(id) ON DELETE SET NULL;
ALTER TABLE tips ADD CONSTRAINT tips_channel_check CHECK (channel = ANY (ARRAY['sms'::text, 'voice'::text, 'web'::text]));
ALTER TABLE tips ADD CONSTRAINT tips_check CHECK (NOT anonymous OR phone IS NULL AND resident_id IS NULL);
ALTER TABLE tips ADD CONSTRAINT tips_pkey PRIMARY KEY (id);
ALTER TABLE tips ADD CONSTRAINT tips_provider_sid_key UNIQUE (provider_sid);
ALTER TABLE tips ADD CONSTRAINT tips_relay_id_fkey FOREIGN KEY (relay_id) REFERENCES tip_relay(id) ON DELETE SET NULL;
ALTER TABLE tips ADD CONSTRAINT tips_resident_id_fkey FOREIGN KEY (resident_id) REFERENCES residents(id) ON DELETE SET NULL;
ALTER TABLE tips ADD CONSTRAINT tips_status_check CHECK (status = ANY (ARRAY['new'::text, 'read'::text, 'useful'::text, 'not_useful'::text]));

CREATE INDEX addresses_buurt ON public.addresses USING btree (buurt_code);
CREATE INDEX addresses_location ON public.addresses USING gist (location);
CREATE INDEX addresses_municipality ON public.addresses USING btree (municipality_code);
CREATE INDEX addresses_wijk ON public.addresses USING btree (wijk_code);
CREATE UNIQUE INDEX alert_templates_name ON public.alert_templates USING btree (COALESCE(municipality_code, ''::text), lower(name));
CREATE INDEX alert_updates_incomplete ON public.alert_updates USING btree (created_at) WHERE (NOT complete);
CREATE INDEX alert_waves_incomplete ON public.alert_waves USING btree (created_at) WHERE (NOT complete);
CREATE INDEX alerts_awaiting_approval ON public.alerts USING btree (id) WHERE (status = 'awaiting_approval'::text);
CREATE INDEX alerts_created ON public.alerts USING btree (created_at DESC);
CREATE UNIQUE INDEX alerts_live_reference ON public.alerts USING btree (reference) WHERE (status = ANY (ARRAY['draft'::text, 'awaiting_approval'::text, 'sending'::text, 'active'::text]));
CREATE INDEX alerts_materialising ON public.alerts USING btree (id) WHERE (materialise_cursor IS NOT NULL);
CREATE INDEX alerts_municipalities ON public.alerts USING gin (municipalities);
CREATE UNIQUE INDEX alerts_public_token ON public.alerts USING btree (public_token) WHERE (public_token IS NOT NULL);
CREATE INDEX alerts_sent_at ON public.alerts USING btree (sent_at) WHERE (sent_at IS NOT NULL);
CREATE INDEX alerts_widen_due ON public.alerts USING btree (widen_next_at) WHERE (widen_next_at IS NOT NULL);
CREATE INDEX area_figures_municipality ON public.area_figures USING btree (municipality_code);
CREATE INDEX areas_bbox ON public.areas USING gist (bbox);
CREATE INDEX areas_municipality ON public.areas USING btree (municipality_code, level);
CREATE INDEX bulletins_municipality ON public.bulletins USING btree (municipality_code, id DESC);
CREATE INDEX call_slots_expires_at ON public.call_slots USING btree (expires_at);
CREATE INDEX code_requests_at ON public.code_requests USING btree (at);
CREATE INDEX code_requests_ip ON public.code_requests USING btree (ip, at);
CREATE INDEX code_requests_phone ON public.code_requests USING btree (phone, at);
CREATE INDEX code_requests_prefix ON public.code_requests USING btree (prefix, at);
CREATE INDEX deliveries_alert_state ON ONLY public.deliveries USING btree (alert_id, kind, state) INCLUDE (channel);
CREATE INDEX deliveries_alert_updates ON ONLY public.deliveries USING btree (alert_id, seq, state) INCLUDE (channel) WHERE (kind = 'update'::text);
CREATE INDEX deliveries_bulletins ON ONLY public.deliveries USING btree (resident_id, created_at) WHERE (kind = 'bulletin'::text);
CREATE INDEX deliveries_claims ON ONLY public.deliveries USING btree (claimed_at) WHERE (state = 'sending'::text);
CREATE INDEX deliveries_created ON ONLY public.deliveries USING brin (created_at);
CREATE INDEX deliveries_expiry ON ONLY public.deliveries USING btree (expires_at) WHERE (state = 'queued'::text);
CREATE INDEX deliveries_fallback_of ON ONLY public.deliveries USING btree (fallback_of) WHERE (fallback_of IS NOT NULL);
CREATE UNIQUE INDEX deliveries_provider_sid ON ONLY public.deliveries USING btree (provider_sid, alert_month) WHERE (provider_sid IS NOT NULL);
CREATE INDEX deliveries_queue ON ONLY public.deliveries USING btree (channel, not_before, id) WHERE (state = 'queued'::text);
CREATE INDEX deliveries_resident_recent ON ONLY public.deliveries USING btree (resident_id, created_at);
CREATE INDEX deliveries_sent ON ONLY public.deliveries USING btree (updated_at) WHERE (state = 'sent'::text);
CREATE INDEX enrolments_phone ON public.enrolments USING btree (phone);
CREATE INDEX gebiedsscan_municipality ON public.gebiedsscan USING btree (municipality_code, period_start);
CREATE INDEX mijn_logins_phone ON public.mijn_logins USING btree (phone);
CREATE INDEX mijn_sessions_resident ON public.mijn_sessions USING btree (resident_id);
CREATE INDEX provider_media_deletions_due ON public.provider_media_deletions USING btree (next_attempt_at);
CREATE INDEX resident_addresses_address ON public.resident_addresses USING btree (address_id);
CREATE INDEX resident_addresses_buurt ON public.resident_addresses USING btree (buurt_code) WHERE active;
CREATE INDEX resident_addresses_municipality ON public.resident_addresses USING btree (municipality_code) WHERE active;
CREATE INDEX resident_addresses_target ON public.resident_addresses USING gist (location) INCLUDE (resident_id, channel_bits, quiet_start, quiet_end, municipality_code, paused_until, pause_all, visit_until, time_windows) WHERE (active AND sole);
CREATE INDEX resident_addresses_target_multi ON public.resident_addresses USING gist (location) INCLUDE (resident_id, channel_bits, quiet_start, quiet_end, municipality_code, paused_until, pause_all, visit_until, time_windows) WHERE (active AND (NOT sole));
CREATE INDEX resident_addresses_visits ON public.resident_addresses USING btree (visit_until) WHERE (visit_until IS NOT NULL);
CREATE INDEX resident_addresses_wijk ON public.resident_addresses USING btree (wijk_code) WHERE active;
CREATE INDEX resident_fatigue_entries ON public.resident_fatigue USING btree (cardinality(alerts));
CREATE INDEX residents_exercise ON public.residents USING btree (id) WHERE exercise;
CREATE INDEX signals_cell_counts ON public.signals USING btree (municipality_code, observed_month, cell, severity, ckey);
CREATE INDEX signals_municipality_day ON public.signals USING btree (municipality_code, observed_on) INCLUDE (buurt_code, category, severity);
CREATE INDEX signals_municipality_list ON public.signals USING btree (municipality_code, id DESC);
CREATE INDEX signals_retention ON public.signals USING btree (created_at) WHERE ((text IS NOT NULL) OR (location IS NOT NULL));
CREATE INDEX staff_tokens_user ON public.staff_tokens USING btree (user_id);
CREATE INDEX tip_media_due ON public.tip_media USING btree (next_attempt_at) WHERE (source_url IS NOT NULL);
CREATE INDEX tip_relay_created ON public.tip_relay USING btree (created_at);
CREATE INDEX tip_relay_phone_hash ON public.tip_relay USING btree (phone_hash);
CREATE INDEX tips_alert ON public.tips USING btree (alert_id, received_at DESC);
CREATE INDEX tips_municipalities ON public.tips USING gin (municipalities);
CREATE INDEX tips_phone ON public.tips USING btree (phone) WHERE (phone IS NOT NULL);
CREATE INDEX tips_received ON public.tips USING btree (received_at DESC);

CREATE VIEW stats_counters AS
 SELECT name,
    sum(value)::bigint AS value
   FROM stats_counter_shards
  GROUP BY name;

CREATE SEQUENCE signal_rollup_generation;

CREATE OR REPLACE FUNCTION public.addresses_propagate()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    UPDATE resident_addresses ra
    SET location = n.location, buurt_code = n.buurt_code, wijk_code = n.wijk_code,
        municipality_code = n.municipality_code
    FROM changed n
    WHERE ra.address_id = n.id
      AND (ra.location[0], ra.location[1], ra.buurt_code, ra.wijk_code, ra.municipality_code)
          IS DISTINCT FROM (n.location[0], n.location[1], n.buurt_code, n.wijk_code, n.municipality_code);
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.addresses_widen_extents()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- in code order, so two imports at once lock the rows they share in the same order
    INSERT INTO municipality_extents AS e (municipality_code, extent)
    SELECT municipality_code, box(point(min(location[0]), min(location[1])), point(max(location[0]), max(location[1])))
    FROM placed WHERE municipality_code IS NOT NULL
    GROUP BY municipality_code ORDER BY municipality_code
    ON CONFLICT (municipality_code) DO UPDATE SET extent = bound_box(e.extent, EXCLUDED.extent)
        WHERE NOT e.extent @> EXCLUDED.extent;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.alerts_deleted_deliveries()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM gone);
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.audit_append(p_actor text, p_action text, p_object_type text, p_object_id text, p_details jsonb)
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_prev text;
    v_at   timestamptz := clock_timestamp();
    v_id   bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(4346177);  -- fixed key for the audit chain
    SELECT hash INTO v_prev FROM audit_log ORDER BY id DESC LIMIT 1;
    v_prev := coalesce(v_prev, repeat('0', 64));
    INSERT INTO audit_log (at, actor, action, object_type, object_id, details, prev_hash, hash)
    VALUES (v_at, p_actor, p_action, p_object_type, p_object_id, coalesce(p_details, '{}'::jsonb), v_prev,
            audit_hash(v_prev, v_at, p_actor, p_action, p_object_type, p_object_id,
                       coalesce(p_details, '{}'::jsonb)))
    RETURNING id INTO v_id;
    RETURN v_id;
END $function$;

CREATE OR REPLACE FUNCTION public.audit_hash(prev text, at timestamp with time zone, actor text, action text, object_type text, object_id text, details jsonb)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT encode(sha256(convert_to(concat_ws(E'\x1f',
        prev,
        (extract(epoch FROM at) * 1000000)::bigint::text,
        actor, action, coalesce(object_type, ''), coalesce(object_id, ''),
        details::text), 'UTF8')), 'hex')
$function$;

CREATE OR REPLACE FUNCTION public.audit_log_refuse_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $function$;

CREATE OR REPLACE FUNCTION public.deliveries_counted_fatigue()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
END $function$;

CREATE OR REPLACE FUNCTION public.deliveries_deleted_fallbacks()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    UPDATE deliveries SET fallback_of = NULL WHERE fallback_of IN (SELECT id FROM gone);
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.deliveries_deleted_fatigue()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM fatigue_rebuild(array_agg(DISTINCT g.resident_id))
    FROM gone g JOIN resident_fatigue f ON f.resident_id = g.resident_id AND g.alert_id = ANY (f.alerts)
    WHERE g.kind = 'alert' AND g.level = 'regular'
    HAVING count(*) > 0;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.deliveries_inserted_fatigue()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
END $function$;

CREATE OR REPLACE FUNCTION public.deliveries_partitions_ahead(p_months integer)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
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
END $function$;

CREATE OR REPLACE FUNCTION public.fatigue_entries_of(p_resident bigint, OUT alerts bigint[], OUT times timestamp with time zone[])
 RETURNS record
 LANGUAGE sql
 STABLE
AS $function$
    SELECT coalesce(array_agg(alert_id ORDER BY at DESC, alert_id DESC), '{}'),
           coalesce(array_agg(at ORDER BY at DESC, alert_id DESC), '{}')
    FROM (SELECT d.alert_id, max(d.created_at) AS at FROM deliveries d
          WHERE d.resident_id = p_resident AND d.kind = 'alert' AND d.level = 'regular'
            AND d.state NOT IN ('skipped', 'cancelled', 'expired')
            AND d.created_at > now() - interval '24 hours'
          GROUP BY d.alert_id) x
$function$;

CREATE OR REPLACE FUNCTION public.fatigue_rebuild(p_residents bigint[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- made or locked in one step (a purge deleting an empty row cannot slip in between)
    INSERT INTO resident_fatigue AS f (resident_id)
    SELECT DISTINCT r FROM unnest(p_residents) r WHERE r IS NOT NULL ORDER BY 1
    ON CONFLICT (resident_id) DO UPDATE SET alerts = f.alerts;
    -- a new statement: its snapshot sees whatever the lock's previous holders committed
    UPDATE resident_fatigue f SET (alerts, times) = (SELECT e.alerts, e.times FROM fatigue_entries_of(f.resident_id) e)
    WHERE f.resident_id = ANY (p_residents);
END $function$;

CREATE OR REPLACE FUNCTION public.materialise_chunks_stop()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    DELETE FROM materialise_chunks WHERE alert_id = NEW.id;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.resident_address_targeted(paused_until timestamp with time zone, pause_all boolean, visit_until timestamp with time zone, time_windows jsonb, level text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
AS $function$
    SELECT (visit_until IS NULL OR visit_until > now())
       AND (visit_until IS NOT NULL OR paused_until IS NULL OR paused_until <= now()
            OR (level <> 'regular' AND NOT pause_all))
       AND (time_windows IS NULL OR resident_window_open(time_windows))
$function$;

CREATE OR REPLACE FUNCTION public.resident_addresses_fill()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
    -- the resident's pause is copied too (residents_self_service.sql keeps it current)
    SELECT r.status = 'active', r.paused_until, coalesce(r.pause_all, false)
    INTO NEW.active, NEW.paused_until, NEW.pause_all
    FROM residents r WHERE r.id = NEW.resident_id;
    RETURN NEW;
END $function$;

CREATE OR REPLACE FUNCTION public.resident_addresses_recount()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
END $function$;

CREATE OR REPLACE FUNCTION public.resident_window_open(windows jsonb, at timestamp with time zone DEFAULT now())
 RETURNS boolean
 LANGUAGE sql
 STABLE
AS $function$
    SELECT windows IS NULL OR jsonb_array_length(windows) = 0 OR EXISTS (
        SELECT 1
        FROM jsonb_array_elements(windows) w,
             LATERAL (SELECT at AT TIME ZONE 'Europe/Amsterdam' AS lt) l,
             LATERAL (SELECT (w->>'start')::time AS s, (w->>'end')::time AS e) t
        WHERE CASE WHEN t.s < t.e
                   THEN (w->'days') @> to_jsonb(extract(isodow FROM l.lt)::int)
                        AND l.lt::time >= t.s AND l.lt::time < t.e
                   ELSE ((w->'days') @> to_jsonb(extract(isodow FROM l.lt)::int) AND l.lt::time >= t.s)
                        OR ((w->'days') @> to_jsonb(extract(isodow FROM l.lt - interval '1 day')::int)
                            AND l.lt::time < t.e)
              END)
$function$;

CREATE OR REPLACE FUNCTION public.residents_erased_deliveries()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    UPDATE deliveries SET resident_id = NULL WHERE resident_id IN (SELECT id FROM gone);
    DELETE FROM resident_fatigue WHERE resident_id IN (SELECT id FROM gone);
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.residents_propagate_pause()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    UPDATE resident_addresses SET paused_until = NEW.paused_until, pause_all = NEW.pause_all
    WHERE resident_id = NEW.id
      AND (paused_until, pause_all) IS DISTINCT FROM (NEW.paused_until, NEW.pause_all);
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.residents_propagate_status()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    UPDATE resident_addresses SET active = (NEW.status = 'active')
    WHERE resident_id = NEW.id AND active IS DISTINCT FROM (NEW.status = 'active');
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.signals_fill_cell()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    SELECT id INTO NEW.cell FROM signal_cells
    WHERE municipality_code = NEW.municipality_code AND buurt_code = NEW.buurt_code
      AND category = NEW.category;
    IF NOT FOUND THEN
        INSERT INTO signal_cells (municipality_code, buurt_code, category)
        VALUES (NEW.municipality_code, NEW.buurt_code, NEW.category)
        ON CONFLICT (municipality_code, buurt_code, category) DO UPDATE SET category = EXCLUDED.category
        RETURNING id INTO NEW.cell;
    END IF;
    RETURN NEW;
END $function$;

CREATE OR REPLACE FUNCTION public.signals_keep_ckey()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    NEW.ckey := OLD.ckey;
    RETURN NEW;
END $function$;

CREATE OR REPLACE FUNCTION public.signals_mark_days(codes text[], days date[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    wanted integer := coalesce(cardinality(codes), 0);
    held integer;
BEGIN
    IF wanted = 0 THEN
        RETURN;  -- a statement that changed no row
    END IF;
    LOOP
        INSERT INTO signal_dirty_days (municipality_code, day)
        SELECT * FROM unnest(codes, days) ON CONFLICT DO NOTHING;
        SELECT count(*) INTO held FROM (
            SELECT 1 FROM signal_dirty_days s
            JOIN unnest(codes, days) AS u(code, day) ON s.municipality_code = u.code AND s.day = u.day
            FOR KEY SHARE OF s) locked;
        EXIT WHEN held >= wanted;  -- else a rollup deleted one meanwhile: mark it again
    END LOOP;
END $function$;

CREATE OR REPLACE FUNCTION public.signals_mark_dirty_both()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM signals_mark_days(array_agg(municipality_code), array_agg(observed_on))
    FROM (SELECT municipality_code, observed_on FROM old_rows
          UNION SELECT municipality_code, observed_on FROM new_rows) d;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.signals_mark_dirty_new()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM signals_mark_days(array_agg(municipality_code), array_agg(observed_on))
    FROM (SELECT DISTINCT municipality_code, observed_on FROM new_rows) d;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.signals_mark_dirty_old()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM signals_mark_days(array_agg(municipality_code), array_agg(observed_on))
    FROM (SELECT DISTINCT municipality_code, observed_on FROM old_rows) d;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.sms_enrol(p_phone text, p_phone_kind text, p_postcode text, p_number integer, p_letter text, p_addition text, p_max integer, OUT outcome text, OUT language text, OUT postcode text, OUT house_number integer, OUT house_letter text, OUT addition text)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
DECLARE
    r residents;
    a_id bigint;
    ids bigint[];
    rid bigint;
BEGIN
    SELECT * INTO r FROM residents WHERE phone = p_phone FOR UPDATE;
    language := coalesce(r.language, 'nl');
    SELECT a.id, a.postcode, a.house_number, a.house_letter, a.addition
    INTO a_id, postcode, house_number, house_letter, addition
    FROM addresses a
    WHERE a.postcode = p_postcode AND a.house_number = p_number
      AND a.house_letter = upper(coalesce(p_letter, '')) AND a.addition = upper(coalesce(p_addition, ''));
    IF a_id IS NULL THEN
        outcome := 'address_unknown';
        RETURN;
    END IF;
    IF r.id IS NOT NULL THEN
        -- the addresses that count towards the maximum: visits only while they last
        ids := ARRAY(SELECT ra.address_id FROM resident_addresses ra
                     WHERE ra.resident_id = r.id AND (ra.visit_until IS NULL OR ra.visit_until > now()));
        IF a_id = ANY (ids) AND r.status = 'active' THEN
            outcome := 'already_enrolled';
            RETURN;
        END IF;
        IF NOT a_id = ANY (ids) AND cardinality(ids) >= p_max THEN
            outcome := 'too_many_addresses';
            RETURN;
        END IF;
    END IF;
    INSERT INTO residents (phone, phone_kind, status, language) VALUES (p_phone, p_phone_kind, 'active', language)
    ON CONFLICT (phone) DO UPDATE SET status = 'active', stopped_at = NULL, language = EXCLUDED.language
    RETURNING id INTO rid;
    ids := ARRAY(SELECT ra.address_id FROM resident_addresses ra
                 WHERE ra.resident_id = rid AND (ra.visit_until IS NULL OR ra.visit_until > now()));
    IF r.id IS NULL THEN
        -- the number was new when read, but a concurrent first AANMELDEN may have made
        -- the resident in between (the upsert waited for it and now holds its row): its
        -- addresses count, so the maximum is checked again (the upsert changed nothing
        -- that matters: the row was made active a moment ago)
        IF a_id = ANY (ids) THEN
            outcome := 'already_enrolled';
            RETURN;
        END IF;
        IF cardinality(ids) >= p_max THEN
            outcome := 'too_many_addresses';
            RETURN;
        END IF;
    END IF;
    INSERT INTO resident_addresses (resident_id, address_id, label, channels, quiet_start, quiet_end)
    VALUES (rid, a_id, CASE WHEN cardinality(ids) = 0 THEN 'thuis' ELSE 'adres ' || (cardinality(ids) + 1) END,
            ARRAY['sms'], NULL, NULL)
    ON CONFLICT (resident_id, address_id) DO UPDATE
        SET label = EXCLUDED.label, channels = EXCLUDED.channels,
            quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end;
    INSERT INTO stats_counter_shards (name, shard, value) VALUES ('enrolments_sms', pg_backend_pid() % 1024, 1)
    ON CONFLICT (name, shard) DO UPDATE SET value = stats_counter_shards.value + 1;
    outcome := 'enrolled';
END $function$;

CREATE OR REPLACE FUNCTION public.sms_enrol_inbound(p_sid text, p_kind text, p_phone text, p_phone_kind text, p_postcode text, p_number integer, p_letter text, p_addition text, p_max integer, p_replies jsonb, OUT answer text)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE
    e record;
BEGIN
    INSERT INTO inbound_messages (sid, kind) VALUES (p_sid, p_kind) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT m.reply INTO answer FROM inbound_messages m WHERE m.sid = p_sid;
        RETURN;
    END IF;
    SELECT * INTO e FROM sms_enrol(p_phone, p_phone_kind, p_postcode, p_number, p_letter, p_addition, p_max);
    answer := coalesce(p_replies -> e.language, p_replies -> 'nl') ->> e.outcome;
    UPDATE inbound_messages m SET reply = answer WHERE m.sid = p_sid;
END $function$;

CREATE OR REPLACE FUNCTION public.sms_enrol_inbound_batch(p_sids text[], p_kinds text[], p_phones text[], p_phone_kinds text[], p_postcodes text[], p_numbers integer[], p_letters text[], p_additions text[], p_max integer, p_replies jsonb)
 RETURNS TABLE(idx integer, answer text)
 LANGUAGE plpgsql
AS $function$
BEGIN
    FOR i IN 1 .. cardinality(p_sids) LOOP
        idx := i;
        answer := sms_enrol_inbound(p_sids[i], p_kinds[i], p_phones[i], p_phone_kinds[i], p_postcodes[i], p_numbers[i],
                                    p_letters[i], p_additions[i], p_max, p_replies -> (i - 1));
        RETURN NEXT;
    END LOOP;
END $function$;

CREATE OR REPLACE FUNCTION public.tip_link(p_phone text, p_ref text, p_delivery_id bigint)
 RETURNS TABLE(alert_id bigint, candidate_alerts bigint[], municipalities text[], refs text[], by_reference boolean, resident_id bigint, lang text)
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    v_rid   bigint;
    v_lang  text;
    v_ids   bigint[];
    v_refs  text[];
    v_alert bigint;
    v_cands bigint[];
    v_munis text[];
    v_pos   integer;
BEGIN
    IF p_phone IS NOT NULL THEN
        SELECT r.id, r.language INTO v_rid, v_lang FROM residents r WHERE r.phone = p_phone;
    END IF;
    v_lang := coalesce(v_lang, 'nl');

    IF p_delivery_id IS NOT NULL THEN
        SELECT a.id, a.municipalities INTO v_alert, v_munis
        FROM deliveries d JOIN alerts a ON a.id = d.alert_id WHERE d.id = p_delivery_id;
        IF v_alert IS NOT NULL THEN
            RETURN QUERY SELECT v_alert, NULL::bigint[], v_munis, NULL::text[], false, v_rid, v_lang;
            RETURN;
        END IF;
    END IF;

    SELECT array_agg(x.id ORDER BY x.received_at DESC), array_agg(x.reference ORDER BY x.received_at DESC)
    INTO v_ids, v_refs
    FROM (SELECT a.id, a.reference, max(coalesce(d.sent_at, d.updated_at)) AS received_at
          FROM deliveries d
          JOIN alerts a ON a.id = d.alert_id AND a.status IN ('sending', 'active') AND a.expires_at > now()
          WHERE v_rid IS NOT NULL AND d.resident_id = v_rid AND d.kind IN ('alert', 'update')
            AND d.state IN ('sent', 'delivered')
          GROUP BY a.id, a.reference) x;

    v_pos := CASE WHEN p_ref IS NULL THEN NULL ELSE array_position(v_refs, p_ref) END;
    IF coalesce(array_length(v_ids, 1), 0) = 1 OR v_pos IS NOT NULL THEN
        v_alert := v_ids[coalesce(v_pos, 1)];
        SELECT a.municipalities INTO v_munis FROM alerts a WHERE a.id = v_alert;
    ELSIF coalesce(array_length(v_ids, 1), 0) > 1 THEN
        v_cands := v_ids;
        SELECT array_agg(DISTINCT m) INTO v_munis FROM alerts a, unnest(a.municipalities) m WHERE a.id = ANY(v_ids);
    ELSE
        SELECT array_remove(array_agg(DISTINCT ad.municipality_code), NULL) INTO v_munis
        FROM resident_addresses ra JOIN addresses ad ON ad.id = ra.address_id WHERE ra.resident_id = v_rid;
    END IF;
    RETURN QUERY SELECT v_alert, v_cands, coalesce(v_munis, '{}'), v_refs, v_pos IS NOT NULL, v_rid, v_lang;
END $function$;

CREATE OR REPLACE FUNCTION public.tip_sms_intake(p_sid text, p_phone text, p_text text, p_ref text, p_rest text, p_kind text, p_anonymous boolean, p_relay_cipher text, p_relay_hash bytea, p_texts jsonb)
 RETURNS TABLE(reply text, tip_id bigint, duplicate boolean, linked boolean)
 LANGUAGE plpgsql
AS $function$
DECLARE
    l           record;
    v_text      text := p_text;
    v_reply     text;
    v_relay     bigint;
    v_tip       bigint;
    v_received  timestamptz;
BEGIN
    SELECT * INTO l FROM tip_link(p_phone, p_ref, NULL);
    IF l.alert_id IS NOT NULL THEN
        IF l.by_reference AND p_rest <> '' THEN
            v_text := p_rest;
        END IF;
        v_reply := p_texts -> l.lang ->> 'thanks';
    ELSIF l.candidate_alerts IS NOT NULL THEN
        v_reply := replace(replace(p_texts -> l.lang ->> 'which', '{example}', l.refs[1]),
                           '{references}', array_to_string(l.refs, ', '));
    ELSE
        v_reply := p_texts -> l.lang ->> 'thanks';
    END IF;

    -- claim the MessageSid together with its reply: a retry, or a concurrent duplicate
    -- (this waits for it to commit), finds the claim taken and answers with the reply
    -- stored then
    INSERT INTO inbound_messages (sid, kind, reply) VALUES (p_sid, p_kind, v_reply)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT m.reply, NULL::bigint, true, false FROM inbound_messages m WHERE m.sid = p_sid;
        RETURN;
    END IF;

    IF p_anonymous THEN
        INSERT INTO tip_relay (phone_cipher, phone_hash) VALUES (p_relay_cipher, p_relay_hash) RETURNING id INTO v_relay;
    END IF;

    INSERT INTO tips (provider_sid, alert_id, candidate_alerts, municipalities, channel, text, anonymous, phone,
                      resident_id, relay_id)
    VALUES (p_sid, l.alert_id, l.candidate_alerts, l.municipalities, 'sms', left(v_text, 1600), p_anonymous,
            CASE WHEN p_anonymous THEN NULL ELSE p_phone END, CASE WHEN p_anonymous THEN NULL ELSE l.resident_id END,
            v_relay)
    ON CONFLICT (provider_sid) DO NOTHING
    RETURNING id, received_at INTO v_tip, v_received;

    IF v_tip IS NOT NULL THEN
        PERFORM pg_notify('bw_events', json_build_object(
            'type', 'tip',
            'topics', array['tips:*'] || array(SELECT 'tips:' || m FROM unnest(l.municipalities) m)
                      || array(SELECT 'alert:' || i
                               FROM unnest(array_remove(coalesce(l.candidate_alerts, '{}') || l.alert_id, NULL)) i),
            'tip', json_build_object(
                'id', v_tip, 'alert_id', l.alert_id,
                'reference', (SELECT a.reference FROM alerts a WHERE a.id = l.alert_id),
                'candidate_alerts', l.candidate_alerts, 'channel', 'sms', 'text', left(v_text, 1600),
                'recording_url', NULL, 'recording_seconds', NULL, 'anonymous', p_anonymous,
                'phone', CASE WHEN p_anonymous THEN NULL ELSE p_phone END, 'status', 'new', 'note', NULL, 'led_to_outcome', false,
                'received_at', v_received, 'erased', false,
                'media', '[]'::json))::text);  -- a picture message's media are noted just after
    END IF;
    RETURN QUERY SELECT v_reply, v_tip, false, l.alert_id IS NOT NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.tip_sms_intake_batch(p_sids text[], p_phones text[], p_texts text[], p_refs text[], p_rests text[], p_kinds text[], p_anonymous boolean[], p_relay_ciphers text[], p_relay_hashes bytea[], p_reply_texts jsonb)
 RETURNS TABLE(idx integer, reply text, tip_id bigint, duplicate boolean, linked boolean)
 LANGUAGE plpgsql
AS $function$
DECLARE
    i integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_sids, 1), 0) LOOP
        RETURN QUERY SELECT i, r.reply, r.tip_id, r.duplicate, r.linked
        FROM tip_sms_intake(p_sids[i], p_phones[i], p_texts[i], p_refs[i], p_rests[i], p_kinds[i], p_anonymous[i],
                            p_relay_ciphers[i], p_relay_hashes[i], p_reply_texts) r;
    END LOOP;
END $function$;

CREATE TRIGGER addresses_inserted_extents AFTER INSERT ON addresses REFERENCING NEW TABLE AS placed FOR EACH STATEMENT EXECUTE FUNCTION addresses_widen_extents();
CREATE TRIGGER addresses_propagate AFTER UPDATE ON addresses REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION addresses_propagate();
CREATE TRIGGER addresses_updated_extents AFTER UPDATE ON addresses REFERENCING NEW TABLE AS placed FOR EACH STATEMENT EXECUTE FUNCTION addresses_widen_extents();
CREATE TRIGGER alerts_deleted_deliveries AFTER DELETE ON alerts REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION alerts_deleted_deliveries();
CREATE TRIGGER alerts_materialise_stop AFTER UPDATE OF materialise_cursor ON alerts FOR EACH ROW WHEN (old.materialise_cursor IS NOT NULL AND new.materialise_cursor IS NULL) EXECUTE FUNCTION materialise_chunks_stop();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_update_delete BEFORE DELETE OR UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER deliveries_counted_fatigue AFTER UPDATE OF state, created_at, resident_id, alert_id, kind, level ON deliveries FOR EACH ROW WHEN ((old.kind = 'alert'::text AND old.level = 'regular'::text AND old.resident_id IS NOT NULL AND (old.state <> ALL (ARRAY['skipped'::text, 'cancelled'::text, 'expired'::text]))) IS DISTINCT FROM (new.kind = 'alert'::text AND new.level = 'regular'::text AND new.resident_id IS NOT NULL AND (new.state <> ALL (ARRAY['skipped'::text, 'cancelled'::text, 'expired'::text]))) OR old.kind = 'alert'::text AND old.level = 'regular'::text AND old.resident_id IS NOT NULL AND (old.state <> ALL (ARRAY['skipped'::text, 'cancelled'::text, 'expired'::text])) AND (old.created_at IS DISTINCT FROM new.created_at OR old.resident_id IS DISTINCT FROM new.resident_id OR old.alert_id IS DISTINCT FROM new.alert_id)) EXECUTE FUNCTION deliveries_counted_fatigue();
CREATE TRIGGER deliveries_deleted_fallbacks AFTER DELETE ON deliveries REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION deliveries_deleted_fallbacks();
CREATE TRIGGER deliveries_deleted_fatigue AFTER DELETE ON deliveries REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION deliveries_deleted_fatigue();
CREATE TRIGGER deliveries_inserted_fatigue AFTER INSERT ON deliveries REFERENCING NEW TABLE AS born FOR EACH STATEMENT EXECUTE FUNCTION deliveries_inserted_fatigue();
CREATE TRIGGER resident_addresses_added AFTER INSERT ON resident_addresses REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION resident_addresses_recount();
CREATE TRIGGER resident_addresses_fill BEFORE INSERT OR UPDATE OF address_id, resident_id ON resident_addresses FOR EACH ROW EXECUTE FUNCTION resident_addresses_fill();
CREATE TRIGGER resident_addresses_removed AFTER DELETE ON resident_addresses REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION resident_addresses_recount();
CREATE TRIGGER residents_erased_deliveries AFTER DELETE ON residents REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION residents_erased_deliveries();
CREATE TRIGGER residents_propagate_pause AFTER UPDATE OF paused_until, pause_all ON residents FOR EACH ROW WHEN (old.paused_until IS DISTINCT FROM new.paused_until OR old.pause_all IS DISTINCT FROM new.pause_all) EXECUTE FUNCTION residents_propagate_pause();
CREATE TRIGGER residents_propagate_status AFTER UPDATE OF status ON residents FOR EACH ROW WHEN (old.status IS DISTINCT FROM new.status) EXECUTE FUNCTION residents_propagate_status();
CREATE TRIGGER signals_cell BEFORE INSERT OR UPDATE OF municipality_code, buurt_code, category, cell ON signals FOR EACH ROW EXECUTE FUNCTION signals_fill_cell();
CREATE TRIGGER signals_ckey BEFORE UPDATE OF ckey ON signals FOR EACH ROW EXECUTE FUNCTION signals_keep_ckey();
CREATE TRIGGER signals_dirty_delete AFTER DELETE ON signals REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION signals_mark_dirty_old();
CREATE TRIGGER signals_dirty_insert AFTER INSERT ON signals REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION signals_mark_dirty_new();
CREATE TRIGGER signals_dirty_update AFTER UPDATE ON signals REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION signals_mark_dirty_both();
