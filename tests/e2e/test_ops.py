"""Operations: one rate limit across worker processes, scheduled jobs once per period
across scheduler processes, metrics, a replica that is away, a database restart
mid-alert, and a web process that shuts down cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import datetime

import asyncpg
import pytest
from aiohttp import ClientSession, web

from tests.helpers.alerting import alert_body, create_and_send, settled, wait_until
from tests.helpers.dispatch import assert_each_once, enrol_many, worker_env
from tests.helpers.ports import free_port


async def start_process(role: str, env: dict[str, str], ready: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "burgerwacht",
        role,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        while True:
            line = await proc.stderr.readline()
            assert line, f"{role} exited before it was ready"
            if ready in line.decode():
                return proc


async def stop_process(proc: asyncio.subprocess.Process) -> list[str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    out = await proc.stderr.read()
    await proc.wait()
    return out.decode().splitlines()


@pytest.fixture
def service_roles():
    return {"web"}


@pytest.mark.slow
async def test_rate_limit_holds_for_the_sum_of_three_workers(
    client, sandbox, db, db_url, service_port, sandbox_port, staff
):
    op = await staff("operator", "GM9999")
    expected = await enrol_many(db, 240)
    await sandbox.scenario(sms_per_second=60, callbacks=False)  # the provider enforces the same limit
    env = worker_env(
        db_url,
        service_port,
        sandbox_port,
        BURGERWACHT_TWILIO__SMS_PER_SECOND="60",
        BURGERWACHT_LOGGING__LEVEL="INFO",
    )
    workers = [await start_process("worker", env, "dispatch worker started") for _ in range(3)]
    try:
        alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
        await settled(client, op, alert["id"], timeout=60)
    finally:
        for w in workers:
            await stop_process(w)
    sent = await sandbox.outbound()
    assert_each_once(sent, expected)
    times = sorted(datetime.fromisoformat(m["date_created"]).timestamp() for m in sent)
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"3 workers at a configured 60/s: measured {rate:.1f}/s over {times[-1] - times[0]:.1f} s")
    assert 57 <= rate <= 63
    stats = await (await sandbox.client.get("/sandbox/stats")).json()
    assert stats["requests"].get("rate_limited", 0) == 0  # the provider never had to answer 429
    per_worker = {r[0] for r in await db.fetch("SELECT DISTINCT claimed_by FROM deliveries")}
    assert per_worker == {None}  # every claim was released


@pytest.mark.slow
async def test_two_schedulers_run_each_job_once_per_period(db_url, service_port, sandbox_port, db):
    env = worker_env(
        db_url,
        service_port,
        sandbox_port,
        BURGERWACHT_LOGGING__LEVEL="INFO",
        BURGERWACHT_SCHEDULER__INTERVALS='{"tips-retention": 1}',
    )
    first = await start_process("scheduler", env, "scheduled job")
    second = await start_process("scheduler", env, "burgerwacht scheduler running")

    async def enough_periods():
        return (
            await db.fetchval(
                "SELECT count(*) FROM job_runs WHERE job = 'tips-retention' AND finished_at IS NOT NULL"
            )
            >= 4
        )

    await wait_until(enough_periods, timeout=30, interval=0.2)
    logs = await stop_process(first) + await stop_process(second)
    runs = [
        json.loads(line)
        for line in logs
        if line.startswith("{") and "scheduled job tips-retention ran" in line
    ]
    finished = {
        r[0]
        for r in await db.fetch(
            "SELECT period FROM job_runs WHERE job = 'tips-retention' AND finished_at IS NOT NULL"
        )
    }
    assert len(finished) >= 4, finished
    ran = [r["period"] for r in runs]
    # both processes tried every period; each period ran in exactly one of them
    assert len(ran) == len(set(ran)), f"a period ran twice: {sorted(ran)}"
    # a run that finished just as SIGTERM arrived may miss its log line (at most one per process)
    assert set(ran) <= finished and len(ran) >= len(finished) - 2, (sorted(ran), sorted(finished))


async def test_job_runs_are_forgotten_after_keep_runs_days(client, db):
    """Every job claims a row per period; the housekeeping job keeps the table bounded
    and never touches a recent run (a claim of the current period included)."""
    from burgerwacht import scheduler
    from burgerwacht.web.keys import SETTINGS

    await db.execute(
        "INSERT INTO job_runs (job, period, process, started_at) VALUES "
        "('signals.rollup', '1', 'old', now() - interval '15 days'), "
        "('signals.rollup', '2', 'old', now() - interval '20 days'), "
        "('signals.rollup', '3', 'recent', now() - interval '13 days')"
    )
    spec = scheduler.all_jobs()["scheduler.housekeeping"]
    assert await scheduler.run_once(client.app, spec)
    assert not await scheduler.run_once(client.app, spec)  # once per period
    left = {r[0] for r in await db.fetch("SELECT process FROM job_runs")}
    assert left == {"recent", scheduler.PROCESS}
    result = await db.fetchval("SELECT result FROM job_runs WHERE job = 'scheduler.housekeeping'")
    assert result == {"runs_forgotten": 2, "kept_days": 14.0}
    # never fewer than two periods of the longest job: the weekly report's claim stays
    client.app[SETTINGS].scheduler.keep_runs_days = 1
    await db.execute(
        "INSERT INTO job_runs (job, period, process, started_at) VALUES "
        "('signals.weekly_report', '9', 'week-old', now() - interval '6 days')"
    )
    await db.execute("DELETE FROM job_runs WHERE job = 'scheduler.housekeeping'")
    assert await scheduler.run_once(client.app, spec)
    assert "week-old" in {r[0] for r in await db.fetch("SELECT process FROM job_runs")}


async def test_metrics(client, sandbox, db, staff, settings):
    resp = await client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    for name in (
        "burgerwacht_deliveries_total",
        "burgerwacht_queue_depth",
        "burgerwacht_webhooks_total",
        "burgerwacht_send_seconds",
        "burgerwacht_provider_errors_total",
        "burgerwacht_tips_total",
    ):
        assert name in text


@pytest.mark.parametrize("settings_overrides", [{"metrics": {"token": "s3cret-metrics"}}], indirect=True)
async def test_metrics_token(client):
    assert (await client.get("/metrics")).status == 401
    resp = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert resp.status == 200


@pytest.mark.parametrize(
    "settings_overrides", [{"read_database_url": "postgresql://nobody@127.0.0.1:1/nothing"}], indirect=True
)
async def test_unreachable_replica_falls_back_to_the_primary(client, staff):
    analyst = await staff("analyst", "GM9999")
    resp = await client.get(
        "/api/v1/areas", params={"municipality": "GM9999", "level": "wijk"}, headers=analyst
    )
    assert resp.status == 200
    assert len((await resp.json())["features"]) == 4


@pytest.mark.slow
@pytest.mark.parametrize("service_roles", [{"web", "worker"}])
@pytest.mark.parametrize("settings_overrides", [{"twilio": {"sms_per_second": 40.0}}], indirect=True)
async def test_workers_survive_a_database_restart(client, sandbox, db_url, restart_postgres, staff):
    from burgerwacht.db.pool import init_connection

    db = await asyncpg.connect(db_url)
    await init_connection(db)
    op = await staff("operator", "GM9999")
    expected = await enrol_many(db, 120)
    await db.close()
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    await asyncio.sleep(1.0)
    await restart_postgres()
    done = await settled(client, op, alert["id"], timeout=90)
    assert done["counts"]["sent"] + done["counts"]["delivered"] == 120
    assert_each_once(await sandbox.outbound(), expected)


async def test_web_shutdown_ends_event_streams_and_finishes_requests(settings, sandbox, staff):
    from burgerwacht.web.app import create_app

    app = create_app(settings)
    slow_started = asyncio.Event()

    async def slow(request):
        slow_started.set()
        await asyncio.sleep(1.0)
        return web.json_response({"finished": True})

    app.router.add_get("/slow", slow)
    port = free_port()
    runner = web.AppRunner(app, shutdown_timeout=10)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    op = await staff("operator", "GM9999")
    async with ClientSession() as http:
        stream = await http.get(f"http://127.0.0.1:{port}/api/v1/tips/events", headers=op)
        await stream.content.readuntil(b"\n\n")
        slow_req = asyncio.create_task(http.get(f"http://127.0.0.1:{port}/slow"))
        await slow_started.wait()
        cleanup = asyncio.create_task(runner.cleanup())
        async with asyncio.timeout(5):
            rest = await stream.content.read()
        assert b"event: shutdown" in rest
        resp = await slow_req
        assert resp.status == 200 and (await resp.json())["finished"]
        await cleanup
