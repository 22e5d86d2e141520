"""Worker processes: SIGKILL and SIGTERM mid-alert. Only the subprocess workers send
(the in-process service runs the web role only); the simulator's record must show
every resident exactly once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest

from tests.helpers.alerting import alert_body, create_and_send, settled, wait_until
from tests.helpers.dispatch import assert_each_once, enrol_many, worker_env


@pytest.fixture
def service_roles():
    return {"web"}


def start_worker(env: dict[str, str], log_path) -> subprocess.Popen:
    """A worker process whose log goes to a file: a pipe nobody reads would block a
    worker that logs a lot (and so make it ignore SIGTERM)."""
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "burgerwacht", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_worker_killed_or_terminated_mid_alert(
    client, sandbox, db, db_url, service_port, sandbox_port, staff, sig, tmp_path
):
    op = await staff("operator", "GM9999")
    expected = await enrol_many(db, 80)
    env = worker_env(db_url, service_port, sandbox_port)
    first = start_worker(env, tmp_path / "worker-1.log")
    try:
        alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))

        async def some_sent():
            return len(await sandbox.outbound()) >= 20

        await wait_until(some_sent, timeout=30, interval=0.05)
        first.send_signal(sig)
        code = await asyncio.get_running_loop().run_in_executor(None, first.wait, 15)
        if sig == signal.SIGTERM:
            assert code == 0, (tmp_path / "worker-1.log").read_text()
            # a graceful stop hands back what it held: nothing stays claimed
            assert await db.fetchval("SELECT count(*) FROM deliveries WHERE state = 'sending'") == 0
        sent_before = len(await sandbox.outbound())
        assert sent_before < 80
        second = start_worker(env, tmp_path / "worker-2.log")
        try:
            done = await settled(client, op, alert["id"], timeout=60)
        finally:
            second.terminate()
            await asyncio.get_running_loop().run_in_executor(None, second.wait, 15)
    finally:
        if first.poll() is None:
            first.kill()
    assert done["counts"]["sent"] + done["counts"]["delivered"] == 80
    assert_each_once(await sandbox.outbound(), expected)
