"""A worker killed (SIGKILL) in the middle of a wave, after a follow-up: the wave's
residents still get the alert exactly once, with the follow-up folded in (the text
version is kept with the claim, so reconciliation with the provider finds the message
that went out), and the residents reached before get the follow-up exactly once. Only
the subprocess workers send (the in-process service runs the web role only)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter

import pytest

from burgerwacht.alerts.service import current_text, sms_text, update_text
from tests.helpers.alerting import alert_body, create_and_send, wait_until
from tests.helpers.dispatch import enrol_bulk, worker_env
from tests.helpers.lifecycle import post, quiet_queue


@pytest.fixture
def service_roles():
    return {"web"}


def start_worker(env: dict[str, str], log_path) -> subprocess.Popen:
    with open(log_path, "ab") as log:  # a file, not a pipe nobody reads
        return subprocess.Popen(
            [sys.executable, "-m", "burgerwacht", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


@pytest.mark.slow
async def test_worker_killed_during_a_wave_still_sends_each_message_once(
    client, sandbox, db, db_url, service_port, sandbox_port, staff, tmp_path
):
    op = await staff("operator", "GM9999")
    first_area = await enrol_bulk(db, 0, 30, ["WK999901"])
    wave_area = await enrol_bulk(db, 1000, 90, ["WK999902"])
    env = worker_env(db_url, service_port, sandbox_port)
    worker = start_worker(env, tmp_path / "worker-1.log")
    second = None
    try:
        body = alert_body(
            {"type": "areas", "codes": ["WK999901"]}, level="missing_child", family_consent=True
        )
        alert = await create_and_send(client, op, body)
        aid, ref = alert["id"], alert["reference"]
        await quiet_queue(db, timeout=30)
        update = "Het kind is gezien bij de haven, rode jas."
        await post(client, f"/api/v1/alerts/{aid}/updates", op, {"message": update}, 202)
        wave = await post(
            client,
            f"/api/v1/alerts/{aid}/widen",
            op,
            {"target": {"type": "areas", "codes": ["WK999902"]}},
            202,
        )
        assert wave["added"] == 90

        async def wave_under_way():
            bodies = [m["body"] for m in await sandbox.outbound()]
            return sum(b.startswith(f"Burgerwacht {ref} UPDATE: {update} | ") for b in bodies) >= 25

        await wait_until(wave_under_way, timeout=30, interval=0.05)
        worker.send_signal(signal.SIGKILL)
        await asyncio.get_running_loop().run_in_executor(None, worker.wait, 15)
        assert len(await sandbox.outbound()) < 30 + 30 + 90  # killed mid-wave
        # it held claims when it died: they are taken back and checked with the provider
        assert await db.fetchval("SELECT count(*) FROM deliveries WHERE state = 'sending'") > 0
        second = start_worker(env, tmp_path / "worker-2.log")
        await quiet_queue(db, timeout=60)
    finally:
        for process in (worker, second):
            if process is not None and process.poll() is None:
                process.terminate()
                await asyncio.get_running_loop().run_in_executor(None, process.wait, 15)
    messages = [(m["to"], m["body"]) for m in await sandbox.outbound()]
    twice = {k: n for k, n in Counter(messages).items() if n > 1}
    assert not twice, f"sent twice: {twice}"
    by_number: dict[str, list[str]] = {}
    for to, text in messages:
        by_number.setdefault(to, []).append(text)
    start, folded = sms_text(ref, body["message"]), current_text(ref, body["message"], update)
    assert {n: by_number.get(n) for n in first_area} == {
        n: [start, update_text(ref, update)] for n in first_area
    }
    assert {n: by_number.get(n) for n in wave_area} == {n: [folded] for n in wave_area}
