-- Foundation: staff users and their bearer tokens, and the append-only audit log.

CREATE TABLE staff_users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role           text NOT NULL CHECK (role IN ('operator', 'analyst', 'fieldworker', 'admin')),
    -- CBS municipality codes (GM0000) this user may act in; '*' = every municipality.
    municipalities text[] NOT NULL CHECK (cardinality(municipalities) > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz
);

-- Tokens are random (256 bits) and stored as their SHA-256 only; the prefix lets an
-- admin recognise a token in a list without being able to use it.
CREATE TABLE staff_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX staff_tokens_user ON staff_tokens (user_id);

-- Audit log: append-only and hash-chained. Each row's hash covers its content and the
-- previous row's hash, so an edited or deleted row breaks the chain
-- (`burgerwacht audit verify`). Rows never hold phone numbers or message text.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,          -- 'user:<id>', 'system', 'resident', 'cli'
    action      text NOT NULL,          -- e.g. 'alert.send'
    object_type text,
    object_id   text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash   text NOT NULL,
    hash        text NOT NULL
);

CREATE FUNCTION audit_hash(prev text, at timestamptz, actor text, action text,
                           object_type text, object_id text, details jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(E'\x1f',
        prev,
        (extract(epoch FROM at) * 1000000)::bigint::text,
        actor, action, coalesce(object_type, ''), coalesce(object_id, ''),
        details::text), 'UTF8')), 'hex')
$$;

-- Appends serialise on a transaction-level advisory lock so the chain never forks.
CREATE FUNCTION audit_append(p_actor text, p_action text, p_object_type text,
                             p_object_id text, p_details jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
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
END $$;

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- Scheduler coordination: one row per periodic job and period, so a job runs once per
-- period however many scheduler processes run.
CREATE TABLE job_runs (
    job         text NOT NULL,
    period      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    process     text NOT NULL,
    result      jsonb,
    PRIMARY KEY (job, period)
);
