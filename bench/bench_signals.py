"""Signal summary latency at 1M signals over 50 buurten and 2 years: live vs rollups.

    .venv/bin/python bench/bench_signals.py [--signals 1000000] [--repeat 60] [--quick]

Creates its own database (embedded PostgreSQL, or BURGERWACHT_BENCH_DATABASE_URL),
a synthetic municipality GM8888 (10 wijken x 5 buurten), loads the signals with COPY,
and measures p50/p95 of:

* the count query for a year (what every summary reads: the protected cube covers
  a whole year), read live from `signals` and through the rollups;
* the protection of a year's cube (suppression + audit), cold;
* `GET /api/v1/signals/summary` over HTTP (auth, cube from cache, audit write),
  live-equivalent (nothing rolled up) and with rollups.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import BenchDatabase, clean_environ, log, machine_info, percentile, table  # noqa: E402

MUNI = "GM8888"
START = date(2024, 1, 1)
DAYS = 731


def _square(x0: float, y0: float, size: float) -> dict:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


async def create_areas(conn: asyncpg.Connection) -> list[str]:
    from asyncpg.types import Box, Point

    rows = []
    buurten = []
    size = 500.0
    x_base, y_base = 150000.0, 400000.0
    rows.append(
        (
            MUNI,
            "gemeente",
            "Benchstad",
            MUNI,
            None,
            2026,
            _square(x_base, y_base, size * 10),
            Box(Point(x_base + size * 10, y_base + size * 10), Point(x_base, y_base)),
        )
    )
    for w in range(10):
        wk = f"WK8888{w + 1:02d}"
        rows.append(
            (
                wk,
                "wijk",
                f"Wijk {w + 1}",
                MUNI,
                None,
                2026,
                _square(x_base + w * size, y_base, size),
                Box(Point(x_base + (w + 1) * size, y_base + size * 5), Point(x_base + w * size, y_base)),
            )
        )
        for b in range(5):
            bu = f"BU8888{w + 1:02d}{b + 1:02d}"
            x0, y0 = x_base + w * size, y_base + b * size
            rows.append(
                (
                    bu,
                    "buurt",
                    f"Buurt {w + 1}.{b + 1}",
                    MUNI,
                    wk,
                    2026,
                    _square(x0, y0, size),
                    Box(Point(x0 + size, y0 + size), Point(x0, y0)),
                )
            )
            buurten.append(bu)
    await conn.executemany(
        "INSERT INTO areas (code, level, name, municipality_code, district_code, year, geometry, bbox) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        rows,
    )
    return buurten


async def load_signals(conn: asyncpg.Connection, buurten: list[str], n: int) -> float:
    from burgerwacht.signals.taxonomy import taxonomy

    cats = [c.code for c in taxonomy().categories_for(MUNI)]
    rng = np.random.default_rng(7)
    # skewed: some buurten and categories are far busier than others
    b_weights = rng.pareto(1.5, len(buurten)) + 0.2
    c_weights = rng.pareto(1.2, len(cats)) + 0.1
    b_idx = rng.choice(len(buurten), n, p=b_weights / b_weights.sum())
    c_idx = rng.choice(len(cats), n, p=c_weights / c_weights.sum())
    days = rng.integers(0, DAYS, n)
    sev = rng.integers(1, 6, n)
    rated = rng.random(n) < 0.8
    wijk = [f"WK8888{b[6:8]}" for b in buurten]
    day_list = [START + timedelta(days=int(d)) for d in range(DAYS)]
    t0 = time.perf_counter()
    batch = 200_000
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        records = [
            (
                "bs-" + secrets.token_hex(12),
                MUNI,
                wijk[b_idx[i]],
                buurten[b_idx[i]],
                cats[c_idx[i]],
                int(sev[i]) if rated[i] else None,
                day_list[days[i]],
                "interview",
                "bench",
            )
            for i in range(lo, hi)
        ]
        await conn.copy_records_to_table(
            "signals",
            records=records,
            columns=[
                "public_id",
                "municipality_code",
                "wijk_code",
                "buurt_code",
                "category",
                "severity",
                "observed_on",
                "source",
                "created_by",
            ],
        )
        log(f"loaded {hi:,} signals")
    await conn.execute("VACUUM (ANALYZE) signals")  # steady state: autovacuum would have run
    return time.perf_counter() - t0


async def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def row(name: str, ms: list[float]) -> list[str]:
    return [name, f"{percentile(ms, 50):.2f}", f"{percentile(ms, 95):.2f}", f"{max(ms):.2f}", str(len(ms))]


async def run(n: int, repeat: int) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from burgerwacht.auth.service import create_user_with_token
    from burgerwacht.config import load_settings
    from burgerwacht.db.pool import init_connection
    from burgerwacht.signals import jobs, privacy, service, store
    from burgerwacht.signals.periods import parse_period
    from burgerwacht.web.app import create_app

    results: list[list[str]] = []
    async with BenchDatabase("signals") as db:
        conn = await asyncpg.connect(db.url)
        await init_connection(conn)
        buurten = await create_areas(conn)
        load_s = await load_signals(conn, buurten, n)
        log(f"COPY of {n:,} signals: {load_s:.1f} s")
        _, token = await create_user_with_token(
            conn, name="bench analyst", role="analyst", municipalities=[MUNI], ttl_days=1
        )
        settings = load_settings(database_url=db.url, environment="test")
        y0, y1 = date(2025, 1, 1), date(2026, 1, 1)
        month = "2025-06"

        async def live_counts():
            await store.month_counts(conn, MUNI, y0, y1, live=True)

        async def rolled_counts():
            await store.month_counts(conn, MUNI, y0, y1)

        app = create_app(settings, database_url=db.url)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        headers = {"Authorization": f"Bearer {token}"}

        async def http_summary():
            resp = await client.get(
                f"/api/v1/signals/summary?municipality={MUNI}&level=buurt&period={month}", headers=headers
            )
            assert resp.status == 200, await resp.text()
            await resp.read()

        # before any rollup every day is dirty: the rollup path is the live path
        async def direct_summary():
            await service.summary(conn, settings, service.SummaryRequest(MUNI, "buurt", parse_period(month)))

        slow = max(5, repeat // 3)
        log("measuring live")
        results.append(row("count query, year, live (signals table)", await timed(live_counts, slow)))
        await http_summary()  # warm the cube cache
        results.append(row("GET summary (buurt, month), nothing rolled up", await timed(http_summary, slow)))
        # the cube protection itself, cold
        c = await service.cube(conn, settings, MUNI, 2025)
        leaf = c.protected.true[: c.areas.leaves, : c.nodes.leaves, :12]

        async def protect_cold():
            privacy.protect(leaf, [c.areas, c.nodes, c.periods], k=5, round_to=5, protection=2)

        results.append(
            row(
                "cube protection (year, 61 areas x 30 nodes x 17 periods), cold",
                await timed(protect_cold, 10),
            )
        )
        log("rolling up")
        t = time.perf_counter()
        rolled = await jobs.run_rollup(conn)
        rollup_s = time.perf_counter() - t
        log(f"rollup of {rolled['days']} days: {rollup_s:.1f} s")
        results.append(row("count query, year, with rollups", await timed(rolled_counts, repeat)))
        results.append(row("summary() in process, with rollups", await timed(direct_summary, repeat)))
        results.append(row("GET summary (buurt, month), with rollups", await timed(http_summary, repeat)))
        # one new signal: its day is read live next to the rollups
        await conn.execute(
            "INSERT INTO signals (public_id, municipality_code, wijk_code, buurt_code, category, observed_on, source, "
            "created_by) VALUES ($1, $2, 'WK888801', 'BU88880101', 'graffiti', '2025-06-15', 'schouw', 'bench')",
            "bs-" + secrets.token_hex(12),
            MUNI,
        )
        results.append(row("count query, year, rollups + 1 dirty day", await timed(rolled_counts, repeat)))
        await client.close()
        await conn.close()
        info = machine_info()
        print(f"\n## Signal summaries — {n:,} signals, 50 buurten, {DAYS} days\n")
        print(f"{info['date']}; {info['cpu']}; {info['memory']}; PostgreSQL {db.server_version}\n")
        print(table(["measurement", "p50 ms", "p95 ms", "max ms", "runs"], results))
        print(
            f"\nCOPY load {load_s:.1f} s; rollup of {rolled['days']} dirty days {rollup_s:.1f} s; "
            f"mean of medians {statistics.mean(float(r[1]) for r in results):.1f} ms"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="100k signals, 20 runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.signals, args.repeat = 100_000, 20
    clean_environ()
    asyncio.run(run(args.signals, args.repeat))


if __name__ == "__main__":
    main()
