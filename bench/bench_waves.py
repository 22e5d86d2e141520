"""Alert lifecycle benchmark (issue 15): a wave beside residents already reached, and a
follow-up to everyone reached, through the HTTP API, with a real worker and simulator.

    python -m bench.bench_waves [--quick] [--size N] [--json FILE]

What it does (nothing leaves 127.0.0.1):

1. A private PostgreSQL (or ``BURGERWACHT_BENCH_DATABASE_URL``), migrated; 2·N address
   points spread evenly over a disc in RD New (one municipality's worth of synthetic CBS
   codes), one SMS resident per address.
2. The service's web role in this process (aiohttp on a free port, a national operator's
   token), the simulator (``burgerwacht sandbox``) and a worker (``burgerwacht worker``,
   no rate limit) as subprocesses.
3. An alert (missing_child: no quiet hours, no budget) whose circle holds N residents is
   sent; its N start messages are marked delivered in the database (the "N reached").
4. **Follow-up**: ``POST /api/v1/alerts/{id}/updates`` → the request's time, and the
   first SMS at the simulator (its own creation timestamp) after the request started.
5. **Wave**: ``POST /api/v1/alerts/{id}/widen`` with the circle that holds 2·N → N
   added beside the N reached: the request's time (the wave is materialised when it
   answers) and the first SMS of the wave at the simulator after the request started.

Goals (issue 15): wave materialised ≤ 1 s, its first message ≤ 300 ms after the
request; follow-up's first SMS ≤ 300 ms after the request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
from aiohttp import web

from bench.bench_alerts import _address_rows, _aiter
from bench.common import (
    SANDBOX_SID,
    SANDBOX_TOKEN,
    SERVICE_NUMBER,
    BenchDatabase,
    Figure,
    Simulator,
    child_env,
    clean_environ,
    free_port,
    log,
    machine_info,
    start_role,
    table,
)

CENTRE = (121_000.0, 487_000.0)  # RD New, Amsterdam
DENSITY = 2_000  # addresses per km² (a town; a city centre is denser)
MESSAGE = "Let op: jongen van 8, rode jas, blauwe pet. Gezien? Bel 112."


def disc_points(n: int, radius: float, seed: int = 15) -> np.ndarray:
    """n points spread evenly over a disc (sqrt of a uniform radius)."""
    rng = np.random.default_rng(seed)
    r = radius * np.sqrt(rng.random(n))
    a = rng.random(n) * 2 * math.pi
    return np.column_stack([CENTRE[0] + r * np.cos(a), CENTRE[1] + r * np.sin(a)])


async def load(url: str, n: int) -> float:
    """2·n addresses and residents; returns the radius that holds the inner n."""
    outer = math.sqrt(2 * n / DENSITY / math.pi) * 1000
    pts = disc_points(2 * n, outer)
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_to_table(
            "addresses",
            source=_aiter(_address_rows(pts)),
            columns=["postcode", "house_number", "location", "buurt_code", "wijk_code", "municipality_code"],
        )
        await conn.execute(
            "INSERT INTO residents (phone, phone_kind, status, language) "
            "SELECT '+316' || lpad(g::text, 8, '0'), 'mobile', 'active', 'nl' FROM generate_series(1, $1) g",
            2 * n,
        )
        await conn.execute(
            """INSERT INTO resident_addresses (resident_id, address_id, channels)
               SELECT r.id, a.id, ARRAY['sms'] FROM
                 (SELECT id, row_number() OVER (ORDER BY id) k FROM residents) r
                 JOIN (SELECT id, row_number() OVER (ORDER BY id) k FROM addresses) a USING (k)"""
        )
        for t in ("addresses", "residents", "resident_addresses"):
            await conn.execute(f"VACUUM ANALYZE {t}")
        inner = await conn.fetchval(
            "SELECT location <-> $1::point FROM addresses ORDER BY location <-> $1::point OFFSET $2 LIMIT 1",
            asyncpg.types.Point(*CENTRE),
            n - 1,
        )
    finally:
        await conn.close()
    return float(inner)


def circle(radius: float) -> dict[str, Any]:
    from burgerwacht.geo import rd_to_wgs84

    lon, lat = rd_to_wgs84(*CENTRE)
    return {"type": "circle", "center": {"lat": lat, "lon": lon}, "radius_m": round(radius, 1)}


async def first_message_after(
    sim: Simulator, started: float, prefix: str, wait_s: float = 3.0
) -> float | None:
    """Seconds from ``started`` (epoch) to the simulator's first message starting with
    ``prefix``, read once ``wait_s`` has passed (the simulator's own timestamps). Messages
    from before ``started`` are left out: the follow-up's last ones, in flight when the
    rest of it was cancelled, can reach the simulator after its reset (a wave's first
    SMS once read -77 ms)."""
    await asyncio.sleep(wait_s)
    times = [
        t
        for m in await sim.messages()
        if m["body"].startswith(prefix)
        and (t := datetime.fromisoformat(m["date_created"]).timestamp()) >= started
    ]
    return (min(times) - started) if times else None


async def run(n: int, quick: bool, idle_wave: bool = False) -> tuple[str, dict[str, Any]]:
    from burgerwacht.auth.service import create_user_with_token
    from burgerwacht.config import load_settings
    from burgerwacht.db.pool import init_connection
    from burgerwacht.web.app import create_app

    workdir = Path(tempfile.mkdtemp(prefix="bwbench-waves-"))
    results: dict[str, Any] = {"n": n}
    async with BenchDatabase("waves") as db:
        log(f"loading {2 * n:,} addresses and residents")
        t0 = time.perf_counter()
        inner = await load(db.url, n)
        results["load_s"] = time.perf_counter() - t0
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        sim = await Simulator(workdir / "sandbox.log", service_url=base).start()
        await sim.scenario(callbacks=False)  # the figures are about sending, not callbacks
        settings = load_settings(
            database_url=db.url,
            public_url=base,
            twilio={
                "account_sid": SANDBOX_SID,
                "auth_token": SANDBOX_TOKEN,
                "api_base": sim.base,
                "from_number": SERVICE_NUMBER,
                "sms_per_second": 1e6,
                "per_sender_per_second": 1e6,
                "calls_per_second": 1e6,
            },
            logging={"level": "WARNING"},
        )
        runner = web.AppRunner(create_app(settings, roles={"web"}))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        worker_env = child_env(
            BURGERWACHT_DATABASE_URL=db.url,
            BURGERWACHT_PUBLIC_URL=base,
            BURGERWACHT_TWILIO__ACCOUNT_SID=SANDBOX_SID,
            BURGERWACHT_TWILIO__AUTH_TOKEN=SANDBOX_TOKEN,
            BURGERWACHT_TWILIO__API_BASE=sim.base,
            BURGERWACHT_TWILIO__FROM_NUMBER=SERVICE_NUMBER,
            BURGERWACHT_TWILIO__SMS_PER_SECOND="1000000",
            BURGERWACHT_TWILIO__PER_SENDER_PER_SECOND="1000000",
        )
        worker = None
        conn = await asyncpg.connect(db.url)
        await init_connection(conn)
        try:
            _, token = await create_user_with_token(
                conn, name="bench", role="operator", municipalities=["*"], ttl_days=1
            )
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(base_url=base, headers=headers) as http:

                async def call(path: str, body: Any = None) -> tuple[float, dict[str, Any], float]:
                    started = time.time()
                    t = time.perf_counter()
                    async with http.post(path, json=body) as resp:
                        doc = await resp.json()
                        assert resp.status in (200, 201, 202), doc
                    return time.perf_counter() - t, doc, started

                _, alert, _ = await call(
                    "/api/v1/alerts",
                    {
                        "level": "missing_child",
                        "family_consent": True,
                        "title": "Vermist kind",
                        "message": MESSAGE,
                        "target": circle(inner),
                        "channels": ["sms"],
                        "expires_in_minutes": 120,
                    },
                )
                aid, ref = alert["id"], alert["reference"]
                # the start: N deliveries, marked reached (as if sent) before the worker sees them
                send_s, _sent, _ = await call(f"/api/v1/alerts/{aid}/send")
                reached = await conn.execute(
                    "UPDATE deliveries SET state = 'delivered', sent_at = now(), text_seq = 0, "
                    "provider_sid = 'SMbench' || id WHERE alert_id = $1 AND state IN ('queued', 'sending')",
                    aid,
                )
                results["reached"] = int(reached.split()[-1])
                results["send_s"] = send_s
                log(f"alert sent to {results['reached']:,} (marked delivered); send request {send_s:.2f} s")
                worker = start_role("worker", worker_env, workdir / "worker.log")
                await asyncio.sleep(1.5)  # the worker is up and idle

                log("follow-up to everyone reached")
                update_s, update, started = await call(
                    f"/api/v1/alerts/{aid}/updates", {"message": "Gezien bij het station."}
                )
                results["update_request_s"] = update_s
                results["update_deliveries"] = update["update"]["counts"]["queued"]
                results["update_first_sms_s"] = await first_message_after(
                    sim, started, f"Burgerwacht {ref} UPDATE:"
                )
                # the rest of the follow-up is not the subject: dropped before the wave
                await conn.execute(
                    "UPDATE deliveries SET state = 'cancelled' WHERE alert_id = $1 AND kind = 'update' AND state = 'queued'",
                    aid,
                )
                await asyncio.sleep(1.5)
                await sim.reset(callbacks=False)

                if idle_wave and worker is not None:  # the wave's materialisation alone
                    worker.stop()
                    worker = None
                log("wave: the circle holding 2·N")
                outer = await conn.fetchval(
                    "SELECT max(location <-> $1::point) FROM addresses", asyncpg.types.Point(*CENTRE)
                )
                wave_s, wave, started = await call(
                    f"/api/v1/alerts/{aid}/widen", {"target": circle(outer + 1)}
                )
                results["wave_request_s"] = wave_s
                results["wave_added"] = wave["added"]
                results["wave_first_sms_s"] = (
                    None
                    if idle_wave
                    else await first_message_after(sim, started, f"Burgerwacht {ref} UPDATE:")
                )
                materialised = await conn.fetchval(
                    "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND wave = 1", aid
                )
                results["wave_deliveries"] = materialised
        finally:
            await conn.close()
            if worker is not None:
                worker.stop()
            await runner.cleanup()
            await sim.stop()
    shutil.rmtree(workdir, ignore_errors=True)

    def ms(v: float | None) -> str:
        return "–" if v is None else f"{v * 1000:.0f} ms"

    rows = [
        [
            "follow-up: request (materialised, committed)",
            ms(results["update_request_s"]),
            "",
            f"{results['update_deliveries']:,} deliveries",
        ],
        ["follow-up: first SMS at the simulator", ms(results["update_first_sms_s"]), "≤ 300 ms", ""],
        [
            "wave: request (materialised, committed)",
            ms(results["wave_request_s"]),
            "≤ 1 s",
            f"{results['wave_added']:,} added beside {results['reached']:,} reached",
        ],
        ["wave: first SMS at the simulator", ms(results["wave_first_sms_s"]), "≤ 300 ms", ""],
    ]
    info = machine_info()
    text = (
        f"# Alert lifecycle benchmark (N = {n:,}{', --quick' if quick else ''}"
        f"{', wave with the worker stopped' if idle_wave else ''})\n\n"
        f"{info['date']} · {info['cpu']} · {info['memory']} · load average {info['load_average']}\n\n"
        + table(["case", "measured", "goal", "note"], rows)
    )
    figs = [
        Figure(
            "lifecycle",
            "follow-up first SMS",
            (results["update_first_sms_s"] or math.nan) * 1000,
            "ms",
            goal="≤ 300 ms",
            met=(results["update_first_sms_s"] or math.inf) <= 0.3,
        ),
        Figure(
            "lifecycle",
            "wave materialised (request)",
            results["wave_request_s"] * 1000,
            "ms",
            goal="≤ 1000 ms",
            met=results["wave_request_s"] <= 1.0,
        ),
        *(
            []
            if idle_wave
            else [
                Figure(
                    "lifecycle",
                    "wave first SMS",
                    (results["wave_first_sms_s"] or math.nan) * 1000,
                    "ms",
                    goal="≤ 300 ms",
                    met=(results["wave_first_sms_s"] or math.inf) <= 0.3,
                ),
            ]
        ),
    ]
    return text, {"figures": [f.as_dict() for f in figs], "machine": info, "results": results, "quick": quick}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_waves", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 20,000")
    parser.add_argument("--size", type=int, default=None, help="N (default 100,000)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--idle-wave",
        action="store_true",
        help="stop the worker before the wave: its materialisation alone (no first-SMS figure)",
    )
    args = parser.parse_args(argv)
    clean_environ()
    n = args.size or (20_000 if args.quick else 100_000)
    text, doc = asyncio.run(run(n, args.quick, args.idle_wave))
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2, default=str))


if __name__ == "__main__":
    main()
