"""National alert benchmark (issue 16, "Two million recipients"): N recipients among M
addresses, the first message while the rest is still being written.

    python -m bench.bench_national [--quick] [--addresses M] [--residents N] [--json FILE]

What it does (nothing leaves 127.0.0.1):

1. A private PostgreSQL (or ``BURGERWACHT_BENCH_DATABASE_URL``), migrated; M addresses
   (default 10M, the BAG holds ~9.9M) spread evenly over a disc at 2,000 addresses per
   km² (a town's density: ~40 km across for 10M), and N residents (default 2M), one per
   address, every (M/N)-th address, so resident ids and places are unrelated. Written
   with ``generate_series`` in a few statements, the secondary indexes built afterwards
   and the enrolments' copied columns (place, status) filled in the same statement
   (what the enrolment trigger does row by row).
2. **Targeting**: the recipient query (regular level, quiet hours and budget included:
   the whole targeting work of a send) for circles of ~20k residents at random places
   well inside the disc; p50/p95 over the runs.
3. **Writing alone** (the reference): the database copied as it is now, and on the copy the
   same alert sent with no worker and no simulator running; the chunks are written by
   ``alerts.materialise_parallel`` writers running the worker's own
   ``service.materialise_next``. The copy is dropped before step 4.
4. **National alert**: an AMBER Alert to everyone (a polygon round the disc) through the
   API, one ``burgerwacht worker`` at a configured 2,000 SMS/s and the simulator
   (``burgerwacht sandbox``, no latency, no callbacks). Measured: the first message at
   the simulator after the send request started (its own timestamps), the send's answer,
   when the last chunk was written (``alerts.materialised_at``), and the worker's RSS
   sampled every 0.5 s from before the send until the deliveries are written and a few
   seconds later. The rest of the 2M sends is not waited for (~17 min at 2,000/s).
   Steps 3 and 4 also give the cores each process group used while the deliveries were
   being written (PostgreSQL, the worker, the simulator, this process with the web app),
   so the share the sending takes from the writing is on the page.

Goals (issue 16): first message ≤ 300 ms after send; materialise done ≤ 15 s; worker
RSS flat, ≤ 250 MB; targeting p95 ≤ 10 ms for a ~20k circle at 10M addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from bench.common import (
    SANDBOX_SID,
    SANDBOX_TOKEN,
    SERVICE_NUMBER,
    BenchDatabase,
    CpuMeter,
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
    postmaster_of,
    start_role,
    table,
    tree,
)

CENTRE = (155_000.0, 463_000.0)  # RD New, Utrecht
DENSITY = 2_000  # addresses per km²
CIRCLE_RESIDENTS = 20_000
TARGETING_RUNS = 20
RATE = 2_000.0
MESSAGE = "AMBER Alert: meisje van 6, roze jas, blond haar. Gezien? Bel 112."
GOAL_FIRST_MS = 300.0
GOAL_MATERIALISE_S = 15.0
GOAL_RSS_MB = 250.0
GOAL_TARGETING_P95_MS = 10.0


def outer_radius(addresses: int) -> float:
    """Metres of the disc that holds ``addresses`` at DENSITY."""
    return math.sqrt(addresses / DENSITY / math.pi) * 1000


async def load(url: str, addresses: int, residents: int) -> dict[str, float]:
    """M addresses and N residents (see the module docstring); seconds per step."""
    step = addresses // residents
    radius = outer_radius(addresses)
    took: dict[str, float] = {}
    conn = await asyncpg.connect(url, command_timeout=None)
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute("SET synchronous_commit = off")
        # the secondary indexes are built once the rows are in (much faster than row by row)
        indexes = await conn.fetch(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.schemaname = 'public' AND i.tablename IN ('addresses', 'residents', 'resident_addresses')
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"""
        )
        for r in indexes:
            await conn.execute(f'DROP INDEX "{r["indexname"]}"')
        t0 = time.perf_counter()
        await conn.execute("SELECT setseed(0.16)")
        await conn.execute(
            """INSERT INTO addresses (postcode, house_number, location, municipality_code)
               SELECT (1000 + g / 1000 / 676)::text || chr(65 + (g / 1000 % 676) / 26) || chr(65 + g / 1000 % 26),
                      g % 1000 + 1,
                      point($2 + p.r * cos(p.a), $3 + p.r * sin(p.a)),
                      'GM' || lpad((g % 342)::text, 4, '0')
               FROM generate_series(0, $1 - 1) g,
                    LATERAL (SELECT $4 * sqrt(random()) AS r, 2 * pi() * random() AS a, g AS k) p""",
            addresses,
            CENTRE[0],
            CENTRE[1],
            radius,
        )
        took["addresses_s"] = time.perf_counter() - t0
        log(f"{addresses:,} addresses in {took['addresses_s']:.0f} s")
        t0 = time.perf_counter()
        await conn.execute(
            "INSERT INTO residents (phone, phone_kind, status, language) "
            "SELECT '+316' || lpad(g::text, 8, '0'), 'mobile', 'active', 'nl' FROM generate_series(1, $1) g",
            residents,
        )
        first_resident = await conn.fetchval("SELECT min(id) FROM residents")
        first_address = await conn.fetchval("SELECT min(id) FROM addresses")
        # the enrolment trigger's copies (place, codes, status) in the same statement;
        # every resident has one address (sole)
        await conn.execute("ALTER TABLE resident_addresses DISABLE TRIGGER USER")
        await conn.execute(
            """INSERT INTO resident_addresses (resident_id, address_id, channels, location, municipality_code,
                                               active, sole)
               SELECT r.id, a.id, ARRAY['sms'], a.location, a.municipality_code, true, true
               FROM residents r JOIN addresses a ON a.id = $3 + (r.id - $2) * $1""",
            step,
            first_resident,
            first_address,
        )
        await conn.execute("ALTER TABLE resident_addresses ENABLE TRIGGER USER")
        took["residents_s"] = time.perf_counter() - t0
        log(f"{residents:,} residents in {took['residents_s']:.0f} s")
        t0 = time.perf_counter()
        for r in indexes:
            await conn.execute(r["indexdef"])
        took["indexes_s"] = time.perf_counter() - t0
        log(f"{len(indexes)} indexes in {took['indexes_s']:.0f} s")
        t0 = time.perf_counter()
        for t in ("addresses", "residents", "resident_addresses"):
            await conn.execute(f"VACUUM ANALYZE {t}")
        took["vacuum_s"] = time.perf_counter() - t0
    finally:
        await conn.close()
    return took


async def targeting(url: str, runs: int) -> dict[str, Any]:
    """The recipient query for ~20k-resident circles (see the module docstring)."""
    from asyncpg.types import Circle, Point

    from burgerwacht.alerts import store
    from burgerwacht.alerts.targets import CIRCLE
    from burgerwacht.db.pool import init_connection

    conn = await asyncpg.connect(url)
    await init_connection(conn)
    try:
        rng = random.Random(16)
        inner = outer_radius(await conn.fetchval("SELECT count(*) FROM addresses")) * 0.6
        sql = (
            "SELECT count(*), count(quiet_until), count(*) FILTER (WHERE disposition = 'now') "
            f"FROM ({store.recipients_sql(CIRCLE, ['sms'])}) x"
        )
        expires = datetime.now(UTC) + timedelta(hours=2)
        ms: list[float] = []
        found: list[int] = []
        radii: list[float] = []
        for _ in range(runs):
            r, a = inner * math.sqrt(rng.random()), rng.random() * 2 * math.pi
            centre = Point(CENTRE[0] + r * math.cos(a), CENTRE[1] + r * math.sin(a))
            radius = await conn.fetchval(
                "SELECT location <-> $1::point FROM resident_addresses WHERE active AND sole "
                "ORDER BY location <-> $1::point OFFSET $2 LIMIT 1",
                centre,
                CIRCLE_RESIDENTS - 1,
            )
            circle = Circle(centre, float(radius) + 0.01)
            radii.append(float(radius))
            t0 = time.perf_counter()
            row = await conn.fetchrow(sql, 0, circle, ["sms"], None, "regular", expires, 3)
            ms.append((time.perf_counter() - t0) * 1000)
            found.append(row[0])
    finally:
        await conn.close()
    return {
        "runs": runs,
        "recipients_mean": sum(found) / len(found),
        "radius_m_median": percentile(radii, 50),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": max(ms),
        "first_ms": ms[0],
    }


def national_polygon(addresses: int) -> dict[str, Any]:
    """A square round the disc, in WGS84 (the API's polygon)."""
    from burgerwacht.geo import rd_to_wgs84

    r = outer_radius(addresses) + 100
    corners = [(-r, -r), (r, -r), (r, r), (-r, r), (-r, -r)]
    ring = [list(rd_to_wgs84(CENTRE[0] + dx, CENTRE[1] + dy)) for dx, dy in corners]
    return {"type": "polygon", "coordinates": [ring]}


def _settings(url: str, base: str, api_base: str) -> Any:
    from burgerwacht.config import load_settings

    return load_settings(
        database_url=url,
        public_url=base,
        twilio={
            "account_sid": SANDBOX_SID,
            "auth_token": SANDBOX_TOKEN,
            "api_base": api_base,
            "from_number": SERVICE_NUMBER,
            "sms_per_second": RATE,
            "per_sender_per_second": RATE,
        },
        alerts={"approval_levels": []},
        logging={"level": "WARNING"},
    )


async def _draft(http: aiohttp.ClientSession, addresses: int, out: dict[str, Any]) -> int:
    """The AMBER Alert to everyone, as a draft; its id."""
    t0 = time.perf_counter()
    async with http.post(
        "/api/v1/alerts",
        json={
            "level": "amber_national",
            "family_consent": True,
            "title": "AMBER Alert",
            "message": MESSAGE,
            "target": national_polygon(addresses),
            "channels": ["sms"],
            "expires_in_minutes": 240,
        },
    ) as resp:
        alert = await resp.json()
        assert resp.status == 201, alert
    out["draft_ms"] = (time.perf_counter() - t0) * 1000
    return alert["id"]


async def _send(http: aiohttp.ClientSession, aid: int, out: dict[str, Any]) -> float:
    """Send the alert; the epoch second the request started."""
    started_epoch, t0 = time.time(), time.perf_counter()
    async with http.post(f"/api/v1/alerts/{aid}/send") as resp:
        sent = await resp.json()
        assert resp.status == 202, sent
    out["send_answer_ms"] = (time.perf_counter() - t0) * 1000
    out["first_chunk"] = sum(sent["counts"].values())
    out["materialising_at_send"] = sent["materialising"]
    return started_epoch


async def _materialised_after(conn: asyncpg.Connection, aid: int, started_epoch: float) -> float:
    """Seconds from the send to the last chunk written (``alerts.materialised_at``)."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        row = await conn.fetchrow("SELECT materialise_cursor, materialised_at FROM alerts WHERE id = $1", aid)
        if row["materialise_cursor"] is None:
            return row["materialised_at"].timestamp() - started_epoch
        await asyncio.sleep(0.2)
    raise AssertionError("the deliveries were not all written within 30 minutes")


def _cores_text(cores: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in cores.items())


def _cores(use: Any) -> dict[str, float]:
    """Average cores per process group over a measured phase (and everything else)."""
    return {
        **{name: round(use.cores(name), 2) for name in use.groups},
        "other": round(use.other / use.wall, 2),
    }


async def writing_alone(url: str, addresses: int) -> dict[str, Any]:
    """The same alert on an identical copy of the database, written by the worker's chunk
    writers (``alerts.materialise_parallel`` of them, :func:`service.materialise_next`
    as the worker runs it) with nothing sending: what writing costs when PostgreSQL has
    the machine to itself, beside the run where it shares it with the sending."""
    from burgerwacht.alerts import service
    from burgerwacht.auth.service import create_user_with_token
    from burgerwacht.db.pool import init_connection
    from burgerwacht.web.app import create_app

    out: dict[str, Any] = {}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = _settings(url, base, "http://127.0.0.1:9")  # nothing is sent
    runner = web.AppRunner(create_app(settings, roles={"web"}))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    parallel = settings.alerts.materialise_parallel
    pool = await asyncpg.create_pool(url, min_size=parallel, max_size=parallel, init=init_connection)
    try:
        _, token = await create_user_with_token(
            conn, name="bench", role="operator", municipalities=["*"], ttl_days=1
        )
        meter = CpuMeter({"postgres": tree(await postmaster_of(url)), "bench": only(os.getpid())})
        async with aiohttp.ClientSession(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            aid = await _draft(http, addresses, out)

            async def writer() -> None:
                while await service.materialise_next(pool, settings) is not None:
                    pass

            with meter.measure() as phase:
                started_epoch = await _send(http, aid, out)
                await asyncio.gather(*(writer() for _ in range(parallel)))
                out["materialise_s"] = await _materialised_after(conn, aid, started_epoch)
        out["writers"] = parallel
        out["cores"] = _cores(phase.use)
        out["deliveries"] = await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND kind = 'alert'", aid
        )
        log(
            f"writing alone ({parallel} writers, nothing sending): {out['deliveries']:,} deliveries in "
            f"{out['materialise_s']:.1f} s; cores {out['cores']}"
        )
    finally:
        await pool.close()
        await conn.close()
        await runner.cleanup()
    return out


async def national(url: str, addresses: int, residents: int, workdir: Path) -> dict[str, Any]:
    from burgerwacht.auth.service import create_user_with_token
    from burgerwacht.db.pool import init_connection
    from burgerwacht.web.app import create_app

    out: dict[str, Any] = {}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sim = await Simulator(workdir / "sandbox.log", service_url=base).start()
    await sim.scenario(callbacks=False)
    settings = _settings(url, base, sim.base)
    runner = web.AppRunner(create_app(settings, roles={"web"}))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    worker = None
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    try:
        worker = start_role(
            "worker",
            child_env(
                BURGERWACHT_DATABASE_URL=url,
                BURGERWACHT_PUBLIC_URL=base,
                BURGERWACHT_TWILIO__ACCOUNT_SID=SANDBOX_SID,
                BURGERWACHT_TWILIO__AUTH_TOKEN=SANDBOX_TOKEN,
                BURGERWACHT_TWILIO__API_BASE=sim.base,
                BURGERWACHT_TWILIO__FROM_NUMBER=SERVICE_NUMBER,
                BURGERWACHT_TWILIO__SMS_PER_SECOND=repr(RATE),
                BURGERWACHT_TWILIO__PER_SENDER_PER_SECOND=repr(RATE),
            ),
            workdir / "worker.log",
        )
        _, token = await create_user_with_token(
            conn, name="bench", role="operator", municipalities=["*"], ttl_days=1
        )
        meter = CpuMeter(
            {
                "postgres": tree(await postmaster_of(url)),
                "worker": tree(worker.pid),
                "simulator": tree(sim.pid),
                "bench": only(os.getpid()),
            }
        )
        async with aiohttp.ClientSession(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            aid = await _draft(http, addresses, out)
            await asyncio.sleep(2.0)  # the worker is up and idle
            rss = RssSampler({"worker": worker.pid}, interval=0.5)
            rss.start()
            with meter.measure() as phase:
                t0 = time.perf_counter()
                started_epoch = await _send(http, aid, out)
                await asyncio.sleep(1.0)
                stamps = [datetime.fromisoformat(m["date_created"]).timestamp() for m in await sim.messages()]
                out["first_message_ms"] = (min(stamps) - started_epoch) * 1000 if stamps else math.nan
                log(
                    f"send answered in {out['send_answer_ms']:.0f} ms ({out['first_chunk']:,} deliveries written); "
                    f"first message {out['first_message_ms']:.0f} ms after the send"
                )
                out["materialise_s"] = await _materialised_after(conn, aid, started_epoch)
                done_mono = time.perf_counter()
            out["cores"] = _cores(phase.use)
            await asyncio.sleep(5.0)  # RSS a while after the writing ended, sending goes on
            rss.stop()
            out["deliveries"] = await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND kind = 'alert'", aid
            )
            out["sent_meanwhile"] = await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND state IN ('sent', 'delivered')", aid
            )
            out["sent_rate_per_s"] = out["sent_meanwhile"] / (time.perf_counter() - t0)
            series = [mb / 2**20 for _t, mb in rss.series("worker")]
            out["rss_mb_start"] = series[0] if series else math.nan
            out["rss_mb_max"] = max(series) if series else math.nan
            out["rss_mb_end"] = series[-1] if series else math.nan
            out["rss_samples"] = len(series)
            out["wall_to_done_s"] = done_mono - t0
            log(
                f"deliveries written in {out['materialise_s']:.1f} s ({out['deliveries']:,}); "
                f"worker RSS {out['rss_mb_start']:.0f} → max {out['rss_mb_max']:.0f} MB; "
                f"{out['sent_meanwhile']:,} sent meanwhile; cores {out['cores']}"
            )
    finally:
        if worker is not None:
            worker.stop()
        await conn.close()
        await runner.cleanup()
        await sim.stop()
    return out


async def run(addresses: int, residents: int, quick: bool) -> tuple[str, dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="bwbench-national-"))
    results: dict[str, Any] = {"addresses": addresses, "residents": residents}
    async with BenchDatabase("national") as db:
        log(f"loading {addresses:,} addresses and {residents:,} residents")
        t0 = time.perf_counter()
        results["load"] = await load(db.url, addresses, residents)
        results["load_s"] = time.perf_counter() - t0
        results["targeting"] = t = await targeting(db.url, TARGETING_RUNS)
        log(f"targeting ~{t['recipients_mean']:,.0f}: p50 {t['p50_ms']:.1f} ms, p95 {t['p95_ms']:.1f} ms")
        log("copying the database for the writing-alone run")
        alone_url = await db.copy("alone")
        results["alone"] = await writing_alone(alone_url, addresses)
        await db.drop_copy("alone")
        results["national"] = await national(db.url, addresses, residents, workdir)
    shutil.rmtree(workdir, ignore_errors=True)

    n, t, a = results["national"], results["targeting"], results["alone"]
    size = f"{residents:,} of {addresses:,} addresses"
    rows = [
        [
            "generate (SQL generate_series, indexes after)",
            f"{results['load_s']:.0f} s",
            "",
            json.dumps({k: round(v) for k, v in results["load"].items()}),
        ],
        [
            f"targeting, ~{t['recipients_mean']:,.0f}-resident circle (regular level), {TARGETING_RUNS} runs",
            f"p95 {t['p95_ms']:.1f} ms",
            f"≤ {GOAL_TARGETING_P95_MS:.0f} ms",
            f"p50 {t['p50_ms']:.1f} ms, max {t['max_ms']:.1f} ms, median radius {t['radius_m_median']:,.0f} m",
        ],
        [
            "national alert: the draft made (its scope: the municipalities it touches)",
            f"{n['draft_ms']:.0f} ms",
            "",
            f"{a['draft_ms']:.0f} ms on the copy",
        ],
        [
            "national alert: first message at the simulator after send",
            f"{n['first_message_ms']:.0f} ms",
            f"≤ {GOAL_FIRST_MS:.0f} ms",
            f"send answered in {n['send_answer_ms']:.0f} ms with {n['first_chunk']:,} deliveries written",
        ],
        [
            "national alert: every delivery written (materialised_at)",
            f"{n['materialise_s']:.1f} s",
            f"≤ {GOAL_MATERIALISE_S:.0f} s",
            f"{n['deliveries']:,} deliveries; {n['sent_meanwhile']:,} sent meanwhile by the same worker; "
            f"cores used meanwhile: {_cores_text(n['cores'])}",
        ],
        [
            "the same, on an identical copy, nothing sending (reference)",
            f"{a['materialise_s']:.1f} s",
            "",
            f"{a['writers']} chunk writers run as the worker runs them (in bench), no worker, no simulator; "
            f"cores used: {_cores_text(a['cores'])}",
        ],
        [
            "worker RSS (sampled every 0.5 s)",
            f"max {n['rss_mb_max']:.0f} MB",
            f"flat, ≤ {GOAL_RSS_MB:.0f} MB",
            f"{n['rss_mb_start']:.0f} MB before the send, {n['rss_mb_end']:.0f} MB at the end, "
            f"{n['rss_samples']} samples",
        ],
    ]
    info = machine_info()
    text = (
        f"# National alert benchmark ({size}{', --quick' if quick else ''})\n\n"
        f"{info['date']} · {info['cpu']} · {info['memory']} · load average {info['load_average']}\n\n"
        + table(["case", "measured", "goal", "note"], rows)
    )
    figs = [
        Figure(
            "national",
            f"targeting p95, ~20k of {addresses / 1e6:g}M addresses",
            t["p95_ms"],
            "ms",
            goal=f"≤ {GOAL_TARGETING_P95_MS:.0f} ms",
            met=t["p95_ms"] <= GOAL_TARGETING_P95_MS,
        ),
        Figure(
            "national",
            f"first message after send, {residents / 1e6:g}M recipients",
            n["first_message_ms"],
            "ms",
            goal=f"≤ {GOAL_FIRST_MS:.0f} ms",
            met=n["first_message_ms"] <= GOAL_FIRST_MS,
        ),
        Figure(
            "national",
            f"materialise done, {residents / 1e6:g}M deliveries",
            n["materialise_s"],
            "s",
            reference="the same writing alone, nothing sending",
            reference_value=a["materialise_s"],
            goal=f"≤ {GOAL_MATERIALISE_S:.0f} s",
            met=n["materialise_s"] <= GOAL_MATERIALISE_S,
        ),
        Figure(
            "national",
            "worker RSS max while materialising",
            n["rss_mb_max"],
            "MB",
            goal=f"≤ {GOAL_RSS_MB:.0f} MB",
            met=n["rss_mb_max"] <= GOAL_RSS_MB,
        ),
    ]
    return text, {"figures": [f.as_dict() for f in figs], "machine": info, "results": results, "quick": quick}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_national", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="200k recipients among 1M addresses (~1-2 min)")
    parser.add_argument("--addresses", type=int, help="M addresses (default 10,000,000; --quick 1,000,000)")
    parser.add_argument("--residents", type=int, help="N recipients (default 2,000,000; --quick 200,000)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    clean_environ()
    addresses = args.addresses or (1_000_000 if args.quick else 10_000_000)
    residents = args.residents or (200_000 if args.quick else 2_000_000)
    if residents > addresses:
        parser.error("--residents must not exceed --addresses")
    text, doc = asyncio.run(run(addresses, residents, args.quick))
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2, default=str))


if __name__ == "__main__":
    main()
