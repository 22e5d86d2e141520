"""SQL for signals, rollups, gebiedsscan registrations, reports and the Open311 rate
limit. The only module of the signals domain that talks to PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from burgerwacht.phone import ERASED
from burgerwacht.signals.privacy import KEY_MODULUS

ROLLUP_LOCK = 0x5349_4752  # "SIGR": serialises rollup runs

SIGNAL_COLUMNS = (
    "id, public_id, municipality_code, wijk_code, buurt_code, category, severity, observed_on, source, "
    "text, location, status, status_notes, public_note, created_by, created_at, updated_at"
)


# ------------------------------------------------------------------------ areas


async def area(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT code, level, name, municipality_code, district_code FROM areas WHERE code = $1", code
    )


async def buurt_candidates(conn: asyncpg.Connection, x: float, y: float) -> list[asyncpg.Record]:
    """Buurten whose bounding box holds the point (RD New); the caller tests the outline."""
    return await conn.fetch(
        "SELECT code, name, municipality_code, district_code, geometry FROM areas "
        "WHERE level = 'buurt' AND bbox @> point($1, $2) ORDER BY code",
        x,
        y,
    )


async def municipality_areas(conn: asyncpg.Connection, municipality: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT code, level, name, district_code FROM areas WHERE municipality_code = $1 "
        "ORDER BY CASE level WHEN 'buurt' THEN 0 WHEN 'wijk' THEN 1 ELSE 2 END, code",
        municipality,
    )


async def area_geometries(conn: asyncpg.Connection, codes: list[str]) -> dict[str, Any]:
    rows = await conn.fetch("SELECT code, geometry FROM areas WHERE code = ANY($1)", codes)
    return {r["code"]: r["geometry"] for r in rows}


async def areas_by_codes(conn: asyncpg.Connection, codes: list[str]) -> list[asyncpg.Record]:
    if not codes:
        return []
    return await conn.fetch("SELECT code, level, municipality_code FROM areas WHERE code = ANY($1)", codes)


async def municipalities(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT municipality_code FROM areas ORDER BY 1")
    return [r[0] for r in rows]


# ---------------------------------------------------------------------- signals


async def insert_signal(conn: asyncpg.Connection, **f: Any) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""
        INSERT INTO signals (public_id, municipality_code, wijk_code, buurt_code, category, severity,
                             observed_on, source, text, location, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        RETURNING {SIGNAL_COLUMNS}
        """,
        f["public_id"],
        f["municipality_code"],
        f["wijk_code"],
        f["buurt_code"],
        f["category"],
        f["severity"],
        f["observed_on"],
        f["source"],
        f["text"],
        f["location"],
        f["created_by"],
    )


async def signal_by_id(
    conn: asyncpg.Connection, signal_id: int, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {SIGNAL_COLUMNS} FROM signals WHERE id = $1" + (" FOR UPDATE" if lock else ""), signal_id
    )


async def signal_by_public_id(conn: asyncpg.Connection, public_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {SIGNAL_COLUMNS} FROM signals WHERE public_id = $1", public_id)


async def list_signals(
    conn: asyncpg.Connection,
    municipalities: list[str] | None,
    *,
    status: str | None,
    category: str | None,
    buurt: str | None,
    since: date | None,
    until: date | None,
    before_id: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {SIGNAL_COLUMNS} FROM signals
        WHERE ($1::text[] IS NULL OR municipality_code = ANY($1))
          AND ($2::text IS NULL OR status = $2)
          AND ($3::text IS NULL OR category = $3)
          AND ($4::text IS NULL OR buurt_code = $4)
          AND ($5::date IS NULL OR observed_on >= $5)
          AND ($6::date IS NULL OR observed_on <= $6)
          AND ($7::bigint IS NULL OR id < $7)
        ORDER BY id DESC LIMIT $8
        """,
        municipalities,
        status,
        category,
        buurt,
        since,
        until,
        before_id,
        limit,
    )


async def update_signal(conn: asyncpg.Connection, signal_id: int, changes: dict[str, Any]) -> asyncpg.Record:
    allowed = {"category", "severity", "status", "status_notes", "public_note"}
    cols = [c for c in changes if c in allowed]
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
    return await conn.fetchrow(
        f"UPDATE signals SET {sets}{', ' if sets else ''}updated_at = now() WHERE id = $1 RETURNING {SIGNAL_COLUMNS}",
        signal_id,
        *[changes[c] for c in cols],
    )


async def erase_number_in_texts(conn: asyncpg.Connection, pattern: str) -> int:
    """Erasure: a resident's number written in any signal's text (signals keep no number,
    so the text is all there is to search)."""
    result = await conn.execute(
        "UPDATE signals SET text = regexp_replace(text, $1, $2, 'g'), "
        "public_note = regexp_replace(public_note, $1, $2, 'g') WHERE text ~ $1 OR public_note ~ $1",
        pattern,
        ERASED,
    )
    return int(result.split()[-1])


async def clear_old_texts(conn: asyncpg.Connection, days: int) -> int:
    """Retention: drop free text and exact points of signals older than ``days``."""
    result = await conn.execute(
        "UPDATE signals SET text = NULL, location = NULL, text_cleared_at = now() "
        "WHERE created_at < now() - make_interval(days => $1) AND (text IS NOT NULL OR location IS NOT NULL)",
        days,
    )
    return int(result.split()[-1])


# ---------------------------------------------------------------------- counts

# Index-only scan of signals_cell_counts (sql/0011) in its own order: a streaming
# GroupAggregate on (month, cell) with no hashing, no sort, no per-row expression and
# no text comparison. Here the ~10,000 groups of a year are named by joining their
# cells (records, for checks); cubes take them as cells (_LIVE_CELLS below).
_LIVE = """
SELECT c.buurt_code, c.category, (extract(month FROM q.month))::int AS month, q.n, q.n_rated, q.severity_sum
FROM (
    SELECT observed_month AS month, cell, count(*)::int AS n, count(severity)::int AS n_rated,
           coalesce(sum(severity), 0)::int AS severity_sum
    FROM signals
    WHERE municipality_code = $1 AND observed_month >= $2 AND observed_month < $3
    GROUP BY observed_month, cell
) q
JOIN signal_cells c ON c.id = q.cell AND c.municipality_code = $1
"""

# Rolled-up months, minus the rolled-up part of dirty days, plus those days read live:
# one statement, so one snapshot, so always equal to the live count.
_ROLLED = f"""
WITH dirty AS (
    SELECT day FROM signal_dirty_days WHERE municipality_code = $1 AND day >= $2 AND day < $3
), parts AS (
    SELECT buurt_code, category, month, n, n_rated, severity_sum, key_sum
    FROM signal_monthly WHERE municipality_code = $1 AND month >= $2 AND month < $3
    UNION ALL
    SELECT d.buurt_code, d.category, date_trunc('month', d.day)::date, -d.n, -d.n_rated, -d.severity_sum,
           -d.key_sum
    FROM signal_daily d JOIN dirty USING (day) WHERE d.municipality_code = $1
    UNION ALL
    SELECT s.buurt_code, s.category, date_trunc('month', s.observed_on)::date, 1,
           (s.severity IS NOT NULL)::int, coalesce(s.severity, 0), s.ckey::bigint
    FROM signals s JOIN dirty ON dirty.day = s.observed_on WHERE s.municipality_code = $1
)
SELECT buurt_code, category, (extract(month FROM month))::int AS month,
       sum(n)::int AS n, sum(n_rated)::int AS n_rated, sum(severity_sum)::int AS severity_sum,
       ((sum(key_sum) % {KEY_MODULUS}) + {KEY_MODULUS}) % {KEY_MODULUS} AS key_sum
FROM parts GROUP BY 1, 2, 3 HAVING sum(n) <> 0
"""


_RECORD_COLUMNS = ("buurt_code", "category", "month", "n", "n_rated", "severity_sum")


def _whole_months(start: date, end_exclusive: date) -> None:
    if start.day != 1 or end_exclusive.day != 1:
        raise ValueError("month_counts counts whole months")


async def month_counts(
    conn: asyncpg.Connection, municipality: str, start: date, end_exclusive: date, *, live: bool = False
) -> list[asyncpg.Record]:
    """Exact counts per buurt, category and month in [start, end_exclusive) (whole
    months) as records (checks and tests; cubes use :func:`month_count_columns`)."""
    _whole_months(start, end_exclusive)
    sql = _LIVE if live else f"SELECT {', '.join(_RECORD_COLUMNS)} FROM ({_ROLLED}) r"
    return await conn.fetch(sql, municipality, start, end_exclusive)


COUNT_COLUMNS = ("cell", "month", "n", "n_rated", "severity_sum")
# beside the counts: the sum of the cell's record keys mod KEY_MODULUS (sql/0015), from
# which the cube derives every published cell's key (burgerwacht.signals.privacy)
KEY_COLUMN = "key_sum"

# The counts of a year by cell (signal_cells, sql/0011), and the municipality's cells
# to name them, from one statement (one snapshot). The live count leaves its groups as
# cells: naming every group by a join and sending its two codes as text was a
# measurable part of the query's time (BENCHMARKS.md); burgerwacht.signals.cube maps
# the municipality's cells itself.
_LIVE_CELLS = f"""
SELECT (extract(month FROM observed_month))::int AS month, cell, count(*)::int AS n,
       count(severity)::int AS n_rated, coalesce(sum(severity), 0)::int AS severity_sum,
       sum(ckey::bigint) % {KEY_MODULUS} AS key_sum
FROM signals
WHERE municipality_code = $1 AND observed_month >= $2 AND observed_month < $3
GROUP BY observed_month, cell
"""
# Every (buurt, category) in the rollups came from a signal, and every signal has its
# cell: the join loses nothing.
_ROLLED_CELLS = f"""
SELECT c.id AS cell, r.month, r.n, r.n_rated, r.severity_sum, r.key_sum
FROM ({_ROLLED}) r
JOIN signal_cells c ON c.municipality_code = $1 AND c.buurt_code = r.buurt_code AND c.category = r.category
"""


async def month_count_columns(
    conn: asyncpg.Connection, municipality: str, start: date, end_exclusive: date, *, live: bool = False
) -> dict[str, Any]:
    """Exact counts per cell and month in [start, end_exclusive) (whole months) as one
    row of arrays (column name → list; ``cells`` names every cell of the municipality:
    id, buurt_code, category, ordered by id). A few lists instead of ~10,000 records per
    year, so building a cube leaves the garbage collector nothing to chase (full
    collections were the slow outliers; BENCHMARKS.md)."""
    _whole_months(start, end_exclusive)
    row = await conn.fetchrow(count_columns_sql(live), municipality, start, end_exclusive)
    counts: dict[str, Any] = {c: row[c] for c in (*COUNT_COLUMNS, KEY_COLUMN)}
    counts["cells"] = {
        "id": row["cell_ids"],
        "buurt_code": row["cell_buurten"],
        "category": row["cell_categories"],
    }
    return counts


def count_columns_sql(live: bool) -> str:
    """The statement :func:`month_count_columns` runs (the benchmark explains it)."""
    aggs = ", ".join(f"coalesce(array_agg({c}), '{{}}') AS {c}" for c in (*COUNT_COLUMNS, KEY_COLUMN))
    cells = ", ".join(
        f"coalesce(array_agg({col} ORDER BY id), '{{}}') AS {name}"
        for col, name in (("id", "cell_ids"), ("buurt_code", "cell_buurten"), ("category", "cell_categories"))
    )
    # two one-row aggregates side by side: the counts, and the cells (read once)
    return (
        f"SELECT * FROM (SELECT {aggs} FROM ({_LIVE_CELLS if live else _ROLLED_CELLS}) q) counts, "
        f"(SELECT {cells} FROM signal_cells WHERE municipality_code = $1) cells"
    )


async def cube_version(
    conn: asyncpg.Connection, municipality: str, start: date, end_exclusive: date
) -> tuple:
    """Changes whenever the counts of a municipality's year can have changed: a rollup
    run, an area import, or any insert/update/delete of a signal on a not yet rolled-up
    day (every change to signals marks its day dirty)."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT last_run_at FROM signal_rollup_state) AS rolled,
               (SELECT max(updated_at) FROM areas WHERE municipality_code = $1) AS areas,
               (SELECT count(*) FROM signal_dirty_days
                 WHERE municipality_code = $1 AND day >= $2 AND day < $3) AS dirty_days,
               count(s.id) AS n, max(s.id) AS max_id, max(s.updated_at) AS max_updated
        FROM signal_dirty_days d
        JOIN signals s ON s.municipality_code = d.municipality_code AND s.observed_on = d.day
        WHERE d.municipality_code = $1 AND d.day >= $2 AND d.day < $3
        """,
        municipality,
        start,
        end_exclusive,
    )
    return tuple(row.values())


async def day_counts(
    conn: asyncpg.Connection, municipality: str, start: date, end_exclusive: date, *, live: bool
) -> list[asyncpg.Record]:
    """Exact counts per buurt, category and day (rollup vs live, for checks)."""
    if live:
        return await conn.fetch(
            "SELECT observed_on AS day, buurt_code, category, count(*)::int AS n FROM signals "
            "WHERE municipality_code = $1 AND observed_on >= $2 AND observed_on < $3 GROUP BY 1, 2, 3",
            municipality,
            start,
            end_exclusive,
        )
    return await conn.fetch(
        "SELECT day, buurt_code, category, n FROM signal_daily "
        "WHERE municipality_code = $1 AND day >= $2 AND day < $3",
        municipality,
        start,
        end_exclusive,
    )


# ---------------------------------------------------------------------- rollup


async def rollup(conn: asyncpg.Connection, limit_days: int = 5000) -> dict[str, int]:
    """Recompute daily and monthly rollups for the dirty days (one transaction; runs
    are serialised by an advisory lock so two schedulers never interleave)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ROLLUP_LOCK)
        days = await conn.fetch(
            """
            DELETE FROM signal_dirty_days WHERE (municipality_code, day) IN (
                SELECT municipality_code, day FROM signal_dirty_days ORDER BY day LIMIT $1
                FOR UPDATE SKIP LOCKED)
            RETURNING municipality_code, day
            """,
            limit_days,
        )
        if not days:
            await conn.execute("UPDATE signal_rollup_state SET last_run_at = now()")
            return {"days": 0, "months": 0}
        munis = [r["municipality_code"] for r in days]
        dates = [r["day"] for r in days]
        await conn.execute("CREATE TEMP TABLE rollup_days (municipality_code text, day date) ON COMMIT DROP")
        await conn.execute(
            "INSERT INTO rollup_days SELECT * FROM unnest($1::text[], $2::date[])", munis, dates
        )
        await conn.execute(
            "DELETE FROM signal_daily d USING rollup_days r "
            "WHERE d.municipality_code = r.municipality_code AND d.day = r.day"
        )
        await conn.execute(
            f"""
            INSERT INTO signal_daily (municipality_code, day, buurt_code, category, n, n_rated, severity_sum,
                                      key_sum)
            SELECT s.municipality_code, s.observed_on, s.buurt_code, s.category, count(*), count(s.severity),
                   coalesce(sum(s.severity), 0), sum(s.ckey::bigint) % {KEY_MODULUS}
            FROM signals s JOIN rollup_days r
              ON r.municipality_code = s.municipality_code AND r.day = s.observed_on
            GROUP BY 1, 2, 3, 4
            """
        )
        months = await conn.fetch(
            "SELECT DISTINCT municipality_code, date_trunc('month', day)::date AS month FROM rollup_days"
        )
        await conn.execute(
            "CREATE TEMP TABLE rollup_months (municipality_code text, month date) ON COMMIT DROP"
        )
        await conn.execute(
            "INSERT INTO rollup_months SELECT * FROM unnest($1::text[], $2::date[])",
            [r["municipality_code"] for r in months],
            [r["month"] for r in months],
        )
        await conn.execute(
            "DELETE FROM signal_monthly m USING rollup_months r "
            "WHERE m.municipality_code = r.municipality_code AND m.month = r.month"
        )
        await conn.execute(
            f"""
            INSERT INTO signal_monthly (municipality_code, month, buurt_code, category, n, n_rated, severity_sum,
                                        key_sum)
            SELECT d.municipality_code, r.month, d.buurt_code, d.category, sum(d.n), sum(d.n_rated),
                   sum(d.severity_sum), sum(d.key_sum) % {KEY_MODULUS}
            FROM signal_daily d JOIN rollup_months r
              ON r.municipality_code = d.municipality_code
             AND d.day >= r.month AND d.day < (r.month + interval '1 month')
            GROUP BY 1, 2, 3, 4
            """
        )
        # a new generation for every year whose months changed (see sql/0009)
        await conn.execute(
            """
            INSERT INTO signal_rollup_years (municipality_code, year, generation)
            SELECT municipality_code, year, nextval('signal_rollup_generation')
            FROM (SELECT DISTINCT municipality_code, extract(year FROM month)::int AS year FROM rollup_months) y
            ON CONFLICT (municipality_code, year) DO UPDATE SET generation = EXCLUDED.generation
            """
        )
        await conn.execute("UPDATE signal_rollup_state SET last_run_at = now()")
        return {"days": len(days), "months": len(months)}


# ------------------------------------------------------------ protected cubes

# areas of a municipality as they are now (an area import changes the cube's area axis)
_AREAS_VERSION = (
    "(SELECT count(*) || '/' || coalesce(extract(epoch FROM max(updated_at))::text, '') "
    "FROM areas WHERE municipality_code = $1)"
)


async def stored_cube_state(
    conn: asyncpg.Connection, municipality: str, year: int, params: str
) -> asyncpg.Record:
    """One statement (one snapshot): how many days of the year are dirty, and the token
    of the stored cube if it was built from exactly the year's current generation and
    areas."""
    return await conn.fetchrow(
        f"""
        SELECT (SELECT count(*)::int FROM signal_dirty_days
                 WHERE municipality_code = $1 AND day >= make_date($2, 1, 1)
                   AND day < make_date($2 + 1, 1, 1)) AS dirty_days,
               (SELECT c.token FROM signal_cubes c
                  JOIN signal_rollup_years y USING (municipality_code, year)
                 WHERE c.municipality_code = $1 AND c.year = $2 AND c.params = $3
                   AND c.generation = y.generation AND c.areas_version = {_AREAS_VERSION}) AS token
        """,
        municipality,
        year,
        params,
    )


async def stored_cube_payload(conn: asyncpg.Connection, token: str) -> bytes | None:
    return await conn.fetchval("SELECT payload FROM signal_cubes WHERE token = $1", token)


async def cube_build_input(
    conn: asyncpg.Connection, municipality: str, year: int
) -> tuple[int | None, str, list[asyncpg.Record], dict[str, list[Any]]]:
    """Generation, areas version, areas and exact month counts of a municipality's
    year, from one snapshot (REPEATABLE READ): what a stored cube is built from."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        generation = await conn.fetchval(
            "SELECT generation FROM signal_rollup_years WHERE municipality_code = $1 AND year = $2",
            municipality,
            year,
        )
        areas_version = await conn.fetchval(f"SELECT {_AREAS_VERSION}", municipality)
        areas = await municipality_areas(conn, municipality)
        counts = await month_count_columns(conn, municipality, date(year, 1, 1), date(year + 1, 1, 1))
    return generation, areas_version, areas, counts


async def save_cube(
    conn: asyncpg.Connection,
    *,
    municipality: str,
    year: int,
    params: str,
    generation: int,
    areas_version: str,
    token: str,
    build_ms: int,
    payload: bytes,
) -> bool:
    """Store a built cube unless a cube of a newer generation is stored already."""
    result = await conn.execute(
        """
        INSERT INTO signal_cubes (municipality_code, year, params, generation, areas_version, token, build_ms,
                                  payload)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (municipality_code, year, params) DO UPDATE SET
            generation = EXCLUDED.generation, areas_version = EXCLUDED.areas_version, token = EXCLUDED.token,
            built_at = now(), build_ms = EXCLUDED.build_ms, payload = EXCLUDED.payload
        WHERE signal_cubes.generation <= EXCLUDED.generation
        """,
        municipality,
        year,
        params,
        generation,
        areas_version,
        token,
        build_ms,
        payload,
    )
    return result.endswith(" 1")


async def cube_years_to_build(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every rolled-up year with, per privacy parameter set, the generation and areas
    version of its stored cube (the caller decides which are out of date)."""
    return await conn.fetch(
        f"""
        SELECT y.municipality_code, y.year, y.generation,
               {_AREAS_VERSION.replace("$1", "y.municipality_code")} AS areas_version,
               coalesce(jsonb_object_agg(c.params, jsonb_build_array(c.generation, c.areas_version))
                        FILTER (WHERE c.params IS NOT NULL), '{{}}') AS stored
        FROM signal_rollup_years y
        LEFT JOIN signal_cubes c ON c.municipality_code = y.municipality_code AND c.year = y.year
        GROUP BY y.municipality_code, y.year, y.generation
        ORDER BY y.year DESC, y.municipality_code
        """
    )


async def rollup_last_run(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT last_run_at FROM signal_rollup_state")


async def dirty_day_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM signal_dirty_days")


# ------------------------------------------------------------------- gebiedsscan


async def lock_gebiedsscan(conn: asyncpg.Connection, municipalities: list[str]) -> None:
    """Serialise imports per municipality (inside the caller's transaction), so two
    imports cannot both find no overlap and then store overlapping rows."""
    for m in sorted(set(municipalities)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gebiedsscan:' || $1))", m)


async def overlapping_registrations(
    conn: asyncpg.Connection, rows: list[tuple[Any, ...]]
) -> list[asyncpg.Record]:
    """Stored rows of the same area and theme whose dates overlap those of ``rows``
    ((area_code, theme, period_start, period_end) each): ``n`` is the position in
    ``rows`` (0-based)."""
    if not rows:
        return []
    return await conn.fetch(
        """
        SELECT u.n - 1 AS n, g.id, g.area_code, g.theme, g.period_start, g.period_end, g.imported_at
        FROM unnest($1::text[], $2::text[], $3::date[], $4::date[]) WITH ORDINALITY AS u(a, t, s, e, n)
        JOIN gebiedsscan g ON g.area_code = u.a AND g.theme = u.t
                          AND g.period_start <= u.e AND g.period_end >= u.s
        ORDER BY u.n, g.period_start
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )


async def delete_registrations(conn: asyncpg.Connection, ids: list[int]) -> int:
    result = await conn.execute("DELETE FROM gebiedsscan WHERE id = ANY($1::bigint[])", ids)
    return int(result.split()[-1])


async def insert_registrations(conn: asyncpg.Connection, rows: list[tuple[Any, ...]], actor: str) -> int:
    """rows: (municipality_code, area_code, theme, period_start, period_end, registered_count);
    none of them overlaps a stored row (the caller checked, under :func:`lock_gebiedsscan`)."""
    result = await conn.execute(
        """
        INSERT INTO gebiedsscan (municipality_code, area_code, theme, period_start, period_end,
                                 registered_count, imported_by)
        SELECT m, a, t, s, e, c, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[],
                                                 $6::int[]) AS u(m, a, t, s, e, c)
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        [r[5] for r in rows],
        actor,
    )
    return int(result.split()[-1])


async def registrations_of_year(
    conn: asyncpg.Connection, municipality: str, year: int
) -> list[asyncpg.Record]:
    """Every stored row of a municipality that lies in ``year`` (newest import first),
    with its area's level and wijk; rows of areas no longer in the area table are left
    out (their place in the tree is unknown)."""
    return await conn.fetch(
        """
        SELECT g.area_code, a.level, a.district_code, g.theme, g.period_start, g.period_end,
               g.registered_count
        FROM gebiedsscan g JOIN areas a ON a.code = g.area_code AND a.municipality_code = g.municipality_code
        WHERE g.municipality_code = $1 AND g.period_start >= $2 AND g.period_end < $3
        ORDER BY g.imported_at DESC, g.id DESC
        """,
        municipality,
        date(year, 1, 1),
        date(year + 1, 1, 1),
    )


async def municipality_exists(conn: asyncpg.Connection, municipality: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM areas WHERE municipality_code = $1)", municipality
    )


# ------------------------------------------------------------------- priorities


async def priorities(conn: asyncpg.Connection, municipality: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT theme, weight, target_change_pct, baseline_year, updated_at FROM municipality_priorities "
        "WHERE municipality_code = $1 ORDER BY position",
        municipality,
    )


async def replace_priorities(
    conn: asyncpg.Connection, municipality: str, items: list[dict[str, Any]], actor: str
) -> None:
    """The municipality's whole list at once (call inside a transaction)."""
    await conn.execute("DELETE FROM municipality_priorities WHERE municipality_code = $1", municipality)
    if not items:
        return
    await conn.execute(
        """
        INSERT INTO municipality_priorities (municipality_code, theme, position, weight, target_change_pct,
                                             baseline_year, updated_by)
        SELECT $1, t, n - 1, w, p, y, $6
        FROM unnest($2::text[], $3::float8[], $4::float8[], $5::int[]) WITH ORDINALITY AS u(t, w, p, y, n)
        """,
        municipality,
        [i["theme"] for i in items],
        [i["weight"] for i in items],
        [i.get("target_change_pct") for i in items],
        [i.get("baseline_year") for i in items],
        actor,
    )


# ------------------------------------------------------------------- reports


async def save_report(conn: asyncpg.Connection, **f: Any) -> asyncpg.Record:
    return await conn.fetchrow(
        """
        INSERT INTO signal_reports (municipality_code, kind, period_label, period_start, period_end, rows,
                                    content, csv_path)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (municipality_code, kind, period_label) DO UPDATE SET
            created_at = now(), rows = EXCLUDED.rows, content = EXCLUDED.content, csv_path = EXCLUDED.csv_path,
            period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end
        RETURNING id, municipality_code, kind, period_label, period_start, period_end, created_at, rows, csv_path
        """,
        f["municipality_code"],
        f["kind"],
        f["period_label"],
        f["period_start"],
        f["period_end"],
        f["rows"],
        f["content"],
        f["csv_path"],
    )


async def list_reports(
    conn: asyncpg.Connection, municipalities: list[str] | None, before_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT id, municipality_code, kind, period_label, period_start, period_end, created_at, rows, csv_path
        FROM signal_reports
        WHERE ($1::text[] IS NULL OR municipality_code = ANY($1)) AND ($2::bigint IS NULL OR id < $2)
        ORDER BY id DESC LIMIT $3
        """,
        municipalities,
        before_id,
        limit,
    )


async def report(conn: asyncpg.Connection, report_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, municipality_code, kind, period_label, period_start, period_end, created_at, rows, csv_path, "
        "content FROM signal_reports WHERE id = $1",
        report_id,
    )


# ------------------------------------------------------------------- Open311 limit


async def rate_hit(conn: asyncpg.Connection | asyncpg.Pool, client: str) -> tuple[int, int]:
    """Count one request in the client's current minute → (hits, seconds left in it)."""
    row = await conn.fetchrow(
        """
        INSERT INTO open311_rate (client, window_start, hits)
        VALUES ($1, date_trunc('minute', now()), 1)
        ON CONFLICT (client, window_start) DO UPDATE SET hits = open311_rate.hits + 1
        RETURNING hits, 60 - extract(second FROM now())::int AS left_s
        """,
        client,
    )
    return row["hits"], max(1, row["left_s"])


async def purge_rate(conn: asyncpg.Connection) -> int:
    result = await conn.execute("DELETE FROM open311_rate WHERE window_start < now() - interval '5 minutes'")
    return int(result.split()[-1])
