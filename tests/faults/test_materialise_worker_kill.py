"""A worker killed (SIGKILL) while it writes a large alert's deliveries in chunks and
sends the first of them: another worker writes the chunks left (the killed writer's
chunk is taken again) and every resident still gets the alert exactly once (issue 16).
Chunks of 4 resident ids, written by the worker's parallel writers; the test holds an
uncommitted delivery of its own for one resident further on (the same unique key), so
the writer of that resident's chunk waits for the test's transaction (ON CONFLICT must
know whether it commits) and the kill lands in the middle of writing it whatever the
machine's speed. Only the subprocess
workers send (the in-process service runs the web role only)."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import pytest

from tests.faults.test_wave_worker_kill import start_worker
from tests.helpers.alerting import alert_body, wait_until
from tests.helpers.dispatch import assert_each_once, enrol_bulk, worker_env
from tests.helpers.lifecycle import post, quiet_queue


@pytest.fixture
def service_roles():
    return {"web"}


@pytest.fixture
def settings_overrides():
    return {"alerts": {"materialise_at_once": 50, "materialise_first": 4, "materialise_chunk": 4}}


@pytest.mark.slow
async def test_worker_killed_while_writing_chunks_still_sends_each_message_once(
    client, sandbox, db, db_url, service_port, sandbox_port, op, tmp_path
):
    # 800 residents in chunks of 4: 200 chunks, so the kill lands while most are unwritten
    phones = await enrol_bulk(db, 0, 800, ["WK999901", "WK999902"])
    env = worker_env(
        db_url,
        service_port,
        sandbox_port,
        BURGERWACHT_ALERTS__MATERIALISE_CHUNK="4",
        BURGERWACHT_TWILIO__SMS_PER_SECOND="800",
    )
    body = alert_body(
        {"type": "areas", "codes": ["WK999901", "WK999902"]}, level="missing_child", family_consent=True
    )
    resp = await client.post("/api/v1/alerts", json=body, headers=op)
    aid = (await resp.json())["id"]
    sent = await post(client, f"/api/v1/alerts/{aid}/send", op, None, 202)
    assert sent["materialising"] is True and sum(sent["counts"].values()) == 4
    lo = await db.fetchval("SELECT materialise_cursor FROM alerts WHERE id = $1", aid)
    # a resident about 100 ids on: its chunk cannot commit while the test's own delivery
    # for them (same alert, resident, channel, kind and seq) is neither committed nor not
    held = await db.fetchval("SELECT min(id) FROM residents WHERE id >= $1", lo + 100)
    blocker = await asyncpg.connect(db_url)
    hold = blocker.transaction()
    await hold.start()
    await blocker.execute(
        """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month)
           VALUES ($1, $2, 'sms', 'alert', 'missing_child', 'queued', now() + interval '1 hour',
                   (SELECT alert_month FROM alerts WHERE id = $1))""",
        aid,
        held,
    )
    worker = start_worker(env, tmp_path / "worker-1.log")
    second = None
    try:

        async def under_way():
            left = await db.fetchval(
                "SELECT count(*) FROM materialise_chunks WHERE alert_id = $1 AND lo < $2", aid, lo + 40
            )
            return left == 0 and len(await sandbox.outbound()) >= 1

        await wait_until(under_way, timeout=30, interval=0.02)
        worker.send_signal(signal.SIGKILL)
        await asyncio.get_running_loop().run_in_executor(None, worker.wait, 15)
        # killed in the middle: deliveries left to write, and messages left to send
        # the held resident's chunk was being written: its row is left to be taken again
        assert await db.fetchval("SELECT materialise_cursor IS NOT NULL FROM alerts WHERE id = $1", aid)
        assert await db.fetchval(
            "SELECT count(*) FROM materialise_chunks WHERE alert_id = $1 AND lo < $2 AND hi >= $2", aid, held
        )
        assert len(await sandbox.outbound()) < len(phones)
        await hold.rollback()
        second = start_worker(env, tmp_path / "worker-2.log")

        async def written():
            return await db.fetchval("SELECT materialise_cursor IS NULL FROM alerts WHERE id = $1", aid)

        await wait_until(written, timeout=60, interval=0.1)
        await quiet_queue(db, timeout=60)
    finally:
        if not blocker.is_closed():
            await blocker.close()
        for process in (worker, second):
            if process is not None and process.poll() is None:
                process.terminate()
                await asyncio.get_running_loop().run_in_executor(None, process.wait, 15)
    assert_each_once(await sandbox.outbound(), phones)
    doc = await (await client.get(f"/api/v1/alerts/{aid}", headers=op)).json()
    assert doc["materialising"] is False and doc["counts"]["delivered"] + doc["counts"]["sent"] == len(phones)
