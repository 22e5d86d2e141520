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
from tests.alerting import alert_body, create_and_send, enrol


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
