"""Calls in progress across worker processes (issue 16): three `burgerwacht worker`
processes, twilio.max_concurrent_calls = 3, and a simulator whose calls last 0.4 s and
which refuses a fourth: it never sees more than three in progress, and each resident is
called exactly once."""

from __future__ import annotations

import pytest

from tests.api.test_voice_limits import enrol_callers, sandbox_stats, voice_alert
from tests.helpers.alerting import create_and_send
from tests.helpers.dispatch import assert_each_once, worker_env
from tests.helpers.lifecycle import quiet_queue


@pytest.fixture
def service_roles():
    return {"web"}


@pytest.mark.slow
async def test_max_concurrent_calls_holds_for_three_worker_processes(
    client, sandbox, db, db_url, service_port, sandbox_port, op
):
    from tests.e2e.test_ops import start_process, stop_process

    expected = await enrol_callers(db, 15)
    await sandbox.scenario(call_seconds=0.4, max_concurrent_calls=3)
    env = worker_env(
        db_url,
        service_port,
        sandbox_port,
        BURGERWACHT_TWILIO__CALLS_PER_SECOND="1000",
        BURGERWACHT_TWILIO__MAX_CONCURRENT_CALLS="3",
        BURGERWACHT_ALERTS__POLL_SECONDS="0.1",
        BURGERWACHT_LOGGING__LEVEL="INFO",
    )
    workers = [await start_process("worker", env, "dispatch worker started") for _ in range(3)]
    try:
        await create_and_send(client, op, voice_alert())
        await quiet_queue(db, timeout=40)
    finally:
        for w in workers:
            await stop_process(w)
    calls = [c for c in await sandbox.calls() if c["direction"] == "outbound-api"]
    assert_each_once(calls, expected)
    stats = await sandbox_stats(sandbox)
    assert stats["calls"]["max_in_progress"] == 3, stats
    assert stats["requests"].get("calls_over_concurrency", 0) == 0, stats["requests"]
    assert await db.fetchval("SELECT count(*) FROM call_slots") == 0
