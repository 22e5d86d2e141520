-- Targeting (0008): every enrolment carries a copy of its address's place and of its
-- resident's status, so the recipient query is one index-only scan with no join. These
-- triggers keep the copies right whatever writes the rows.

-- New or moved enrolment: copy the address's place and the resident's status. An
-- enrolment never moves to another resident (the sole flags would go stale).
CREATE OR REPLACE FUNCTION resident_addresses_fill() RETURNS trigger LANGUAGE plpgsql AS $$
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
END $$;

CREATE OR REPLACE TRIGGER resident_addresses_fill
    BEFORE INSERT OR UPDATE OF address_id, resident_id ON resident_addresses
    FOR EACH ROW EXECUTE FUNCTION resident_addresses_fill();

-- Enrolments added or removed: recount the residents concerned. Their rows are locked
-- first, so two transactions adding an enrolment for the same resident at once count
-- one after the other (READ COMMITTED: the second count sees the first's row), and a
-- resident never has two rows that each claim to be the only one. The status copied by
-- the insert is checked again under that lock (a STOP committed in between).
CREATE OR REPLACE FUNCTION resident_addresses_recount() RETURNS trigger LANGUAGE plpgsql AS $$
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
END $$;

CREATE OR REPLACE TRIGGER resident_addresses_added
    AFTER INSERT ON resident_addresses REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION resident_addresses_recount();
CREATE OR REPLACE TRIGGER resident_addresses_removed
    AFTER DELETE ON resident_addresses REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION resident_addresses_recount();

-- An address re-placed by a newer CBS map (or corrected): every enrolment there follows.
-- Statement level with a transition table, so a re-import of 100k addresses is one join.
CREATE OR REPLACE FUNCTION addresses_propagate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE resident_addresses ra
    SET location = n.location, buurt_code = n.buurt_code, wijk_code = n.wijk_code,
        municipality_code = n.municipality_code
    FROM changed n
    WHERE ra.address_id = n.id
      AND (ra.location[0], ra.location[1], ra.buurt_code, ra.wijk_code, ra.municipality_code)
          IS DISTINCT FROM (n.location[0], n.location[1], n.buurt_code, n.wijk_code, n.municipality_code);
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER addresses_propagate
    AFTER UPDATE ON addresses REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION addresses_propagate();

-- STOP / START / erasure: the resident's enrolments leave or rejoin the target index.
CREATE OR REPLACE FUNCTION residents_propagate_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE resident_addresses SET active = (NEW.status = 'active')
    WHERE resident_id = NEW.id AND active IS DISTINCT FROM (NEW.status = 'active');
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER residents_propagate_status
    AFTER UPDATE OF status ON residents
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION residents_propagate_status();

-- AANMELDEN by SMS (residents/service.py sms_enrol) in one call: the resident's row
-- locked, the address found, the maximum checked, resident and enrolment written and the
-- anonymous counter bumped. One round trip instead of six keeps an enrolment burst's
-- transactions short (issue 16). ``outcome``: enrolled | address_unknown |
-- already_enrolled | too_many_addresses; ``language`` is the resident's (or 'nl'), the
-- address fields are the found address's (for the reply's label).
CREATE OR REPLACE FUNCTION sms_enrol(
    p_phone text, p_phone_kind text, p_postcode text, p_number integer, p_letter text, p_addition text,
    p_max integer,
    OUT outcome text, OUT language text, OUT postcode text, OUT house_number integer, OUT house_letter text,
    OUT addition text
) LANGUAGE plpgsql AS $$
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
END $$;

-- The same as one statement with the webhook's idempotency (residents/inbound.py, the
-- fast path for AANMELDEN <adres>): the MessageSid claimed (a duplicate waits for the
-- first to commit and gets its reply), the enrolment made, and the reply, picked from
-- ``p_replies`` ({language: {outcome: text}}, Dutch when the language has none),
-- remembered, in one round trip and one transaction.
CREATE OR REPLACE FUNCTION sms_enrol_inbound(
    p_sid text, p_kind text, p_phone text, p_phone_kind text, p_postcode text, p_number integer,
    p_letter text, p_addition text, p_max integer, p_replies jsonb,
    OUT answer text
) LANGUAGE plpgsql AS $$
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
END $$;

-- Several of them in one statement and one transaction (the enrolment group commit,
-- residents/inbound.py): one commit and one WAL flush for a burst's concurrent
-- webhooks. The caller orders them by number, so concurrent batches lock residents in
-- one order; ``idx`` is each one's position in the arrays, p_replies a JSON array of
-- their replies objects.
CREATE OR REPLACE FUNCTION sms_enrol_inbound_batch(
    p_sids text[], p_kinds text[], p_phones text[], p_phone_kinds text[], p_postcodes text[], p_numbers integer[],
    p_letters text[], p_additions text[], p_max integer, p_replies jsonb
) RETURNS TABLE (idx integer, answer text) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. cardinality(p_sids) LOOP
        idx := i;
        answer := sms_enrol_inbound(p_sids[i], p_kinds[i], p_phones[i], p_phone_kinds[i], p_postcodes[i], p_numbers[i],
                                    p_letters[i], p_additions[i], p_max, p_replies -> (i - 1));
        RETURN NEXT;
    END LOOP;
END $$;
