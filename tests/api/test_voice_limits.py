"""Voice has two provider limits (issue 16): calls started per second
(``twilio.calls_per_second``) and calls in progress at once
(``twilio.max_concurrent_calls``), the second shared by all workers through PostgreSQL
(``call_slots``). The simulator keeps calls in progress for ``call_seconds`` of real
time, counts the most it saw at once and refuses a call over its own account limit; the
preview's estimate uses both limits."""

from __future__ import annotations

import asyncio

import pytest

from burgerwacht.alerts import estimate, store
from burgerwacht.config import ConfigError, load_settings
from tests.helpers.alerting import alert_body, create, create_and_send, enrol, wait_until
from tests.helpers.dispatch import assert_each_once
from tests.helpers.lifecycle import Worker, quiet_queue

VOICE_TEXT = "Let op: vermist meisje van acht jaar met een rode jas. Bel 1 1 2 als u haar ziet."


def caller(i: int) -> str:
    return f"+316300{i:05d}"


async def enrol_callers(db, n: int) -> list[str]:
    ids = await db.fetch("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT $1", n)
    for i, row in enumerate(ids):
        await enrol(db, caller(i), row["id"], channels=("voice",))
    return [caller(i) for i in range(n)]


def voice_alert() -> dict:
    return alert_body(
        {"type": "areas", "codes": ["BU99990101"]}, channels=["voice"], voice_message=VOICE_TEXT
    )


async def sandbox_stats(sandbox) -> dict:
    return await (await sandbox.client.get("/sandbox/stats")).json()


@pytest.mark.parametrize(
    "settings_overrides",
    [{"twilio": {"calls_per_second": 1000.0, "max_concurrent_calls": 3}, "alerts": {"poll_seconds": 0.1}}],
    indirect=True,
)
async def test_calls_in_progress_never_exceed_the_maximum_across_three_workers(
    client, sandbox, db, op, settings
):
    """Three workers (each its own database pool and provider client) and a limit of 3:
    the simulator, whose calls last 0.4 s and which refuses a fourth, never sees more
    than 3 at once; each resident is called exactly once and every place is freed by
    the calls' final status callbacks."""
    expected = await enrol_callers(db, 15)
    await sandbox.scenario(call_seconds=0.4, max_concurrent_calls=3)
    workers = [Worker(settings) for _ in range(3)]
    try:
        for w in workers:
            await w.start()
        alert = await create_and_send(client, op, voice_alert())
        await quiet_queue(db, timeout=30)
    finally:
        for w in workers:
            await w.stop()
    calls = [c for c in await sandbox.calls() if c["direction"] == "outbound-api"]
    assert_each_once(calls, expected)
    stats = await sandbox_stats(sandbox)
    assert stats["calls"]["max_in_progress"] == 3, stats  # the limit, and all of it used
    assert stats["requests"].get("calls_over_concurrency", 0) == 0, stats["requests"]
    assert stats["requests"].get("rate_limited", 0) == 0, stats["requests"]
    assert stats["calls"]["in_progress"] == 0
    counts = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE state = 'delivered') AS delivered, count(*) AS total "
        "FROM deliveries WHERE alert_id = $1",
        alert["id"],
    )
    assert counts["delivered"] == counts["total"] == 15
    assert await db.fetchval("SELECT count(*) FROM call_slots") == 0  # freed by the callbacks


async def test_the_simulator_counts_and_refuses_calls_over_its_limit(client, sandbox, db, op, settings):
    """Without a limit of ours as low as the simulator's, the simulator shows the excess:
    the figure the test above relies on can fail."""
    await enrol_callers(db, 6)
    await sandbox.scenario(call_seconds=1.0, max_concurrent_calls=2, callbacks=False)
    async with asyncio.timeout(20):
        worker = Worker(settings)  # max_concurrent_calls 100 (the default)
        await worker.start()
        try:
            await create_and_send(client, op, voice_alert())

            async def refused():
                stats = await sandbox_stats(sandbox)
                return stats["requests"].get("calls_over_concurrency", 0) > 0 and stats

            stats = await wait_until(refused, timeout=10, interval=0.05)
        finally:
            await worker.stop()
    assert stats["calls"]["max_in_progress"] == 2


async def test_call_slots_are_shared_and_lapse(db):
    """The store's places: at most the maximum, a delivery keeps its own place, a final
    callback of an attempt frees it (a later attempt's place stays), a lost one lapses."""
    assert await store.take_call_slot(db, 1, 1, 2, 60) == (True, 0)
    assert await store.take_call_slot(db, 2, 1, 2, 60) == (True, 1)
    assert await store.take_call_slot(db, 3, 1, 2, 60) == (False, 2)
    assert await store.take_call_slot(db, 2, 2, 2, 60) == (True, 2)  # its own place, again
    assert not await store.release_call_slot(db, 2, 1)  # a late callback of attempt 1
    assert await store.release_call_slot(db, 2, 2)
    assert await store.take_call_slot(db, 3, 1, 2, 0.2) == (True, 1)
    await asyncio.sleep(0.3)  # delivery 3's callback was lost: its place lapses
    assert await store.calls_in_progress(db) == 1
    assert await store.take_call_slot(db, 4, 1, 2, 60) == (True, 1)


@pytest.mark.parametrize(
    ("settings_overrides", "limited_by"),
    [
        ({"twilio": {"calls_per_second": 5.0, "max_concurrent_calls": 1000}}, "calls_per_second"),
        ({"twilio": {"calls_per_second": 5.0, "max_concurrent_calls": 2}}, "max_concurrent_calls"),
    ],
    indirect=["settings_overrides"],
)
async def test_the_preview_estimate_uses_both_voice_limits(client, db, op, settings, limited_by):
    await enrol_callers(db, 20)
    alert = await create(client, op, voice_alert())
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)
    assert resp.status == 200, await resp.text()
    preview = await resp.json()
    voice = preview["voice_estimate"]
    call = estimate.expected_call_seconds(VOICE_TEXT)
    assert 40 <= call <= 80  # ring, intro, message, menu and its wait, outro
    assert voice == {
        "calls": 20,
        "expected_call_seconds": call,
        "calls_per_second": 5.0,
        "max_concurrent_calls": settings.twilio.max_concurrent_calls,
        "seconds": pytest.approx(max(20 / 5, 20 * call / settings.twilio.max_concurrent_calls), abs=0.01),
        "limited_by": limited_by,
    }
    assert preview["estimated_seconds"] == pytest.approx(voice["seconds"], abs=0.01)
    if limited_by == "calls_per_second":
        assert preview["estimated_seconds"] == 4.0  # 20 calls at 5 a second
    else:  # 20 calls of ~a minute, two at a time: ten minutes, not four seconds
        assert preview["estimated_seconds"] == pytest.approx(10 * call, abs=0.01)


async def test_openapi_documents_the_voice_estimate(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert "voice_estimate" in schemas["Preview"]["properties"]
    fields = schemas["VoiceEstimate"]["properties"]
    assert set(fields) >= {"calls", "expected_call_seconds", "max_concurrent_calls", "seconds", "limited_by"}


def test_max_concurrent_calls_is_validated(monkeypatch):
    assert load_settings().twilio.max_concurrent_calls == 100
    monkeypatch.setenv("BURGERWACHT_TWILIO__MAX_CONCURRENT_CALLS", "7")
    assert load_settings().twilio.max_concurrent_calls == 7
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv("BURGERWACHT_TWILIO__MAX_CONCURRENT_CALLS", bad)
        with pytest.raises(ConfigError, match=r"twilio\.max_concurrent_calls"):
            load_settings()
