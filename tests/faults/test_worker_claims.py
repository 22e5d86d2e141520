"""The dispatch worker's own view of its claims, with the interleavings forced by events
(no sleeps): a heartbeat that races a batch being recorded must not make the worker
believe it lost claims it simply finished with."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from burgerwacht.alerts import worker as worker_module
from burgerwacht.alerts.worker import DispatchWorker
from burgerwacht.db.pool import create_pool
from burgerwacht.messaging import RateLimited, SentMessage
from tests.helpers.alerting import alert_body, create_and_send, enrol, wait_until


@pytest.fixture
def service_roles():
    return {"web"}  # no worker in the service: the test drives its own


class GatedProvider:
    """Answers each send when the test opens its gate; the first answer is a 429."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.calls = 0
        self.sids = (f"SM{i:032x}" for i in itertools.count(1))

    async def send_sms(self, to: str, body: str, **_kw) -> SentMessage:
        self.calls += 1
        self.entered.set()
        await self.gate.wait()
        if self.calls == 1:
            raise RateLimited("Too Many Requests", status=429, code=20429)
        return SentMessage(sid=next(self.sids), status="queued", to=to, segments=1)


async def test_a_heartbeat_racing_a_recorded_batch_loses_nothing(
    client, db, op, settings, db_url, monkeypatch
):
    home = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    await enrol(db, "+31620000001", home)
    await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    pool = await create_pool(db_url, settings, min_size=1, max_size=4)
    provider = GatedProvider()
    worker = DispatchWorker(pool, provider, settings)  # type: ignore[arg-type]
    try:
        await worker.limiters["sms"].setup()
        worker._heartbeat_ok = time.monotonic()

        # the heartbeat copies what is in flight, then waits (forced) before its query
        snapshot_taken, may_query = asyncio.Event(), asyncio.Event()
        real_heartbeat = worker_module.store.heartbeat

        async def held_back(conn, name, ids):
            snapshot_taken.set()
            await may_query.wait()
            return await real_heartbeat(conn, name, ids)

        monkeypatch.setattr(worker_module.store, "heartbeat", held_back)

        batch = await worker._claim("sms", 10)
        assert batch and len(batch) == 1
        delivery_id = batch[0]["id"]
        processing = asyncio.create_task(worker._process(batch))
        await provider.entered.wait()  # the send is in flight
        beat = asyncio.create_task(worker._beat())
        await snapshot_taken.wait()  # the heartbeat holds its copy of the in-flight set
        provider.gate.set()  # the provider answers (429): the batch is recorded and cleaned up
        await processing
        assert await db.fetchval("SELECT state FROM deliveries WHERE id = $1", delivery_id) == "queued"
        may_query.set()  # now the heartbeat's query runs: the claim is gone, as it should be
        await beat
        assert delivery_id not in worker.lost

        # the retry of that delivery by this same worker goes out and is recorded
        await db.execute("UPDATE deliveries SET not_before = now() WHERE id = $1", delivery_id)
        retry = await worker._claim("sms", 10)
        assert [d["id"] for d in retry] == [delivery_id]
        await worker._process(retry)
        row = await db.fetchrow("SELECT state, provider_sid FROM deliveries WHERE id = $1", delivery_id)
        assert row["state"] == "sent" and row["provider_sid"]
        assert provider.calls == 2
    finally:
        await pool.close()


class HangingProvider:
    """Answers at once, except for the numbers in ``hang``: those wait for ``gate``."""

    def __init__(self, hang: set[str]) -> None:
        self.hang, self.gate = hang, asyncio.Event()
        self.sids = (f"SM{i:032x}" for i in itertools.count(1))

    async def send_sms(self, to: str, body: str, **_kw) -> SentMessage:
        if to in self.hang:
            await self.gate.wait()
        return SentMessage(sid=next(self.sids), status="queued", to=to, segments=1)


async def others_go_out_while_some_hang(client, db, op, settings, db_url, n: int, hanging: list[int]) -> None:
    homes = [
        r[0]
        for r in await db.fetch(
            "SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT $1", n
        )
    ]
    for i, home in enumerate(homes):
        await enrol(db, f"+316200000{i:02d}", home)
    await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    rows = await db.fetch(
        "SELECT r.phone FROM deliveries d JOIN residents r ON r.id = d.resident_id ORDER BY d.id"
    )
    provider = HangingProvider({rows[i]["phone"] for i in hanging})
    pool = await create_pool(db_url, settings, min_size=1, max_size=4)
    worker = DispatchWorker(pool, provider, settings)  # type: ignore[arg-type]
    loop = None
    try:
        await worker.limiters["sms"].setup()
        worker._heartbeat_ok = time.monotonic()
        loop = asyncio.create_task(worker._channel_loop("sms"))

        async def recorded(k: int):
            return await db.fetchval("SELECT count(*) FROM deliveries WHERE state = 'sent'") == k

        await wait_until(lambda: recorded(n - len(hanging)), timeout=10)
        assert await db.fetchval("SELECT count(*) FROM deliveries WHERE state = 'sending'") == len(hanging)
        provider.gate.set()
        await wait_until(lambda: recorded(n), timeout=10)
        worker.stopping = True
        worker.wake.set()
        await asyncio.wait_for(loop, 10)
    finally:
        provider.gate.set()
        if loop is not None and not loop.done():
            loop.cancel()
        await pool.close()


@pytest.mark.parametrize("settings_overrides", [{"alerts": {"dispatch_batch_size": 2}}], indirect=True)
async def test_a_hanging_send_holds_back_one_slot_not_its_batches(client, db, op, settings, db_url):
    """Two slow provider answers, one in each of the two batches a worker holds: the
    other deliveries still go out and are recorded while those two wait."""
    await others_go_out_while_some_hang(client, db, op, settings, db_url, 10, [0, 2])


@pytest.mark.parametrize(
    "settings_overrides", [{"alerts": {"dispatch_concurrency": 1, "slow_send_seconds": 0.05}}], indirect=True
)
async def test_a_hanging_send_gives_up_its_place_among_the_sends_in_flight(client, db, op, settings, db_url):
    """With one send in flight allowed, a request that hangs lets the next ones go."""
    await others_go_out_while_some_hang(client, db, op, settings, db_url, 5, [0])
