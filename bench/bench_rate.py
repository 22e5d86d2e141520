"""Dispatch rate benchmark (issue 16): the configured rate at a provider latency of
150 ms, and a sender pool under per-sender and account limits.

    python -m bench.bench_rate [--quick] [--json FILE]

What it does (nothing leaves 127.0.0.1):

1. A private PostgreSQL (or ``BURGERWACHT_BENCH_DATABASE_URL``), migrated, with 2·N SMS
   residents on a disc; the service's web role in this process; the simulator
   (``burgerwacht sandbox``) in its own process, answering every create after 150 ms.
2. **References**, with the simulator at 150 ms: its raw capacity (plain aiohttp, 800
   requests in flight, no SDK) and a naive loop (one ``create_async`` after another
   through the twilio SDK).
3. **Dispatch** at a configured 2,000 SMS/s: a missing-child alert (no quiet hours, no
   budget) to N residents, sent through the API, with one and then two
   ``burgerwacht worker`` processes; the achieved rate from the simulator's own
   timestamps (first to last message), beside the physical limit: the configured rate,
   or the raw capacity when that is lower.
4. **Sender pool**: 20 senders at 10/s under an account limit of 150/s, the simulator
   enforcing both (429/20429), two workers: the achieved rate and the simulator's 429s.

Goals (issue 16): two workers ≥ 0.9 × the physical limit; the pool ≥ 0.95 × 150/s with
no 429 at all.
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
from aiohttp import web

from bench.bench_alerts import naive_loop, raw_capacity
from bench.bench_waves import CENTRE, MESSAGE, circle, load
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

LATENCY_S = 0.150
RATE = 2_000.0
RAW_IN_FLIGHT = 800
POOL_SENDERS = 20
POOL_PER_SENDER = 10.0
POOL_ACCOUNT = 150.0
GOAL_DISPATCH = 0.9
GOAL_POOL = 0.95


def pool_numbers() -> list[str]:
    return [f"+3197030{i:06d}" for i in range(POOL_SENDERS)]


async def radius_for(conn: asyncpg.Connection, k: int) -> float:
    """The circle around the centre that holds ``k`` residents."""
    return float(
        await conn.fetchval(
            "SELECT location <-> $1::point FROM addresses ORDER BY location <-> $1::point OFFSET $2 LIMIT 1",
            asyncpg.types.Point(*CENTRE),
            k - 1,
        )
    )


def achieved(messages: list[dict[str, Any]], since_epoch: float) -> dict[str, Any]:
    """Rate from the simulator's timestamps: first to last, and from the send's commit."""
    stamps = sorted(
        datetime.fromisoformat(m["date_created"]).timestamp()
        for m in messages
        if m["direction"] == "outbound-api"
    )
    if len(stamps) < 2:
        return {"messages": len(stamps), "per_s": math.nan, "end_to_end_per_s": math.nan}
    return {
        "messages": len(stamps),
        "per_s": (len(stamps) - 1) / (stamps[-1] - stamps[0]),
        "end_to_end_per_s": len(stamps) / (stamps[-1] - since_epoch),
        "first_after_s": stamps[0] - since_epoch,
        "span_s": stamps[-1] - stamps[0],
    }


async def run(n: int, pool_n: int, raw_n: int, naive_n: int, quick: bool) -> tuple[str, dict[str, Any]]:
    from burgerwacht.auth.service import create_user_with_token
    from burgerwacht.config import load_settings
    from burgerwacht.db.pool import init_connection
    from burgerwacht.web.app import create_app

    workdir = Path(tempfile.mkdtemp(prefix="bwbench-rate-"))
    results: dict[str, Any] = {"n": n, "pool_n": pool_n}
    async with BenchDatabase("rate") as db:
        log(f"loading {2 * n:,} addresses and residents")
        await load(db.url, n)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        sim = await Simulator(workdir / "sandbox.log", service_url=base).start()
        settings = load_settings(
            database_url=db.url,
            public_url=base,
            twilio={
                "account_sid": SANDBOX_SID,
                "auth_token": SANDBOX_TOKEN,
                "api_base": sim.base,
                "from_number": SERVICE_NUMBER,
            },
            logging={"level": "WARNING"},
        )
        runner = web.AppRunner(create_app(settings, roles={"web"}))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

        def worker_env(**extra: str) -> dict[str, str]:
            return child_env(
                BURGERWACHT_DATABASE_URL=db.url,
                BURGERWACHT_PUBLIC_URL=base,
                BURGERWACHT_TWILIO__ACCOUNT_SID=SANDBOX_SID,
                BURGERWACHT_TWILIO__AUTH_TOKEN=SANDBOX_TOKEN,
                BURGERWACHT_TWILIO__API_BASE=sim.base,
                BURGERWACHT_TWILIO__FROM_NUMBER=SERVICE_NUMBER,
                **extra,
            )

        conn = await asyncpg.connect(db.url)
        await init_connection(conn)
        try:
            _, token = await create_user_with_token(
                conn, name="bench", role="operator", municipalities=["*"], ttl_days=1
            )
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(base_url=base, headers=headers) as http:

                async def send_and_wait(recipients: int, workers: list[Any]) -> dict[str, Any]:
                    """One alert to ``recipients`` residents; until nothing is queued or in flight."""
                    radius = await radius_for(conn, recipients)
                    async with http.post(
                        "/api/v1/alerts",
                        json={
                            "level": "missing_child",
                            "family_consent": True,
                            "title": "Vermist kind",
                            "message": MESSAGE,
                            "target": circle(radius + 0.1),
                            "channels": ["sms"],
                            "expires_in_minutes": 120,
                        },
                    ) as resp:
                        alert = await resp.json()
                        assert resp.status == 201, alert
                    async with http.post(f"/api/v1/alerts/{alert['id']}/send") as resp:
                        assert resp.status == 202, await resp.text()
                    committed = time.time()
                    deadline = time.monotonic() + 60 + recipients / 50
                    while time.monotonic() < deadline:
                        left = await conn.fetchval(
                            "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND state IN ('queued', 'sending')",
                            alert["id"],
                        )
                        if not left:
                            break
                        await asyncio.sleep(0.1)
                    states = {
                        r["state"]: r["n"]
                        for r in await conn.fetch(
                            "SELECT state, count(*) AS n FROM deliveries WHERE alert_id = $1 GROUP BY 1",
                            alert["id"],
                        )
                    }
                    out = achieved(await sim.messages(), committed)
                    out.update(
                        states=states, rate_limited=(await sim.stats())["requests"].get("rate_limited", 0)
                    )
                    for w in workers:
                        w.stop()
                    return out

                # references at 150 ms
                await sim.reset(callbacks=False, latency=LATENCY_S)
                created, seconds = await raw_capacity(sim, raw_n, RAW_IN_FLIGHT, base)
                results["raw"] = {"n": created, "per_s": created / seconds}
                log(f"raw capacity at 150 ms, {RAW_IN_FLIGHT} in flight: {created / seconds:,.0f}/s")
                await sim.reset(callbacks=False, latency=LATENCY_S)
                created, seconds = await naive_loop(sim, naive_n, base)
                results["naive"] = {"n": created, "per_s": created / seconds}
                log(f"naive SDK loop at 150 ms: {created / seconds:,.1f}/s")

                # dispatch at a configured 2,000/s, one and two workers
                env = worker_env(
                    BURGERWACHT_TWILIO__SMS_PER_SECOND=repr(RATE),
                    BURGERWACHT_TWILIO__PER_SENDER_PER_SECOND=repr(RATE),
                )
                for count in (1, 2):
                    await sim.reset(callbacks=False, latency=LATENCY_S)
                    workers = [
                        start_role("worker", env, workdir / f"worker-{count}-{i}.log") for i in range(count)
                    ]
                    await asyncio.sleep(1.0)
                    results[f"dispatch_{count}"] = r = await send_and_wait(n, workers)
                    log(
                        f"dispatch, {count} worker(s) at a configured 2,000/s: {r['per_s']:,.0f}/s {r['states']}"
                    )

                # the sender pool
                await sim.reset(
                    callbacks=False,
                    latency=LATENCY_S,
                    sms_per_second=POOL_ACCOUNT,
                    sms_per_sender_per_second=POOL_PER_SENDER,
                )
                env = worker_env(
                    BURGERWACHT_TWILIO__SMS_PER_SECOND=repr(POOL_ACCOUNT),
                    BURGERWACHT_TWILIO__PER_SENDER_PER_SECOND=repr(POOL_PER_SENDER),
                    BURGERWACHT_TWILIO__FROM_NUMBERS=json.dumps(pool_numbers()),
                )
                workers = [start_role("worker", env, workdir / f"worker-pool-{i}.log") for i in range(2)]
                await asyncio.sleep(1.0)
                results["pool"] = r = await send_and_wait(pool_n, workers)
                log(f"pool: {r['per_s']:,.1f}/s, {r['rate_limited']} × 429 {r['states']}")
        finally:
            await conn.close()
            await runner.cleanup()
            await sim.stop()
    shutil.rmtree(workdir, ignore_errors=True)

    raw = results["raw"]["per_s"]
    physical = min(RATE, raw)
    results["physical_limit"] = physical
    naive = results["naive"]["per_s"]
    d1, d2, p = results["dispatch_1"], results["dispatch_2"], results["pool"]
    rows = [
        ["simulator raw capacity (aiohttp, 800 in flight)", f"{raw:,.0f}/s", "", "reference"],
        ["naive SDK loop", f"{naive:,.1f}/s", "", "reference"],
        ["physical limit: min(configured 2,000/s, raw)", f"{physical:,.0f}/s", "", ""],
        [
            "dispatch, 1 worker",
            f"{d1['per_s']:,.0f}/s",
            "",
            f"{d1['per_s'] / physical:.2f}× limit, {d1['per_s'] / naive:,.0f}× naive, {d1['messages']:,} SMS",
        ],
        [
            "dispatch, 2 workers",
            f"{d2['per_s']:,.0f}/s",
            f"≥ {GOAL_DISPATCH} × limit",
            f"{d2['per_s'] / physical:.2f}× limit, {d2['per_s'] / naive:,.0f}× naive, {d2['messages']:,} SMS",
        ],
        [
            f"pool: {POOL_SENDERS} senders × {POOL_PER_SENDER:.0f}/s, account {POOL_ACCOUNT:.0f}/s, 2 workers",
            f"{p['per_s']:,.1f}/s",
            f"≥ {GOAL_POOL * POOL_ACCOUNT:.1f}/s, 0 × 429",
            f"{p['rate_limited']} × 429 at the simulator, {p['messages']:,} SMS",
        ],
    ]
    info = machine_info()
    text = (
        f"# Dispatch rate benchmark (provider latency {LATENCY_S * 1000:.0f} ms, N = {n:,}"
        f"{', --quick' if quick else ''})\n\n"
        f"{info['date']} · {info['cpu']} · {info['memory']} · load average {info['load_average']}\n\n"
        + table(["case", "measured", "goal", "note"], rows)
    )
    figs = [
        Figure("rate", "dispatch at 150 ms, 1 worker", d1["per_s"], "/s", "physical limit", physical),
        Figure(
            "rate",
            "dispatch at 150 ms, 2 workers",
            d2["per_s"],
            "/s",
            "physical limit",
            physical,
            goal=f"≥ {GOAL_DISPATCH}×",
            met=d2["per_s"] >= GOAL_DISPATCH * physical,
        ),
        Figure("rate", "dispatch at 150 ms, 2 workers", d2["per_s"], "/s", "naive SDK loop", naive),
        Figure(
            "rate",
            "sender pool 20 × 10/s, account 150/s",
            p["per_s"],
            "/s",
            "account limit",
            POOL_ACCOUNT,
            goal=f"≥ {GOAL_POOL}×, 0 × 429",
            met=p["per_s"] >= GOAL_POOL * POOL_ACCOUNT and p["rate_limited"] == 0,
        ),
    ]
    return text, {"figures": [f.as_dict() for f in figs], "machine": info, "results": results, "quick": quick}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_rate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller alerts (about a minute)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    clean_environ()
    if args.quick:
        text, doc = asyncio.run(run(6_000, 1_500, 4_000, 15, True))
    else:
        text, doc = asyncio.run(run(16_000, 3_000, 10_000, 30, False))
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2, default=str))


if __name__ == "__main__":
    main()
