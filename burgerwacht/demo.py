"""``burgerwacht demo`` / ``make run``: everything on one machine with synthetic data.

Starts the embedded PostgreSQL, migrates, loads the synthetic Demostad (GM9999) areas
and addresses once, creates demo staff users with fresh tokens, and runs the Twilio
simulator and the service (web + worker + scheduler) side by side.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import asyncpg
from aiohttp import web

from burgerwacht.areas import service as areas
from burgerwacht.auth import service as auth
from burgerwacht.config import Settings
from burgerwacht.db import migrate
from burgerwacht.db.pool import init_connection, resolve_database_url
from burgerwacht.resources import DEFAULTS, as_path

DEMO_DIR = as_path(DEFAULTS / "demo")
DEMO_MUNICIPALITY = "GM9999"
DEMO_USERS = [
    ("Demo centralist", "operator"),
    ("Demo analist", "analyst"),
    ("Demo wijkwerker", "fieldworker"),
    ("Demo beheerder", "admin"),
    ("Demo wijkagent", "wijkagent"),
]
#: The demo wijkagent's wijken (Centrum and Noord).
DEMO_WIJKEN = {"wijkagent": ["WK999901", "WK999902"]}


async def seed(conn: asyncpg.Connection, settings: Settings) -> dict[str, str]:
    """Load demo data if missing; return a fresh token per demo role."""
    await migrate.migrate(conn)
    if not await conn.fetchval("SELECT count(*) FROM areas WHERE municipality_code = $1", DEMO_MUNICIPALITY):
        report = await areas.import_areas(conn, areas.load_geojson(str(DEMO_DIR / "areas.geojson")))
        print(f"demo: {report.imported} areas loaded", file=sys.stderr)
    if not await conn.fetchval(
        "SELECT count(*) FROM addresses WHERE municipality_code = $1", DEMO_MUNICIPALITY
    ):
        with (DEMO_DIR / "addresses.csv").open(encoding="utf-8") as fh:
            report = await areas.import_addresses(conn, fh)
        print(f"demo: {report.imported} addresses loaded", file=sys.stderr)
    if not await conn.fetchval(
        "SELECT count(*) FROM area_figures WHERE municipality_code = $1", DEMO_MUNICIPALITY
    ):
        from burgerwacht.participation.service import import_kwb

        result, errors = await import_kwb(conn, (DEMO_DIR / "kwb.csv").read_text(encoding="utf-8"), year=2026)
        assert not errors, errors
        print(f"demo: CBS KWB figures (synthetic) for {result['rows']} areas loaded", file=sys.stderr)
    if not await conn.fetchval("SELECT count(*) FROM residents"):
        n = await seed_residents(conn)
        print(f"demo: {n} synthetic residents enrolled", file=sys.stderr)
    if not await conn.fetchval("SELECT count(*) FROM signals"):
        n = await seed_signals(conn)
        print(f"demo: {n} synthetic neighbourhood signals over the last year", file=sys.stderr)
    from burgerwacht.templates.service import load_starters

    added, _ = await load_starters(conn, actor="demo")  # national; only the missing ones
    if added:
        print(f"demo: {added} starter alert templates loaded", file=sys.stderr)
    tokens = {}
    for name, role in DEMO_USERS:
        user_id = await conn.fetchval("SELECT id FROM staff_users WHERE name = $1 AND role = $2", name, role)
        if user_id is None:
            _, token = await auth.create_user_with_token(
                conn,
                name=name,
                role=role,
                municipalities=[DEMO_MUNICIPALITY],
                ttl_days=settings.auth.token_ttl_days,
                actor="demo",
                wijken=DEMO_WIJKEN.get(role),
            )
        else:
            token = await auth.issue_token(conn, user_id, ttl_days=1, actor="demo")
        tokens[role] = token
    return tokens


async def seed_residents(conn: asyncpg.Connection, n: int = 400) -> int:
    """Synthetic residents (numbers +316 9900 0000…, which the simulator only pretends to
    reach) at every seventh demo address; one in ten prefers a voice call, one in five has
    quiet hours 23:00–07:00, so previews and alerts have something to show; one in
    twenty-five takes part in exercises (``mode: exercise`` alerts reach only them)."""
    from datetime import time

    from burgerwacht.residents import store as residents

    rows = await conn.fetch(
        "SELECT id FROM addresses WHERE municipality_code = $1 ORDER BY id", DEMO_MUNICIPALITY
    )
    for i, row in enumerate(rows[::7][:n]):
        rid = await residents.upsert_active_resident(conn, f"+3169900{i:04d}", "mobile", "nl")
        channels = ["voice"] if i % 10 == 0 else ["sms"]
        quiet = (time(23), time(7)) if i % 5 == 0 else (None, None)
        await residents.upsert_resident_address(conn, rid, row["id"], "thuis", channels, *quiet)
        if i % 25 == 0:
            await residents.set_exercise(conn, rid, True)
    return min(n, len(rows[::7]))


async def seed_signals(conn: asyncpg.Connection, n: int = 3000) -> int:
    """Synthetic Buurtsignaal data for the last twelve months, unevenly spread (some buurten
    and categories much busier than others) so summaries show both published and
    suppressed cells."""
    import random
    from datetime import date, timedelta

    from burgerwacht.signals import intake as signals

    rnd = random.Random(9999)
    buurten = [
        r[0]
        for r in await conn.fetch(
            "SELECT code FROM areas WHERE municipality_code = $1 AND level = 'buurt' ORDER BY code",
            DEMO_MUNICIPALITY,
        )
    ]
    weights = [rnd.choice((1, 2, 4, 8)) for _ in buurten]
    categories = [
        "zwerfafval",
        "vernieling",
        "graffiti",
        "hondenpoep",
        "dronken_mensen",
        "drugs",
        "burenoverlast",
        "hangjongeren",
        "te_hard_rijden",
        "parkeeroverlast",
        "woninginbraak",
        "horeca",
        "anders",
    ]
    cat_weights = [9, 5, 6, 7, 2, 3, 4, 3, 8, 6, 2, 1, 2]
    start = date.today() - timedelta(days=365)
    places = {code: await signals.place_of_area(conn, code) for code in buurten}
    for _ in range(n):
        place = places[rnd.choices(buurten, weights)[0]]
        await signals.create_signal(
            conn,
            place=place,
            category=rnd.choices(categories, cat_weights)[0],
            severity=rnd.randint(1, 5),
            observed_on=start + timedelta(days=rnd.randrange(365)),
            source=rnd.choice(("interview", "schouw")),
            text=None,
            location=None,
            created_by="demo",
        )
    return n


def banner(settings: Settings, sandbox_url: str, tokens: dict[str, str]) -> str:
    base = settings.public_base
    lines = [
        "",
        "Burgerwacht demo is running (synthetic data: Demostad, GM9999)",
        f"  service    {base}   (OpenAPI: {base}/api/v1/openapi.json)",
        f"  simulator  {sandbox_url}   (sent messages: {sandbox_url}/sandbox/messages)",
        "  staff tokens (valid 1 day):",
        *(f"    {role:<12} {token}" for role, token in tokens.items()),
        "",
        "Try it (see README 'Try it'):",
        f"  export BW={base} SIM={sandbox_url} OP={tokens.get('operator', '')} "
        f"AN={tokens.get('analyst', '')} FW={tokens.get('fieldworker', '')}",
        '  curl -s "$BW/api/v1/areas?municipality=GM9999&level=wijk" -H "Authorization: Bearer $OP" | head -c 300',
        '  curl -s -X POST $SIM/sandbox/inbound/sms -H "Content-Type: application/json" '
        '-d \'{"from": "+31612345678", "body": "AANMELDEN 9991 AA 75"}\'',
        "",
        "Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


async def run_demo(settings: Settings, host: str, port: int, sandbox_port: int) -> None:
    from burgerwacht.sandbox import SandboxConfig, create_sandbox_app
    from burgerwacht.web.app import create_app

    url = await asyncio.get_running_loop().run_in_executor(None, resolve_database_url, settings)
    conn = await asyncpg.connect(url)
    try:
        await init_connection(conn)
        tokens = await seed(conn, settings)
    finally:
        await conn.close()

    sandbox = create_sandbox_app(
        SandboxConfig(
            account_sid=settings.twilio.account_sid,
            auth_token=settings.twilio.auth_token,
            service_url=settings.public_base,
            phone_number=settings.twilio.from_number,
            callback_delay=0.2,
        )
    )
    sandbox_runner = web.AppRunner(sandbox, access_log=None)
    await sandbox_runner.setup()
    app = create_app(settings, roles={"web", "worker", "scheduler"}, database_url=url)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=10)
    try:
        await web.TCPSite(sandbox_runner, host, sandbox_port).start()
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        await sandbox_runner.cleanup()
        raise SystemExit(
            f"burgerwacht demo: cannot listen on {host}:{port}/{sandbox_port} ({exc.strerror}); "
            "is another demo running? Use --port/--sandbox-port."
        ) from None

    print(banner(settings, f"http://{host}:{sandbox_port}", tokens), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("demo: shutting down", file=sys.stderr)
    await runner.cleanup()
    await sandbox_runner.cleanup()
