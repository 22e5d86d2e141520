-- Residents' own limits on targeting (issue 19, migration 0021): pause, visits and time
-- windows. The recipient query (alerts/store.py) calls resident_address_targeted()
-- once per matched enrolment; it is a plain SQL expression, so PostgreSQL inlines it,
-- and every column it reads is in the target indexes (the scan stays index-only).

-- Is a time-window list open now (Europe/Amsterdam)? NULL or empty: always.
-- Each window: {"days": [ISO weekdays 1..7], "start": "HH:MM", "end": "HH:MM"}; an end
-- before the start runs past midnight (the start's day names the window).
CREATE OR REPLACE FUNCTION resident_window_open(windows jsonb, at timestamptz DEFAULT now())
RETURNS boolean LANGUAGE sql STABLE AS $$
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
$$;

-- Is an enrolment targeted now by an alert of this level?
--  * a visit (visit_until set) only until it ends, and a paused resident's visits still
--    count (a visit is asked for explicitly, e.g. the holiday address during a pause);
--  * a pause holds back regular alerts; missing-person alerts come through unless the
--    resident paused everything (PAUZE ALLES);
--  * time windows (werk: ma-vr 8-18) hold for every level: it is about where one is.
CREATE OR REPLACE FUNCTION resident_address_targeted(
    paused_until timestamptz, pause_all boolean, visit_until timestamptz, time_windows jsonb, level text
) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT (visit_until IS NULL OR visit_until > now())
       AND (visit_until IS NOT NULL OR paused_until IS NULL OR paused_until <= now()
            OR (level <> 'regular' AND NOT pause_all))
       AND (time_windows IS NULL OR resident_window_open(time_windows))
$$;

-- The pause is copied onto the resident's enrolments: new ones by resident_addresses_fill()
-- (enrolments.sql, with the status), and on every change by this trigger.
CREATE OR REPLACE FUNCTION residents_propagate_pause() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE resident_addresses SET paused_until = NEW.paused_until, pause_all = NEW.pause_all
    WHERE resident_id = NEW.id
      AND (paused_until, pause_all) IS DISTINCT FROM (NEW.paused_until, NEW.pause_all);
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER residents_propagate_pause
    AFTER UPDATE OF paused_until, pause_all ON residents
    FOR EACH ROW WHEN ((OLD.paused_until, OLD.pause_all) IS DISTINCT FROM (NEW.paused_until, NEW.pause_all))
    EXECUTE FUNCTION residents_propagate_pause();
