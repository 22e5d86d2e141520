"""Worker processes: SIGKILL and SIGTERM mid-alert. Only the subprocess workers send
(the in-process service runs the web role only); the simulator's record must show
every resident exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from tests.alerting import alert_body, create_and_send, settled, wait_until
from tests.conftest import SERVICE_NUMBER, TEST_SID, TEST_TOKEN
from tests.test_dispatch_faults import assert_each_once, enrol_many


@pytest.fixture
def service_roles():
    return {"web"}


def worker_env(db_url: str, service_port: int, sandbox_port: int, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BURGERWACHT_DATABASE_URL": db_url,
        "BURGERWACHT_PUBLIC_URL": f"http://127.0.0.1:{service_port}",
        "BURGERWACHT_TWILIO__ACCOUNT_SID": TEST_SID,
        "BURGERWACHT_TWILIO__AUTH_TOKEN": TEST_TOKEN,
        "BURGERWACHT_TWILIO__API_BASE": f"http://127.0.0.1:{sandbox_port}",
        "BURGERWACHT_TWILIO__FROM_NUMBER": SERVICE_NUMBER,
        "BURGERWACHT_TWILIO__SMS_PER_SECOND": "25",
        "BURGERWACHT_ALERTS__CLAIM_LEASE_SECONDS": "2",
        "BURGERWACHT_ALERTS__SHUTDOWN_GRACE_SECONDS": "5",
        "BURGERWACHT_LOGGING__LEVEL": "WARNING",
    }
    env.update(extra)
    return env


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
