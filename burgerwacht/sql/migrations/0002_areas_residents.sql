-- Areas (CBS gemeente/wijk/buurt), address points, residents and their enrolments.
--
-- Geometry without PostGIS (DESIGN decision 3): points in RD New (EPSG:28992) as native
-- `point` with a GiST index; area outlines kept as GeoJSON (RD coordinates) plus a
-- bounding box. Each address is assigned its buurt when stored, so targeting an area
-- is an indexed equality.

CREATE TABLE areas (
    code              text PRIMARY KEY CHECK (code ~ '^(GM\d{4}|WK\d{6}|BU\d{8})$'),
    level             text NOT NULL CHECK (level IN ('gemeente', 'wijk', 'buurt')),
    name              text NOT NULL,
    municipality_code text NOT NULL,
    district_code     text,
    year              integer,
    geometry          jsonb NOT NULL,   -- GeoJSON Polygon/MultiPolygon in RD New
    bbox              box NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX areas_municipality ON areas (municipality_code, level);
CREATE INDEX areas_bbox ON areas USING gist (bbox);

CREATE TABLE addresses (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    postcode          text NOT NULL CHECK (postcode ~ '^[1-9]\d{3}[A-Z]{2}$'),
    house_number      integer NOT NULL CHECK (house_number BETWEEN 1 AND 99999),
    house_letter      text NOT NULL DEFAULT '',
    addition          text NOT NULL DEFAULT '',
    location          point NOT NULL,  -- RD New, metres
    buurt_code        text,
    wijk_code         text,
    municipality_code text,
    UNIQUE (postcode, house_number, house_letter, addition)
);
CREATE INDEX addresses_location ON addresses USING gist (location);
CREATE INDEX addresses_buurt ON addresses (buurt_code);
CREATE INDEX addresses_wijk ON addresses (wijk_code);
CREATE INDEX addresses_municipality ON addresses (municipality_code);

-- Personal data. ERASURE RULE (VERWIJDER / DELETE /api/v1/residents/{id}): deleting a
-- resident row must leave no phone number, address link or preference behind. Every
-- table that refers to a resident either cascades (addresses, preferences) or drops the
-- link (ON DELETE SET NULL) and holds no copy of the phone number; tables keyed by a
-- phone number (enrolments, code_requests) are deleted by number in the same
-- transaction. Only anonymous counters (stats_counters) survive.
CREATE TABLE residents (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone        text NOT NULL UNIQUE CHECK (phone ~ '^\+[1-9]\d{6,14}$'),
    phone_kind   text NOT NULL CHECK (phone_kind IN ('mobile', 'landline', 'voip', 'other')),
    status       text NOT NULL CHECK (status IN ('active', 'stopped')),
    language     text NOT NULL DEFAULT 'nl' CHECK (language IN ('nl', 'en')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);

CREATE TABLE resident_addresses (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident_id  bigint NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    address_id   bigint NOT NULL REFERENCES addresses (id),
    label        text NOT NULL DEFAULT 'thuis' CHECK (length(label) BETWEEN 1 AND 40),
    channels     text[] NOT NULL CHECK (cardinality(channels) > 0 AND channels <@ ARRAY['sms', 'voice']),
    -- quiet hours in Europe/Amsterdam local time; both NULL = none
    quiet_start  time,
    quiet_end    time,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (resident_id, address_id),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
CREATE INDEX resident_addresses_address ON resident_addresses (address_id);

-- Pending API enrolments awaiting their one-time code (stored hashed).
CREATE TABLE enrolments (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    phone        text NOT NULL,
    phone_kind   text NOT NULL,
    address_id   bigint NOT NULL REFERENCES addresses (id),
    label        text NOT NULL,
    channels     text[] NOT NULL,
    quiet_start  time,
    quiet_end    time,
    language     text NOT NULL,
    code_hash    bytea NOT NULL,
    -- the code encrypted (Fernet, security.secret_key) only while a voice call must read
    -- it out to a landline; cleared once verified
    code_cipher  text,
    attempts     integer NOT NULL DEFAULT 0,
    expires_at   timestamptz NOT NULL,
    verified_at  timestamptz,
    resident_id  bigint REFERENCES residents (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enrolments_phone ON enrolments (phone);

-- Code requests for SMS-pumping limits: per number, client IP and number prefix.
CREATE TABLE code_requests (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    phone        text NOT NULL,
    ip           text NOT NULL,
    prefix       text NOT NULL
);
CREATE INDEX code_requests_at ON code_requests (at);
CREATE INDEX code_requests_phone ON code_requests (phone, at);
CREATE INDEX code_requests_ip ON code_requests (ip, at);
CREATE INDEX code_requests_prefix ON code_requests (prefix, at);

-- Inbound webhooks already handled, by provider id: a retried webhook gets the stored
-- reply instead of being processed twice. No phone number or message text here.
CREATE TABLE inbound_messages (
    sid          text PRIMARY KEY,
    kind         text NOT NULL,
    reply        text,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Anonymous counters that survive erasure.
CREATE TABLE stats_counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL DEFAULT 0
);
