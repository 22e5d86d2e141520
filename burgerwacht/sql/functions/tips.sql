-- Tips: which alert a tip is about (one implementation for every channel), and the SMS
-- intake in one round trip (0006, 0010).

-- Linking, for SMS (tip_sms_intake below) and voice recordings (tips/store.py): the
-- rules of burgerwacht/tips/service.py's docstring. A tip-line call made from an alert's
-- voice message (p_delivery_id) belongs to that alert. Otherwise the active alerts the
-- number received (a start message or a follow-up, issue 15: a reply to a follow-up
-- is a tip for the same alert), most recent first: with one, or with a leading reference (p_ref)
-- naming one of them, the tip is that alert's; with several and no reference it stays
-- unlinked with the candidates (refs: their references, for the question back); with
-- none it goes to the general queue of the sender's municipalities.
CREATE OR REPLACE FUNCTION tip_link(p_phone text, p_ref text, p_delivery_id bigint)
RETURNS TABLE (alert_id bigint, candidate_alerts bigint[], municipalities text[], refs text[],
               by_reference boolean, resident_id bigint, lang text)
LANGUAGE plpgsql STABLE AS $$
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
END $$;

-- One round trip for an inbound SMS tip: link it (tip_link), claim the MessageSid with
-- its reply, store the tip (with a relay entry when anonymous), and notify live feeds —
-- atomically, so a tip is stored before the webhook answers and a retried webhook gets
-- the same reply without a second tip. The texts and the claim's kind (the command's
-- name, residents/keywords.py) come from the caller. The claim is inserted with its
-- reply once the reply is known, one write rather than an insert and an update (0010).
-- The 0010 signature took no kind: dropped here, replaced below.
DROP FUNCTION IF EXISTS tip_sms_intake_batch(text[], text[], text[], text[], text[], boolean[], text[], bytea[], jsonb);
DROP FUNCTION IF EXISTS tip_sms_intake(text, text, text, text, text, boolean, text, bytea, jsonb);

CREATE OR REPLACE FUNCTION tip_sms_intake(
    p_sid text, p_phone text, p_text text, p_ref text, p_rest text, p_kind text, p_anonymous boolean,
    p_relay_cipher text, p_relay_hash bytea, p_texts jsonb
) RETURNS TABLE (reply text, tip_id bigint, duplicate boolean, linked boolean)
LANGUAGE plpgsql AS $$
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
END $$;

-- The tips that arrive while others are being stored go in together, in one
-- transaction (group commit, burgerwacht/db/batch.py): one round trip, one commit and
-- one WAL flush for the lot (0010). The caller orders a batch by MessageSid, so two
-- batches never wait on each other's claims in opposite orders.
CREATE OR REPLACE FUNCTION tip_sms_intake_batch(
    p_sids text[], p_phones text[], p_texts text[], p_refs text[], p_rests text[], p_kinds text[],
    p_anonymous boolean[], p_relay_ciphers text[], p_relay_hashes bytea[], p_reply_texts jsonb
) RETURNS TABLE (idx integer, reply text, tip_id bigint, duplicate boolean, linked boolean)
-- idx: the position in the arrays (1-based) each result row belongs to
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_sids, 1), 0) LOOP
        RETURN QUERY SELECT i, r.reply, r.tip_id, r.duplicate, r.linked
        FROM tip_sms_intake(p_sids[i], p_phones[i], p_texts[i], p_refs[i], p_rests[i], p_kinds[i], p_anonymous[i],
                            p_relay_ciphers[i], p_relay_hashes[i], p_reply_texts) r;
    END LOOP;
END $$;
