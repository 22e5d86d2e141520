"""One alert's public page under a burst: the moment 100k SMS with a link land,
thousands open it within a minute. Requests per second and latency of ``GET /a/{token}``
over loopback, next to a bare aiohttp handler serving a page of the same size, in the
same run on the same machine.

    .venv/bin/python -m bench.bench_public [--requests 10000] [--concurrency 64]

The service runs as its own process (``burgerwacht web``) against an embedded
PostgreSQL; the load comes from a separate process. The alert (with three follow-ups)
is written straight into the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
from aiohttp.test_utils import unused_port

from bench.bench_tips import measured, postmaster_of, prepare_database, wait_http
from bench.common import Figure, machine_info

TOKEN = "BenchPage1"

BARE_APP = """
import sys
from aiohttp import web
BODY = "<!doctype html><html lang=nl><body>" + "x" * int(sys.argv[2]) + "</body></html>"
async def h(request):
    return web.Response(text=BODY, content_type="text/html", headers={"Cache-Control": "public, max-age=30"})
app = web.Application()
app.router.add_get("/a/{token}", h)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

LOAD = """
import asyncio, json, sys, time
from aiohttp import ClientSession, TCPConnector

async def main(url, n, concurrency):
    lat, statuses = [], {}
    left = [n]
    async with ClientSession(connector=TCPConnector(limit=concurrency)) as http:
        async def worker():
            while left[0] > 0:
                left[0] -= 1
                t0 = time.perf_counter()
                async with http.get(url) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                lat.append(time.perf_counter() - t0)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    lat.sort()
    print(json.dumps({"n": n, "wall": wall, "rate": n / wall, "p50": lat[len(lat) // 2] * 1000,
                      "p99": lat[int(len(lat) * 0.99)] * 1000, "max": lat[-1] * 1000, "statuses": statuses}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""

GOAL_RATE = 3000.0
GOAL_P99_MS = 50.0


def run_load(url: str, n: int, concurrency: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", LOAD, url, str(n), str(concurrency)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def add_alert(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        alert_id = await conn.fetchval(
            """INSERT INTO alerts (reference, status, level, title, message, message_en, target, target_codes,
                                   municipalities, channels, expires_in_minutes, family_consent, sent_at,
                                   expires_at, public_token, update_number)
               VALUES ('BEN', 'active', 'missing_child', 'Vermiste jongen Sam (8)',
                       'Sam (8) is sinds 15:00 vermist bij de school aan het plein. Hij is 1,30 m, blond, '
                       'draagt een groene jas en blauwe laarzen. Ziet u hem? Bel 112.',
                       'Sam (8) has been missing since 3 pm near the school. Green coat, blue boots.',
                       '{"type": "areas", "codes": ["BU99990101", "WK999901"]}', '{BU99990101,WK999901}',
                       '{GM9999}', '{sms}', 240, true, now(), now() + interval '4 hours', $1, 3)
               RETURNING id""",
            TOKEN,
        )
        for n in (1, 2, 3):
            await conn.execute(
                "INSERT INTO alert_updates (alert_id, number, message, complete) VALUES ($1, $2, $3, true)",
                alert_id,
                n,
                f"Update {n}: Sam is gezien bij de brug richting het station, met een volwassen man.",
            )
    finally:
        await conn.close()


def figures(bare_r: dict, svc_r: dict) -> list[Figure]:
    return [
        Figure(
            "public page burst",
            "GET /a/{token} requests/s",
            svc_r["rate"],
            "/s",
            "bare aiohttp handler",
            bare_r["rate"],
            f"≥ {GOAL_RATE:,.0f}/s",
            svc_r["rate"] >= GOAL_RATE,
        ),
        Figure(
            "public page burst",
            "p99 latency at that rate",
            svc_r["p99"],
            "ms",
            "bare aiohttp handler",
            bare_r["p99"],
            f"≤ {GOAL_P99_MS:.0f} ms",
            svc_r["p99"] <= GOAL_P99_MS,
        ),
        Figure(
            "public page burst",
            "CPU of the serving process per request",
            svc_r["cpu_ms_per_req"],
            "ms",
            "bare aiohttp handler",
            bare_r["cpu_ms_per_req"],
        ),
    ]


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="2,000 requests")
    ap.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = ap.parse_args(argv)
    if args.quick:
        args.requests = min(args.requests, 2000)
    tmp = Path(tempfile.mkdtemp(prefix="bench-public-"))
    db_url = await prepare_database(tmp)
    await add_alert(db_url)
    service_port, bare_port = unused_port(), unused_port()
    env = {
        **os.environ,
        "BURGERWACHT_DATABASE_URL": db_url,
        "BURGERWACHT_PUBLIC_URL": f"http://127.0.0.1:{service_port}",
        "BURGERWACHT_LOGGING__LEVEL": "WARNING",
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "burgerwacht", "web", "--port", str(service_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    page_url = f"http://127.0.0.1:{service_port}/a/{TOKEN}"
    try:
        await wait_http(f"http://127.0.0.1:{service_port}/healthz")
        loop = asyncio.get_running_loop()
        size = len(await loop.run_in_executor(None, _fetch, page_url))
        bare = subprocess.Popen(
            [sys.executable, "-c", BARE_APP, str(bare_port), str(size)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await wait_http(f"http://127.0.0.1:{bare_port}/a/{TOKEN}")
            await loop.run_in_executor(None, run_load, page_url, 500, args.concurrency)  # warm-up
            bare_r = await measured(
                loop,
                bare,
                run_load,
                f"http://127.0.0.1:{bare_port}/a/{TOKEN}",
                args.requests,
                args.concurrency,
            )
            svc_r = await measured(
                loop,
                service,
                run_load,
                page_url,
                args.requests,
                args.concurrency,
                postmaster=await postmaster_of(db_url),
            )
        finally:
            bare.terminate()
            bare.wait(10)
    finally:
        service.terminate()
        service.wait(10)
    print(
        f"\nPublic alert page, {args.requests} requests, concurrency {args.concurrency}, page {size} bytes, "
        f"{os.cpu_count()} cores (service, PostgreSQL and load generator share them)"
    )
    print(f"{'':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU ms/req':>11}  statuses")
    for name, r in (("bare aiohttp handler", bare_r), ("burgerwacht GET /a/{token}", svc_r)):
        print(
            f"{name:28} {r['rate']:8.0f} {r['p50']:8.1f} {r['p99']:8.1f} {r['max']:8.1f} "
            f"{r['cpu_ms_per_req']:11.3f}  {r['statuses']}"
        )
    print(f"ratio service/bare: {svc_r['rate'] / bare_r['rate']:.2f}")
    if args.json is not None:
        doc = {
            "figures": [f.as_dict() for f in figures(bare_r, svc_r)],
            "machine": machine_info(),
            "requests": args.requests,
            "concurrency": args.concurrency,
            "page_bytes": size,
            "bare": bare_r,
            "service": svc_r,
        }
        args.json.write_text(json.dumps(doc, indent=2, default=str))
    if svc_r["statuses"] != {"200": args.requests} and svc_r["statuses"] != {200: args.requests}:
        sys.exit(1)


def _fetch(url: str) -> bytes:
    from urllib.request import urlopen

    with urlopen(url, timeout=10) as resp:  # noqa: S310 (loopback)
        return resp.read()


if __name__ == "__main__":
    asyncio.run(main())
