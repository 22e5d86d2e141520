"""Record keys for the cell-key method (sql/0015): every signal gets one, existing
signals and rollups included; a key never changes; the rollups' key sums always equal
the live ones, so the stored, rolled-up and live cubes publish the same values."""

from __future__ import annotations

import shutil
from datetime import date

import asyncpg

from burgerwacht.db import migrate
from burgerwacht.db.pool import init_connection
from burgerwacht.signals import jobs, store
from burgerwacht.signals.privacy import KEY_MODULUS
from tests.helpers.signals import BINNENSTAD, EILAND, insert

YEAR_START, YEAR_END = date(2025, 1, 1), date(2026, 1, 1)

# the rollup as it was before 0015 (no key sums)
OLD_ROLLUP = [
    """INSERT INTO signal_daily (municipality_code, day, buurt_code, category, n, n_rated, severity_sum)
       SELECT municipality_code, observed_on, buurt_code, category, count(*), count(severity),
              coalesce(sum(severity), 0) FROM signals GROUP BY 1, 2, 3, 4""",
    """INSERT INTO signal_monthly (municipality_code, month, buurt_code, category, n, n_rated, severity_sum)
       SELECT municipality_code, date_trunc('month', day)::date, buurt_code, category, sum(n), sum(n_rated),
              sum(severity_sum) FROM signal_daily GROUP BY 1, 2, 3, 4""",
    "DELETE FROM signal_dirty_days",
]


def key_sums(columns) -> dict[tuple[int, int], int]:
    return {
        (cell, month): key
        for cell, month, key in zip(columns["cell"], columns["month"], columns["key_sum"], strict=True)
    }


async def test_0015_gives_existing_signals_keys_and_the_rollups_their_sums(empty_db_url, tmp_path):
    before = tmp_path / "sql"
    before.mkdir()
    for path in migrate.MIGRATIONS_DIR.iterdir():
        if int(path.name[:4]) < 15:
            shutil.copy(path, before / path.name)
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate.migrate(conn, before, functions_dir=None)  # the functions are 0014's age
        rows = [
            (f"bs-{i}", "GM0001", f"BU00010{i % 3}0{i % 2}", cat, f"2025-0{1 + i % 4}-0{1 + i % 5}")
            for i, cat in enumerate(["graffiti", "drugs", "zwerfafval"] * 40)
        ]
        await conn.executemany(
            "INSERT INTO signals (public_id, municipality_code, buurt_code, category, observed_on, source, "
            "created_by) VALUES ($1, $2, $3, $4, $5::text::date, 'schouw', 'test')",
            rows,
        )
        for sql in OLD_ROLLUP:
            await conn.execute(sql)
        await migrate.migrate(conn)
        await init_connection(conn)
        keys = [r[0] for r in await conn.fetch("SELECT ckey FROM signals")]
        assert len(keys) == len(rows) and all(0 <= k < KEY_MODULUS for k in keys)
        assert len(set(keys)) == len(keys)  # 120 draws from 2**31: a repeat would be a broken source
        assert await conn.fetchval("SELECT count(*) FROM signal_dirty_days") == 0  # no count changed
        assert await conn.fetchval("SELECT count(*) FROM signal_cubes") == 0
        rolled = await store.month_count_columns(conn, "GM0001", YEAR_START, YEAR_END)
        live = await store.month_count_columns(conn, "GM0001", YEAR_START, YEAR_END, live=True)
        assert key_sums(rolled) == key_sums(live) and len(key_sums(live)) > 10
        # a signal written after the migration gets a key from the default
        await conn.execute(
            "INSERT INTO signals (public_id, municipality_code, buurt_code, category, observed_on, source, "
            "created_by) VALUES ('bs-new', 'GM0001', 'BU00010101', 'graffiti', '2025-05-01', 'schouw', 'test')"
        )
        assert await conn.fetchval("SELECT ckey FROM signals WHERE public_id = 'bs-new'") >= 0
    finally:
        await conn.close()


async def test_a_record_key_never_changes(db):
    await insert(db, [(BINNENSTAD, "graffiti", date(2025, 3, 3), 2, 3)])
    before = {r["id"]: r["ckey"] for r in await db.fetch("SELECT id, ckey FROM signals")}
    await db.execute("UPDATE signals SET ckey = 7")
    await db.execute("UPDATE signals SET category = 'drugs', buurt_code = $1, ckey = ckey + 1", EILAND)
    after = {r["id"]: r["ckey"] for r in await db.fetch("SELECT id, ckey FROM signals")}
    assert after == before


async def test_rollup_key_sums_equal_live_ones_through_every_change(client, db):
    """Inserted, reclassified, moved and deleted signals: the key sums the cube reads
    through the rollups (with dirty days read live) always equal the live ones."""
    await insert(
        db,
        [
            (BINNENSTAD, "graffiti", date(2025, 3, 3), 2, 9),
            (EILAND, "drugs", date(2025, 3, 4), 4, 6),
            (BINNENSTAD, "drugs", date(2025, 5, 30), 1, 4),
        ],
    )

    async def check() -> None:
        rolled = await store.month_count_columns(db, "GM9999", YEAR_START, YEAR_END)
        live = await store.month_count_columns(db, "GM9999", YEAR_START, YEAR_END, live=True)
        assert key_sums(rolled) == key_sums(live)

    await check()
    await jobs.run_rollup(db)
    await check()
    await db.execute(
        "UPDATE signals SET category = 'vernieling' WHERE id IN (SELECT id FROM signals LIMIT 3)"
    )
    await check()
    await db.execute(
        "UPDATE signals SET observed_on = '2025-04-01' WHERE category = 'drugs' AND buurt_code = $1", EILAND
    )
    await check()
    await jobs.run_rollup(db)
    await check()
    await db.execute("DELETE FROM signals WHERE id IN (SELECT id FROM signals ORDER BY id DESC LIMIT 2)")
    await check()
    await jobs.run_rollup(db)
    await check()
    daily = await db.fetch(
        f"SELECT d.key_sum, (SELECT sum(ckey::bigint) % {KEY_MODULUS} FROM signals s WHERE s.observed_on = d.day "
        "AND s.buurt_code = d.buurt_code AND s.category = d.category) AS live FROM signal_daily d"
    )
    assert daily and all(r["key_sum"] == r["live"] for r in daily)
