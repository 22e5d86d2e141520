"""Signal summary latency at 1M signals over 50 buurten and 2 years: live vs rollups,
in process vs HTTP, side by side in one run (figures only: it never passes or fails).

    .venv/bin/python bench/bench_signals.py [--signals 1000000] [--repeat 60] [--quick]

Creates its own database (embedded PostgreSQL, or BURGERWACHT_BENCH_DATABASE_URL),
a synthetic municipality GM8888 (10 wijken x 5 buurten), loads the signals with COPY
(VACUUM ANALYZE afterwards, as autovacuum would), and measures p50/p95 of:

* the count query for a year (what a protected cube is built from), read live from
  `signals` (now, as sql/0009 ran it and as before sql/0009) and through the rollups;
* `summary()` in process and `GET /api/v1/signals/summary` over HTTP (auth and audit
  write included), live (nothing rolled up) and with rollups plus the pre-built cube;
* the first summary after a new signal (exact at once: its cube is protected on that
  request) and the first after the rollup job has rebuilt the cube;
* the cube protection itself, cold;

and prints EXPLAIN (ANALYZE, BUFFERS) of the count queries, the load average and the
Python full garbage collections that fell into timed runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import (  # noqa: E402
    BenchDatabase,
    Figure,
    clean_environ,
    log,
    machine_info,
    percentile,
    table,
    wait_quiet,
)

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


class FullGc:
    """Python's full (generation 2) garbage collections: when and how long. A call that
    allocates many tracked objects (asyncpg records, dicts) triggers them now and then,
    and one costs as much as the whole heap takes to traverse."""

    def __init__(self) -> None:
        self.count = 0
        self.ms = 0.0
        self._t = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.count += 1
            self.ms += (time.perf_counter() - self._t) * 1000


GC = FullGc()
#: per measurement name: (runs during which a full collection ran, their pause in ms)
GC_HITS: dict[str, list[float]] = {}


async def timed(fn, repeat: int, name: str | None = None) -> list[float]:
    out = []
    for _ in range(repeat):
        before_n, before_ms = GC.count, GC.ms
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
        if name is not None and GC.count > before_n:
            GC_HITS.setdefault(name, []).append(GC.ms - before_ms)
    return out


def pct(ms: list[float] | None) -> tuple[str, str]:
    if not ms:
        return "-", "-"
    return f"{percentile(ms, 50):.1f}", f"{percentile(ms, 95):.1f}"


# the count query as it was before sql/0009 (extract() per row, hash aggregate over the
# 0005 index), kept here so one run shows before and after side by side
OLD_LIVE = """
SELECT buurt_code, category, (extract(month FROM observed_on))::int AS month,
       count(*)::int AS n, count(severity)::int AS n_rated, coalesce(sum(severity), 0)::int AS severity_sum
FROM signals
WHERE municipality_code = $1 AND observed_on >= $2 AND observed_on < $3
GROUP BY 1, 2, 3
"""

# The live count as sql/0009 ran it: grouped by the two text codes, from an index the
# benchmark builds for the comparison (sql/0011 replaced it by the cell index).
TEXT_KEYS_INDEX = "CREATE INDEX bench_text_keys ON signals (municipality_code, observed_month, buurt_code, category, severity)"
TEXT_KEYS_LIVE = """
SELECT buurt_code, category, (extract(month FROM observed_month))::int AS month,
       count(*)::int AS n, count(severity)::int AS n_rated, coalesce(sum(severity), 0)::int AS severity_sum
FROM signals
WHERE municipality_code = $1 AND observed_month >= $2 AND observed_month < $3
GROUP BY observed_month, buurt_code, category
"""


async def explain(conn: asyncpg.Connection, sql: str, *args) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) without per-node timing: plan shape, rows and buffers."""
    rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + sql, *args)
    keep = (
        "Aggregate",
        "Gather",
        "Scan",
        "Buffers",
        "Heap Fetches",
        "Workers Launched",
        "Execution Time",
        "Sort",
    )
    out = []
    for r in rows:
        line = r[0]
        if any(k in line for k in keep):
            out.append(line.replace("  ", " ").rstrip()[:150])
    return out


async def backend_cpu_ms(conn: asyncpg.Connection, fn, runs: int = 20) -> float | None:
    """CPU milliseconds (user + system) the PostgreSQL backend spends per call, with
    parallel workers off so that all the work is in that one process: unlike wall time,
    it does not grow when other processes take the cores."""
    import psutil

    pid = await conn.fetchval("SELECT pg_backend_pid()")
    try:
        proc = psutil.Process(pid)
    except psutil.Error:  # a server on another machine
        return None
    await conn.execute("SET max_parallel_workers_per_gather = 0")
    try:
        for _ in range(6):  # past the prepared statement's first custom plans
            await fn()
        before = proc.cpu_times()
        for _ in range(runs):
            await fn()
        after = proc.cpu_times()
    finally:
        await conn.execute("RESET max_parallel_workers_per_gather")
    return 1000 * ((after.user + after.system) - (before.user + before.system)) / runs


async def run(n: int, repeat: int, json_path: Path | None = None) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from burgerwacht.auth.service import create_user_with_token
    from burgerwacht.config import load_settings
    from burgerwacht.db.pool import init_connection
    from burgerwacht.signals import cube, jobs, privacy, store, summary
    from burgerwacht.signals.periods import parse_period
    from burgerwacht.web.app import create_app

    plans: dict[str, list[str]] = {}
    notes: list[str] = []
    async with BenchDatabase("signals") as db:
        conn = await asyncpg.connect(db.url)
        await init_connection(conn)
        buurten = await create_areas(conn)
        load_s = await load_signals(conn, buurten, n)
        log(f"COPY of {n:,} signals: {load_s:.1f} s")
        # other sessions share the 2 cores: wait (briefly) for a quieter moment, and say
        other_cores = wait_quiet(30.0, threshold_cores=0.5)
        load_before = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        _, token = await create_user_with_token(
            conn, name="bench analyst", role="analyst", municipalities=[MUNI], ttl_days=1
        )
        settings = load_settings(database_url=db.url, environment="test")
        y0, y1 = date(2025, 1, 1), date(2026, 1, 1)
        month = "2025-06"
        req = summary.SummaryRequest(MUNI, "buurt", parse_period(month))

        async def old_live_counts():
            await conn.fetch(OLD_LIVE, MUNI, y0, y1)

        async def text_keys_counts():
            await conn.fetch(TEXT_KEYS_LIVE, MUNI, y0, y1)

        async def live_counts():
            await store.month_count_columns(conn, MUNI, y0, y1, live=True)

        async def live_counts_custom():
            # a fresh prepared statement runs a custom plan, which may be parallel
            stmt = await conn.prepare(store.count_columns_sql(live=True))
            await stmt.fetchrow(MUNI, y0, y1)

        async def rolled_counts():
            await store.month_count_columns(conn, MUNI, y0, y1)

        async def summary_live():
            await summary.summary(conn, settings, req, live=True)

        async def summary_direct():
            await summary.summary(conn, settings, req)

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

        async def new_signal(day: str = "2025-06-15") -> None:
            await conn.execute(
                "INSERT INTO signals (public_id, municipality_code, wijk_code, buurt_code, category, observed_on, "
                "source, created_by) VALUES ($1, $2, 'WK888801', 'BU88880101', 'graffiti', $3, 'schouw', 'bench')",
                "bs-" + secrets.token_hex(12),
                MUNI,
                date.fromisoformat(day),
            )

        slow = max(5, repeat // 3)
        live: dict[str, list[float]] = {}
        rolled: dict[str, list[float]] = {}
        log("measuring live (nothing rolled up)")
        plans["count query, live, before (0005 index)"] = await explain(conn, OLD_LIVE, MUNI, y0, y1)
        plans["count query, live (0011 index), as the service runs it"] = await explain(
            conn, store.count_columns_sql(live=True), MUNI, y0, y1
        )
        live["old"] = await timed(old_live_counts, slow)
        await conn.execute(TEXT_KEYS_INDEX)
        await conn.execute("VACUUM (ANALYZE) signals")
        plans["count query, live, before sql/0011 (text keys)"] = await explain(
            conn, TEXT_KEYS_LIVE, MUNI, y0, y1
        )
        live["text"] = await timed(text_keys_counts, repeat)
        cpu_text = await backend_cpu_ms(conn, text_keys_counts)
        await conn.execute("DROP INDEX bench_text_keys")
        live["count"] = await timed(live_counts, repeat, "count query, live")
        live["custom"] = await timed(live_counts_custom, repeat)
        await summary_live()  # protect once; afterwards the content cache holds it
        cpu_old = await backend_cpu_ms(conn, old_live_counts)
        cpu_live = await backend_cpu_ms(conn, live_counts)
        live["summary"] = await timed(summary_live, repeat)
        await http_summary()
        # every day dirty, as before the first rollup: the service counts the year live
        live["http"] = await timed(http_summary, repeat, "HTTP summary, nothing rolled up")
        # the cube protection itself, cold
        c = await cube.cube(conn, settings, MUNI, 2025, live=True)
        leaf = c.protected.true[: c.areas.leaves, : c.nodes.leaves, :12]

        async def protect_cold():
            privacy.protect(leaf, [c.areas, c.nodes, c.periods], k=5, round_to=5, protection=2)

        protect_ms = await timed(protect_cold, 10)

        log("rolling up")
        t = time.perf_counter()
        done = await jobs.run_rollup(conn)
        rollup_s = time.perf_counter() - t
        t = time.perf_counter()
        cubes = await cube.prebuild_cubes(conn, settings)
        prebuild_s = time.perf_counter() - t
        log(
            f"rollup of {done['days']} days: {rollup_s:.1f} s; {cubes} protected cubes built in {prebuild_s:.1f} s"
        )
        # steady state: autovacuum would have analysed the freshly filled rollup tables
        await conn.execute("VACUUM (ANALYZE) signal_daily, signal_monthly, signal_dirty_days")
        plans["count query, with rollups, as the service runs it"] = await explain(
            conn, store.count_columns_sql(live=False), MUNI, y0, y1
        )
        rolled["count"] = await timed(rolled_counts, repeat, "count query, with rollups")
        rolled["summary"] = await timed(summary_direct, repeat * 5, "summary(), with rollups")
        rolled["http"] = await timed(http_summary, repeat * 2, "HTTP summary, with rollups")

        # a new signal: the year is exact at once (its day read live, cube protected on
        # the request), until the rollup job has rolled it up and rebuilt the cube
        after_signal: list[float] = []
        dirty_counts: list[float] = []
        after_job: list[float] = []
        job_s: list[float] = []
        for i in range(5):
            await new_signal(f"2025-06-{10 + i:02d}")
            t = time.perf_counter()
            await summary_direct()
            after_signal.append((time.perf_counter() - t) * 1000)
            dirty_counts += await timed(rolled_counts, 5)
            t = time.perf_counter()
            await jobs.run_rollup(conn)
            await cube.prebuild_cubes(conn, settings)
            job_s.append(time.perf_counter() - t)
            cube._STORED.clear()  # as in another web process: load from the database
            t = time.perf_counter()
            await summary_direct()
            after_job.append((time.perf_counter() - t) * 1000)
        load_after = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        await client.close()
        await conn.close()

    info = machine_info()
    print(f"\n## Signal summaries — {n:,} signals, 50 buurten, {DAYS} days\n")
    print(f"{info['date']}; {info['cpu']}; {info['memory']}; PostgreSQL {db.server_version}")
    print(
        f"load average before measuring {load_before}, after {load_after}; other processes used "
        f"{other_cores:.2f} cores just before (2 cores in all)\n"
    )
    rows = [
        ["count query for a year (per buurt, category, month)", *pct(live["count"]), *pct(rolled["count"])],
        ["  same, custom plan each time (parallel allowed)", *pct(live["custom"]), "", ""],
        ["  same, as before sql/0011 (0009: grouped by the text codes)", *pct(live["text"]), "", ""],
        ["  same, as before sql/0009 (0005 index, extract per row)", *pct(live["old"]), "", ""],
        ["`summary()` in process (buurt, month, compare)", *pct(live["summary"]), *pct(rolled["summary"])],
        [
            "`GET /api/v1/signals/summary` over HTTP (auth + audit write)",
            *pct(live["http"]),
            *pct(rolled["http"]),
        ],
        ["count query, rollups + dirty days", "", "", *pct(dirty_counts)],
        ["first `summary()` after a new signal, before the next rollup", "", "", *pct(after_signal)],
        ["first `summary()` after the rollup job, other process", "", "", *pct(after_job)],
    ]
    print(table(["measurement", "live p50", "live p95", "rollups p50", "rollups p95"], rows))
    print(
        "\nlive: nothing rolled up; `summary(live=True)` counts from signals and protects (content cache "
        "holds the protected cube); the HTTP row is the service's own path with every day dirty "
        f"({repeat} runs), as before the first rollup: more than a month dirty, so it counts live.\n"
        f"runs: counts {repeat}, live summary {repeat}, rollup summary {repeat * 5}, HTTP {repeat} / {repeat * 2}; "
        f"after a signal / after the job: 5 each.\n"
        f"PostgreSQL backend CPU per live count query (serial, 20 runs): "
        f"{'-' if cpu_live is None else f'{cpu_live:.1f}'} ms, before sql/0011 "
        f"{'-' if cpu_text is None else f'{cpu_text:.1f}'} ms, before sql/0009 "
        f"{'-' if cpu_old is None else f'{cpu_old:.1f}'} ms\n"
        f"cube protection (61 areas x 30 nodes x 17 periods), cold: p50 {percentile(protect_ms, 50):.0f} ms, "
        f"p95 {percentile(protect_ms, 95):.0f} ms\n"
        f"COPY load {load_s:.1f} s; first rollup of {done['days']} dirty days {rollup_s:.1f} s, "
        f"then {cubes} protected cubes built in {prebuild_s:.1f} s; rollup job after one new signal "
        f"(rollup + cube rebuild) p50 {percentile(job_s, 50):.2f} s"
    )
    print("\nPython full garbage collections during the timed runs (the outliers):")
    for name, pauses in GC_HITS.items():
        print(
            f"    {name}: {len(pauses)} runs with a full collection, pauses {min(pauses):.0f}-{max(pauses):.0f} ms"
        )
    for name, lines in plans.items():
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) — {name}:")
        for line in lines:
            print("    " + line)
    for note in notes:
        print(note)
    if json_path is not None:
        figures = signal_figures(n, live, rolled)
        doc = {
            "figures": [f.as_dict() for f in figures],
            "machine": info,
            "signals": n,
            "repeat": repeat,
            "live_ms": {k: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in live.items()},
            "rollups_ms": {
                k: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in rolled.items()
            },
            "after_signal_ms": {"p50": percentile(after_signal, 50), "p95": percentile(after_signal, 95)},
            "after_job_ms": {"p50": percentile(after_job, 50), "p95": percentile(after_job, 95)},
            "backend_cpu_ms_per_live_count": cpu_live,
            "backend_cpu_ms_per_live_count_before_0011": cpu_text,
            "backend_cpu_ms_per_live_count_before_0009": cpu_old,
            "load_before": load_before,
            "load_after": load_after,
        }
        json_path.write_text(json.dumps(doc, indent=2, default=str))  # noqa: ASYNC240 - after the timings


GOAL_LIVE_P95_MS = 50.0
GOAL_ROLLUP_P95_MS = 5.0


def signal_figures(n: int, live: dict[str, list[float]], rolled: dict[str, list[float]]) -> list[Figure]:
    """Figures for the summary table of ``python -m bench``: each with rollups next to the
    same measurement without them, in the same run."""
    at = f"{n / 1e6:g}M signals"
    p95 = {k: percentile(v, 95) for k, v in live.items()}
    r95 = {k: percentile(v, 95) for k, v in rolled.items()}
    return [
        Figure("summaries", f"count query p95, live (no rollups), {at}", p95["count"], "ms", "before sql/0011", p95["text"], f"≤ {GOAL_LIVE_P95_MS:.0f} ms", p95["count"] <= GOAL_LIVE_P95_MS),
        Figure("summaries", "summary() p95, live (counts + privacy protection)", p95["summary"], "ms", goal=f"≤ {GOAL_LIVE_P95_MS:.0f} ms", met=p95["summary"] <= GOAL_LIVE_P95_MS),
        Figure("summaries", "summary() p95, with rollups", r95["summary"], "ms", "the same live", p95["summary"], f"≤ {GOAL_ROLLUP_P95_MS:.0f} ms", r95["summary"] <= GOAL_ROLLUP_P95_MS),
        Figure("summaries", "count query p95, with rollups", r95["count"], "ms", "the same live", p95["count"]),
        Figure("summaries", "GET /api/v1/signals/summary p95, with rollups (auth + audit)", r95["http"], "ms", "the same, nothing rolled up", p95["http"]),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="100k signals, 20 runs")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.signals, args.repeat = 100_000, 20
    clean_environ()
    asyncio.run(run(args.signals, args.repeat, args.json))


if __name__ == "__main__":
    main()
