-- Signal summaries at 1M signals (issue 6, docs/signals.md "Rollups and freshness").
--
-- 1. The live count per buurt, category and month reads a narrow, deduplicated
--    covering index in the order it groups by: an index-only scan feeding a streaming
--    (and parallel) GroupAggregate, no hash table, no sort, no expression per row.
--    The month is a stored generated column because an index-only scan cannot serve an
--    expression index without its base column (PostgreSQL's planner limitation), and
--    with observed_on in the index the duplicates that make it small disappear.
--    Adding the column rewrites the table once (about 5 s per million signals, under
--    an exclusive lock).
ALTER TABLE signals ADD COLUMN observed_month date
    GENERATED ALWAYS AS (date_trunc('month', observed_on::timestamp)::date) STORED;
CREATE INDEX signals_month_counts ON signals (municipality_code, observed_month, buurt_code, category, severity);

-- 2. Rollup generations: every rollup run that recomputes a month of a municipality's
--    year gives that year a new generation (from one sequence, so never reused).
--    Together with "no dirty day in the year" a generation identifies the exact data of
--    the year: every change to signals marks its day dirty in the same transaction, and
--    a dirty day disappears only in a rollup run, which bumps the generation.
CREATE SEQUENCE signal_rollup_generation;
CREATE TABLE signal_rollup_years (
    municipality_code text NOT NULL,
    year              integer NOT NULL,
    generation        bigint NOT NULL,
    PRIMARY KEY (municipality_code, year)
);
INSERT INTO signal_rollup_years (municipality_code, year, generation)
SELECT municipality_code, year, nextval('signal_rollup_generation')
FROM (SELECT DISTINCT municipality_code, extract(year FROM month)::int AS year FROM signal_monthly) m;

-- 3. Protected cubes built by the rollup job (never by a request): the published
--    (suppressed and rounded) table of a municipality's year for one set of privacy
--    parameters, valid while the year's generation and areas are the ones it was built
--    from and no day of the year is dirty. `token` is random per build (in-process
--    caches key on it). The payload is numpy arrays (no pickle) and JSON; it holds the
--    exact counts too, like signal_monthly: server-side only, analysts read it through
--    burgerwacht/signals/service.py.
CREATE TABLE signal_cubes (
    municipality_code text NOT NULL,
    year              integer NOT NULL,
    params            text NOT NULL,
    generation        bigint NOT NULL,
    areas_version     text NOT NULL,
    token             text NOT NULL UNIQUE,
    built_at          timestamptz NOT NULL DEFAULT now(),
    build_ms          integer NOT NULL,
    payload           bytea NOT NULL,
    PRIMARY KEY (municipality_code, year, params)
);

-- 4. Dirty-day markers are held until the changing transaction commits. In 0005 a
--    change to an already dirty day did nothing to the marker (ON CONFLICT DO NOTHING
--    takes no lock), so a rollup run could clear that day and count it without the
--    uncommitted change; after the commit the day was clean and the change was missing
--    from the rollups (and from every summary) until the day changed again. Now the
--    marker is locked FOR KEY SHARE: markers do not block one another, but the rollup's
--    FOR UPDATE SKIP LOCKED leaves a day alone while a change to it is uncommitted, and
--    a marker the rollup has just deleted is inserted again.
CREATE FUNCTION signals_mark_days(codes text[], days date[]) RETURNS void LANGUAGE plpgsql AS $$
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
END $$;

CREATE OR REPLACE FUNCTION signals_mark_dirty_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM signals_mark_days(array_agg(municipality_code), array_agg(observed_on))
    FROM (SELECT DISTINCT municipality_code, observed_on FROM new_rows) d;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION signals_mark_dirty_old() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM signals_mark_days(array_agg(municipality_code), array_agg(observed_on))
    FROM (SELECT DISTINCT municipality_code, observed_on FROM old_rows) d;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION signals_mark_dirty_both() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM signals_mark_days(array_agg(municipality_code), array_agg(observed_on))
    FROM (SELECT municipality_code, observed_on FROM old_rows
          UNION SELECT municipality_code, observed_on FROM new_rows) d;
    RETURN NULL;
END $$;
