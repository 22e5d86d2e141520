-- The audit chain (burgerwacht/audit): each entry's hash covers the previous one, and
-- the table refuses every change but an append. First defined in 0001.

CREATE OR REPLACE FUNCTION audit_hash(prev text, at timestamptz, actor text, action text,
                                      object_type text, object_id text, details jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(E'\x1f',
        prev,
        (extract(epoch FROM at) * 1000000)::bigint::text,
        actor, action, coalesce(object_type, ''), coalesce(object_id, ''),
        details::text), 'UTF8')), 'hex')
$$;

-- Appends serialise on a transaction-level advisory lock so the chain never forks.
CREATE OR REPLACE FUNCTION audit_append(p_actor text, p_action text, p_object_type text,
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

CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
