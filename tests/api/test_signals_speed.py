"""Fast summaries that are never stale: the rollup job builds the protected cubes, a
request uses a stored cube only while it is exact, a summary right after new, changed
or deleted signals includes them, and the live count query reads the 0011 index."""

from __future__ import annotations

import asyncio
from datetime import date

import numpy as np
import pytest

from burgerwacht.signals import cube, jobs, store, summary
from burgerwacht.signals.periods import parse_period
from tests.helpers.signals import BINNENSTAD, EILAND, insert, possible, seed

YEAR_START, YEAR_END = date(2025, 1, 1), date(2026, 1, 1)


def forget_process_caches() -> None:
    """As in a web process that has never seen these cubes."""
    cube._CACHE.clear()
    cube._STORED.clear()


async def published(db, settings, *, live: bool, level: str = "buurt", period: str = "2025-03"):
    req = summary.SummaryRequest("GM9999", level, parse_period(period))
    doc = await summary.summary(db, settings, req, live=live)
    return {(i["area_code"], i["category"]): (i["count"], i["previous_count"]) for i in doc["items"]}


async def test_rollup_job_prebuilds_protected_cubes(client, db, settings, monkeypatch):
    await seed(db)
    result = await jobs.rollup(client.app)
    assert result["days"] == 2 and result["cubes"] == 1  # 2025 of GM9999
    row = await db.fetchrow(
        "SELECT year, generation, build_ms FROM signal_cubes WHERE municipality_code = 'GM9999'"
    )
    assert row["year"] == 2025 and row["generation"] > 0
    expected = await published(db, settings, live=True)
    forget_process_caches()
    calls: list[int] = []
    monkeypatch.setattr(cube, "protect", lambda *a, **k: calls.append(1))
    for level, period in (("buurt", "2025-03"), ("wijk", "2025-Q2"), ("gemeente", "2025-02")):
        got = await published(db, settings, live=False, level=level, period=period)
        if (level, period) == ("buurt", "2025-03"):
            assert got == expected
    assert calls == []  # every summary above came from the stored cube
    # nothing changed: the next run builds nothing
    await db.execute("UPDATE signal_rollup_state SET last_run_at = NULL")
    assert (await jobs.rollup(client.app))["cubes"] == 0


async def test_summary_right_after_new_signals_includes_them(client, db, settings):
    await seed(db)
    await jobs.run_rollup(db)
    assert await cube.prebuild_cubes(db, settings) == 1
    before = await published(db, settings, live=False)
    assert before[(BINNENSTAD, "graffiti")][0] in possible(23) - {None}  # 23 signals
    # five more graffiti signals in March, committed just now: no rollup has run
    await insert(db, [(BINNENSTAD, "graffiti", date(2025, 3, 20), 2, 5)])
    after = await published(db, settings, live=False)
    assert after[(BINNENSTAD, "graffiti")][0] in possible(28) - {None}  # 28
    assert after == await published(db, settings, live=True)
    # a reclassification and a deletion are exact at once too
    await db.execute("UPDATE signals SET category = 'vernieling' WHERE category = 'drugs'")
    await db.execute("DELETE FROM signals WHERE buurt_code = 'BU99990102'")
    changed = await published(db, settings, live=False)
    assert changed == await published(db, settings, live=True)
    assert changed[(BINNENSTAD, "drugs")][0] is None
    assert changed[(BINNENSTAD, "vernieling")][0] in possible(12) - {None}  # the 12 drugs signals
    # the rollup job catches up and rebuilds; the stored cube is exact again
    await jobs.run_rollup(db)
    assert await cube.prebuild_cubes(db, settings) == 1
    forget_process_caches()
    assert await published(db, settings, live=False) == changed


async def test_a_year_mostly_dirty_is_counted_live(client, db, settings, monkeypatch):
    """Before the first rollup (or after a bulk import) reading every dirty day through
    the rollups costs ~1 ms a day; beyond a month of dirty days a summary counts the
    year live instead, with the same published result."""
    from datetime import timedelta

    days = cube.LIVE_AFTER_DIRTY_DAYS + 1
    await insert(
        db, [(BINNENSTAD, "graffiti", date(2025, 1, 1) + timedelta(days=d), 3, 1) for d in range(days)]
    )
    await insert(db, [(EILAND, "drugs", date(2025, 3, 2), 2, 7)])
    counted: list[bool] = []
    real = store.month_count_columns

    async def spy(conn, municipality, start, end, *, live=False):
        counted.append(live)
        return await real(conn, municipality, start, end, live=live)

    monkeypatch.setattr(store, "month_count_columns", spy)
    many = await published(db, settings, live=False, period="2025-Q1")
    assert counted == [True, False]  # 2025 live; its previous quarter's 2024 (clean) through the rollups
    # 7 and 32 signals (the published values carry the cell-key noise)
    assert many[(EILAND, "drugs")][0] in possible(7) and many[(BINNENSTAD, "graffiti")][0] in possible(32)
    await jobs.run_rollup(db)
    await insert(db, [(EILAND, "drugs", date(2025, 3, 3), 2, 1)])  # one dirty day: through the rollups
    forget_process_caches()
    counted.clear()
    few = await published(db, settings, live=False, period="2025-Q1")
    assert counted == [False, False]
    assert few == await published(db, settings, live=True, period="2025-Q1")
    assert few[(EILAND, "drugs")][0] in possible(8)


async def test_a_category_no_longer_configured_counts_as_the_fallback(client, db, settings):
    """Signals of a category a municipality has since removed from its taxonomy still
    count, under 'anders', both live and through the rollups."""
    await insert(
        db, [(BINNENSTAD, "vuurwerk", date(2025, 3, 5), 2, 7), (BINNENSTAD, "anders", date(2025, 3, 6), 2, 4)]
    )
    seen = []
    for live in (True, False):
        forget_process_caches()
        rows = await published(db, settings, live=live)
        seen.append(rows[(BINNENSTAD, "anders")][0])
        assert seen[-1] in possible(11) - {None}  # 11 signals
        assert (BINNENSTAD, "vuurwerk") not in rows
    assert seen[0] == seen[1]  # the same records, the same cell key: the same value


async def test_stored_cube_is_used_only_while_exact(client, db, settings):
    await seed(db)
    await jobs.run_rollup(db)
    await cube.prebuild_cubes(db, settings)
    params = cube.cube_params(settings, "GM9999")
    state = await store.stored_cube_state(db, "GM9999", 2025, params)
    assert not state["dirty_days"] and state["token"]
    # any new signal in the year: dirty, so the stored cube is not used
    await insert(db, [(EILAND, "graffiti", date(2025, 11, 2), 1, 1)])
    state = await store.stored_cube_state(db, "GM9999", 2025, params)
    assert state["dirty_days"]
    await jobs.run_rollup(db)
    # rolled up but not rebuilt yet: the generation moved on, so no token
    state = await store.stored_cube_state(db, "GM9999", 2025, params)
    assert not state["dirty_days"] and state["token"] is None
    await cube.prebuild_cubes(db, settings)
    state = await store.stored_cube_state(db, "GM9999", 2025, params)
    assert state["token"]
    # an area import (a renamed buurt) makes it out of date as well
    await db.execute("UPDATE areas SET name = 'Nieuwe naam', updated_at = now() WHERE code = $1", BINNENSTAD)
    assert (await store.stored_cube_state(db, "GM9999", 2025, params))["token"] is None
    doc = await summary.summary(
        db, settings, summary.SummaryRequest("GM9999", "buurt", parse_period("2025-03"))
    )
    assert {i["area_name"] for i in doc["items"] if i["area_code"] == BINNENSTAD} == {"Nieuwe naam"}
    # other privacy parameters never read a cube built for different ones
    assert (await store.stored_cube_state(db, "GM9999", 2025, params.replace("k=5", "k=7")))["token"] is None


async def test_an_older_build_never_replaces_a_newer_one(client, db, settings):
    await seed(db)
    await jobs.run_rollup(db)
    await cube.prebuild_cubes(db, settings)
    row = await db.fetchrow("SELECT params, generation, token FROM signal_cubes")
    saved = await store.save_cube(
        db,
        municipality="GM9999",
        year=2025,
        params=row["params"],
        generation=row["generation"] - 1,
        areas_version="x",
        token="old",
        build_ms=1,
        payload=b"",
    )
    assert not saved
    assert await db.fetchval("SELECT token FROM signal_cubes") == row["token"]


async def test_stored_cube_round_trip(client, db, settings):
    await seed(db)
    c = await cube.cube(db, settings, "GM9999", 2025, live=True)
    back = cube.cube_from_payload(cube.cube_to_payload(c))
    for name in ("count", "hidden", "primary", "true"):
        assert (getattr(back.protected, name) == getattr(c.protected, name)).all()
    assert (
        (back.protected.mean_severity == c.protected.mean_severity) | np.isnan(c.protected.mean_severity)
    ).all()
    assert back.areas.labels == c.areas.labels and back.areas.relations == c.areas.relations
    assert back.nodes.labels == c.nodes.labels and back.area_name == c.area_name


async def test_summary_rows_equal_cell_by_cell_lookup(client, db, settings):
    """summary() reads whole blocks of the cube; the rows must be what Cube.value gives."""
    await seed(db)
    await insert(db, [(BINNENSTAD, "graffiti", date(2024, 12, 5), 4, 11)])
    for level, period, group in (
        ("buurt", "2025-03", None),
        ("wijk", "2025-01", "all"),  # previous period in 2024
        ("gemeente", "2025-Q1", "fysieke_verloedering"),
        ("buurt", "2025", None),
    ):
        p = parse_period(period)
        req = summary.SummaryRequest("GM9999", level, p, group=group)
        doc = await summary.summary(db, settings, req)
        current = await cube.cube(db, settings, "GM9999", p.year)
        prev_p = p.previous()
        previous = await cube.cube(db, settings, "GM9999", prev_p.year)
        for item in doc["items"]:
            n, mean = current.value(item["area_code"], item["category"], p)
            prev, _ = previous.value(item["area_code"], item["category"], prev_p)
            total, _ = current.value("GM9999", item["category"], p)
            assert (item["count"], item["mean_severity"], item["previous_count"]) == (n, mean, prev)
            assert item["share"] == (round(n / total, 3) if n is not None and total else None)


async def test_live_count_query_is_an_index_only_scan(db):
    await insert(
        db, [(BINNENSTAD, "graffiti", date(2025, 3, 1), 2, 3), (EILAND, "drugs", date(2025, 12, 31), None, 2)]
    )
    await db.execute("VACUUM (ANALYZE) signals")
    await db.execute("SET enable_seqscan = off")  # a tiny table: the planner would scan it whole
    plan = "\n".join(
        r[0] for r in await db.fetch("EXPLAIN " + store._LIVE_CELLS, "GM9999", YEAR_START, YEAR_END)
    )
    assert "Index Only Scan using signals_cell_counts" in plan and "Sort" not in plan
    rows = sorted(map(tuple, await store.month_counts(db, "GM9999", YEAR_START, YEAR_END, live=True)))
    assert rows == [(BINNENSTAD, "graffiti", 3, 3, 3, 6), (EILAND, "drugs", 12, 2, 0, 0)]
    assert by_cell(await store.month_count_columns(db, "GM9999", YEAR_START, YEAR_END, live=True)) == rows
    assert by_cell(await store.month_count_columns(db, "GM9999", YEAR_START, YEAR_END)) == rows
    with pytest.raises(ValueError):
        await store.month_counts(db, "GM9999", date(2025, 1, 2), YEAR_END, live=True)
    empty = await store.month_count_columns(db, "GM9999", date(2030, 1, 1), date(2031, 1, 1), live=True)
    assert {c: empty[c] for c in store.COUNT_COLUMNS} == {c: [] for c in store.COUNT_COLUMNS}
    assert len(empty["cells"]["id"]) == 2  # the municipality's cells are named all the same


def by_cell(columns) -> list[tuple]:
    """month_count_columns as (buurt, category, month, n, n_rated, severity_sum) rows."""
    cells = columns["cells"]
    names = dict(zip(cells["id"], zip(cells["buurt_code"], cells["category"], strict=True), strict=True))
    rows = zip(*(columns[c] for c in store.COUNT_COLUMNS), strict=True)
    return sorted((*names[cell], *rest) for cell, *rest in rows)


async def by_codes(db) -> list[tuple]:
    """The live count grouped by the codes themselves, as before sql/0011."""
    rows = await db.fetch(
        "SELECT buurt_code, category, extract(month FROM observed_on)::int, count(*)::int, "
        "count(severity)::int, coalesce(sum(severity), 0)::int FROM signals "
        "WHERE municipality_code = 'GM9999' AND observed_on >= $1 AND observed_on < $2 GROUP BY 1, 2, 3",
        YEAR_START,
        YEAR_END,
    )
    return sorted(map(tuple, rows))


async def test_each_signal_counts_in_the_cell_of_its_codes(db, db_url):
    """The live count groups by signals.cell (sql/0011): a cell first used by two
    sessions at once is one cell, and no update can leave a signal in a cell that is
    not its own buurt and category."""
    import asyncpg

    from burgerwacht.db.pool import init_connection

    a, b = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        for conn in (a, b):
            await init_connection(conn)
        ta, tb = a.transaction(), b.transaction()
        await ta.start()
        await tb.start()
        await insert(a, [(BINNENSTAD, "hondenpoep", date(2025, 4, 2), 1, 1)])
        second = asyncio.ensure_future(insert(b, [(BINNENSTAD, "hondenpoep", date(2025, 4, 3), 2, 1)]))
        await asyncio.sleep(0.3)
        assert not second.done()  # waits for the first session's new cell
        await ta.commit()
        await asyncio.wait_for(second, 10)
        await tb.commit()
    finally:
        await a.close()
        await b.close()
    cells = await db.fetch(
        "SELECT id FROM signal_cells WHERE buurt_code = $1 AND category = 'hondenpoep'", BINNENSTAD
    )
    assert len(cells) == 1
    live = sorted(map(tuple, await store.month_counts(db, "GM9999", YEAR_START, YEAR_END, live=True)))
    assert live == await by_codes(db)
    assert (BINNENSTAD, "hondenpoep", 4, 2, 2, 3) in live

    await insert(db, [(EILAND, "drugs", date(2025, 5, 1), None, 2)])
    other = await db.fetchval("SELECT cell FROM signals WHERE buurt_code = $1 LIMIT 1", EILAND)
    await db.execute(
        "UPDATE signals SET cell = $1 WHERE category = 'hondenpoep'", other
    )  # a manual fix gone wrong
    await db.execute(
        "UPDATE signals SET category = 'zwerfafval' WHERE buurt_code = $1", EILAND
    )  # reclassified
    await db.execute(
        "UPDATE signals SET buurt_code = 'BU99990102' WHERE category = 'hondenpoep' AND observed_on = '2025-04-03'"
    )
    live = sorted(map(tuple, await store.month_counts(db, "GM9999", YEAR_START, YEAR_END, live=True)))
    assert live == await by_codes(db)
    assert {r[:2] for r in live} == {
        (BINNENSTAD, "hondenpoep"),
        ("BU99990102", "hondenpoep"),
        (EILAND, "zwerfafval"),
    }


async def test_concurrent_requests_share_one_protection(client, db, settings, monkeypatch):
    await seed(db)
    forget_process_caches()
    real = cube.protect
    calls: list[int] = []

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cube, "protect", counting)
    areas = await store.municipality_areas(db, "GM9999")
    counts = await store.month_count_columns(db, "GM9999", YEAR_START, YEAR_END, live=True)
    cubes = await asyncio.gather(*(cube._build(settings, "GM9999", 2025, areas, counts) for _ in range(3)))
    assert calls == [1] and cubes[0] is cubes[1] is cubes[2]
    assert not cube._BUILDING


async def test_prebuild_keeps_to_its_time_budget(client, db, settings):
    await seed(db)
    await insert(db, [(BINNENSTAD, "graffiti", date(2024, 12, 5), 4, 11)])
    await jobs.run_rollup(db)
    assert await cube.prebuild_cubes(db, settings, budget_s=-1) == 0  # out of time at once
    assert await cube.prebuild_cubes(db, settings) == 2  # 2025 and 2024, newest first
    assert await cube.prebuild_cubes(db, settings) == 0


async def test_rollup_never_clears_a_day_with_an_uncommitted_change(client, db, db_url, settings):
    """A signal added to an already dirty day, not yet committed while the rollup runs:
    the rollup must leave that day dirty (0005 cleared it, and lost the signal)."""
    import asyncpg

    from burgerwacht.db.pool import init_connection

    day = date(2025, 3, 10)
    await insert(db, [(BINNENSTAD, "graffiti", day, 2, 6), (EILAND, "drugs", date(2025, 4, 1), 3, 5)])
    writer = await asyncpg.connect(db_url)
    await init_connection(writer)
    try:
        tx = writer.transaction()
        await tx.start()
        await insert(writer, [(BINNENSTAD, "graffiti", day, 2, 1)])  # marks the (dirty) day again
        result = await asyncio.wait_for(store.rollup(db), 10)  # must not wait for the writer
        assert result["days"] == 1  # 1 April rolled up, 10 March left alone
        assert await db.fetchval("SELECT count(*) FROM signal_dirty_days WHERE day = $1", day) == 1
        await tx.commit()
    finally:
        await writer.close()
    await jobs.run_rollup(db)
    live = sorted(map(tuple, await store.month_counts(db, "GM9999", YEAR_START, YEAR_END, live=True)))
    rolled = sorted(map(tuple, await store.month_counts(db, "GM9999", YEAR_START, YEAR_END)))
    assert live == rolled and (BINNENSTAD, "graffiti", 3, 7, 7, 14) in live
    await cube.prebuild_cubes(db, settings)
    assert await published(db, settings, live=False) == await published(db, settings, live=True)


async def test_a_rollup_that_deletes_a_marker_first_gets_it_back(client, db, db_url):
    """The other order: the rollup holds the day's marker when the change arrives; the
    change waits, finds the marker gone, and marks the day again."""
    import asyncpg

    from burgerwacht.db.pool import init_connection

    day = date(2025, 3, 10)
    await insert(db, [(BINNENSTAD, "graffiti", day, 2, 6)])
    writer = await asyncpg.connect(db_url)
    await init_connection(writer)
    try:
        tx = db.transaction()
        await tx.start()
        await db.execute("DELETE FROM signal_dirty_days WHERE day = $1", day)  # as a rollup run does
        pending = asyncio.ensure_future(insert(writer, [(BINNENSTAD, "graffiti", day, 2, 1)]))
        await asyncio.sleep(0.3)
        assert not pending.done()  # waits for the rollup's lock
        await tx.commit()
        await asyncio.wait_for(pending, 10)
    finally:
        await writer.close()
    assert await db.fetchval("SELECT count(*) FROM signal_dirty_days WHERE day = $1", day) == 1
