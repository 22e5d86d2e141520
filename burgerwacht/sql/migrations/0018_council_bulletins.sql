-- Issue 18 (council report, terugkoppeling): buurt bulletins and a public note on signals.
--
-- Bulletins: a short non-urgent SMS from an analyst or fieldworker to the residents of a
-- buurt or wijk who opted in. Each goes out through the alert dispatch queue: one
-- `deliveries` row per recipient with kind 'bulletin' and alert_id = -bulletins.id (a
-- negative id never names an alert, so nothing that joins deliveries to alerts — tip
-- linking, alert counts, closing messages, fatigue budgets — sees a bulletin).

-- Opt-in (the residents helper creates the same column and the BERICHTEN AAN/UIT keywords).
ALTER TABLE residents ADD COLUMN IF NOT EXISTS bulletins_opt_in boolean NOT NULL DEFAULT false;

CREATE TABLE bulletins (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    municipality_code text NOT NULL,
    area_code         text NOT NULL,
    area_level        text NOT NULL CHECK (area_level IN ('buurt', 'wijk')),
    message           text NOT NULL CHECK (length(message) BETWEEN 1 AND 1000),  -- numbers masked
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    recipients        integer NOT NULL DEFAULT 0,   -- queued now or after quiet hours
    deferred          integer NOT NULL DEFAULT 0,   -- of those, after their quiet hours
    over_cap          integer NOT NULL DEFAULT 0    -- opted in but over the monthly cap: skipped
);
CREATE INDEX bulletins_municipality ON bulletins (municipality_code, id DESC);

-- deliveries.kind gains 'bulletin', keeping whatever kinds earlier migrations allow.
DO $$
DECLARE def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
    WHERE conrelid = 'deliveries'::regclass AND conname = 'deliveries_kind_check';
    IF def IS NOT NULL AND position('''bulletin''' IN def) = 0 THEN
        ALTER TABLE deliveries DROP CONSTRAINT deliveries_kind_check;
        EXECUTE 'ALTER TABLE deliveries ADD CONSTRAINT deliveries_kind_check '
                || replace(def, 'ARRAY[', 'ARRAY[''bulletin''::text, ');
    END IF;
END $$;
-- the monthly cap counts a resident's bulletins
CREATE INDEX deliveries_bulletins ON deliveries (resident_id, created_at) WHERE kind = 'bulletin';

-- Open311: the note a reporter may read about their request (status_notes stays internal).
ALTER TABLE signals ADD COLUMN public_note text;
