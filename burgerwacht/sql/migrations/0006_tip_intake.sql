-- One round trip for an inbound SMS tip: claim the MessageSid, link the tip to the
-- alert the sender most recently received (or by a leading reference), store it (with
-- a relay entry when anonymous), remember the reply for provider retries, and notify
-- live feeds — atomically, so a tip is stored before the webhook answers and a retried
-- webhook gets the same reply without a second tip. The linking rules are those of
-- burgerwacht/tips/service.py (see its docstring); the texts come from the caller.

CREATE FUNCTION tip_sms_intake(
    p_sid text, p_phone text, p_text text, p_ref text, p_rest text, p_anonymous boolean,
    p_relay_cipher text, p_relay_hash bytea, p_texts jsonb
) RETURNS TABLE (reply text, tip_id bigint, duplicate boolean, linked boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_rid       bigint;
    v_lang      text;
    v_ids       bigint[];
    v_refs      text[];
    v_alert     bigint;
    v_cands     bigint[];
    v_munis     text[];
    v_text      text := p_text;
    v_reply     text;
    v_relay     bigint;
    v_tip       bigint;
    v_received  timestamptz;
    v_pos       integer;
BEGIN
    INSERT INTO inbound_messages (sid, kind) VALUES (p_sid, CASE WHEN p_anonymous THEN 'anonymoustip' ELSE 'freetext' END)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN  -- a retry (or a concurrent duplicate, now committed): same reply
        RETURN QUERY SELECT m.reply, NULL::bigint, true, false FROM inbound_messages m WHERE m.sid = p_sid;
        RETURN;
    END IF;

    SELECT r.id, r.language INTO v_rid, v_lang FROM residents r WHERE r.phone = p_phone;
    v_lang := coalesce(v_lang, 'nl');

    SELECT array_agg(x.id ORDER BY x.received_at DESC), array_agg(x.reference ORDER BY x.received_at DESC)
    INTO v_ids, v_refs
    FROM (SELECT a.id, a.reference, max(coalesce(d.sent_at, d.updated_at)) AS received_at
          FROM deliveries d
          JOIN alerts a ON a.id = d.alert_id AND a.status IN ('sending', 'active') AND a.expires_at > now()
          WHERE v_rid IS NOT NULL AND d.resident_id = v_rid AND d.kind = 'alert' AND d.state IN ('sent', 'delivered')
          GROUP BY a.id, a.reference) x;

    v_pos := CASE WHEN p_ref IS NULL THEN NULL ELSE array_position(v_refs, p_ref) END;
    IF coalesce(array_length(v_ids, 1), 0) = 1 OR v_pos IS NOT NULL THEN
        v_alert := v_ids[coalesce(v_pos, 1)];
        IF v_pos IS NOT NULL AND p_rest <> '' THEN
            v_text := p_rest;
        END IF;
        SELECT a.municipalities INTO v_munis FROM alerts a WHERE a.id = v_alert;
        v_reply := p_texts -> v_lang ->> 'thanks';
    ELSIF coalesce(array_length(v_ids, 1), 0) > 1 THEN
        v_cands := v_ids;
        SELECT array_agg(DISTINCT m) INTO v_munis FROM alerts a, unnest(a.municipalities) m WHERE a.id = ANY(v_ids);
        v_reply := replace(replace(p_texts -> v_lang ->> 'which', '{example}', v_refs[1]),
                           '{references}', array_to_string(v_refs, ', '));
    ELSE
        SELECT array_remove(array_agg(DISTINCT ad.municipality_code), NULL) INTO v_munis
        FROM resident_addresses ra JOIN addresses ad ON ad.id = ra.address_id WHERE ra.resident_id = v_rid;
        v_reply := p_texts -> v_lang ->> 'thanks';
    END IF;
    v_munis := coalesce(v_munis, '{}');

    IF p_anonymous THEN
        INSERT INTO tip_relay (phone_cipher, phone_hash) VALUES (p_relay_cipher, p_relay_hash) RETURNING id INTO v_relay;
    END IF;

    INSERT INTO tips (provider_sid, alert_id, candidate_alerts, municipalities, channel, text, anonymous, phone,
                      resident_id, relay_id)
    VALUES (p_sid, v_alert, v_cands, v_munis, 'sms', left(v_text, 1600), p_anonymous,
            CASE WHEN p_anonymous THEN NULL ELSE p_phone END, CASE WHEN p_anonymous THEN NULL ELSE v_rid END, v_relay)
    ON CONFLICT (provider_sid) DO NOTHING
    RETURNING id, received_at INTO v_tip, v_received;

    UPDATE inbound_messages SET reply = v_reply WHERE sid = p_sid;

    IF v_tip IS NOT NULL THEN
        PERFORM pg_notify('bw_events', json_build_object(
            'type', 'tip',
            'topics', array['tips:*'] || array(SELECT 'tips:' || m FROM unnest(v_munis) m)
                      || array(SELECT 'alert:' || i FROM unnest(array_remove(coalesce(v_cands, '{}') || v_alert, NULL)) i),
            'tip', json_build_object(
                'id', v_tip, 'alert_id', v_alert,
                'reference', (SELECT a.reference FROM alerts a WHERE a.id = v_alert),
                'candidate_alerts', v_cands, 'channel', 'sms', 'text', left(v_text, 1600),
                'recording_url', NULL, 'recording_seconds', NULL, 'anonymous', p_anonymous,
                'phone', CASE WHEN p_anonymous THEN NULL ELSE p_phone END, 'status', 'new', 'note', NULL,
                'received_at', v_received, 'erased', false))::text);
    END IF;
    RETURN QUERY SELECT v_reply, v_tip, false, v_alert IS NOT NULL;
END $$;
