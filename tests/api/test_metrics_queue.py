"""One scrape of any process shows the state of dispatch: queue gauges read from the
database (the delivery counters live in the worker processes; compose exposes those)."""

from __future__ import annotations

import re

import pytest

from burgerwacht import metrics
from tests.helpers.alerting import alert_body, create_and_send, enrol


@pytest.fixture
def service_roles():
    return {"web"}  # no worker here: whatever is sent stays queued


def gauge(text: str, name: str, channel: str) -> float:
    m = re.search(rf'^{name}{{channel="{channel}"}} (\S+)$', text, re.M)
    assert m, f"{name} for {channel} missing"
    return float(m.group(1))


async def test_the_web_metrics_show_the_queue_per_channel(client, db, op, monkeypatch):
    monkeypatch.setattr(metrics, "_queue_read_at", float("-inf"))
    homes = [
        r[0]
        for r in await db.fetch(
            "SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 3"
        )
    ]
    for i, home in enumerate(homes):
        await enrol(db, f"+3162000000{i}", home)
    await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    await db.execute("UPDATE deliveries SET not_before = now() - interval '30 seconds'")
    text = await (await client.get("/metrics")).text()
    assert gauge(text, "burgerwacht_dispatch_queued", "sms") == 3
    assert gauge(text, "burgerwacht_dispatch_sending", "sms") == 0
    assert gauge(text, "burgerwacht_dispatch_oldest_queued_seconds", "sms") >= 30
    assert gauge(text, "burgerwacht_dispatch_queued", "voice") == 0

    # read again only after a few seconds: a second scrape right away costs no query
    await db.execute("UPDATE deliveries SET state = 'sending' WHERE id = (SELECT min(id) FROM deliveries)")
    text = await (await client.get("/metrics")).text()
    assert gauge(text, "burgerwacht_dispatch_queued", "sms") == 3
    monkeypatch.setattr(metrics, "_queue_read_at", float("-inf"))  # the few seconds have passed
    text = await (await client.get("/metrics")).text()
    assert gauge(text, "burgerwacht_dispatch_queued", "sms") == 2
    assert gauge(text, "burgerwacht_dispatch_sending", "sms") == 1


async def test_the_oldest_due_delivery_is_found_in_either_channel(client, db, op):
    """The workers' queue-age gauge: the oldest due delivery of both channels (the queue
    index is per channel), deferred ones left out, 0 with nothing due."""
    from burgerwacht.alerts import store

    assert await store.queue_oldest_age(db) == 0
    homes = [r[0] for r in await db.fetch("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' LIMIT 2")]
    for i, home in enumerate(homes):
        await enrol(db, f"+3162000001{i}", home)
    await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    ids = [r[0] for r in await db.fetch("SELECT id FROM deliveries ORDER BY id")]
    await db.execute("UPDATE deliveries SET not_before = now() - interval '20 seconds' WHERE id = $1", ids[0])
    await db.execute(
        "UPDATE deliveries SET channel = 'voice', not_before = now() - interval '45 seconds' WHERE id = $1",
        ids[1],
    )
    assert 45 <= await store.queue_oldest_age(db) < 60
    await db.execute("UPDATE deliveries SET not_before = now() + interval '1 hour' WHERE id = $1", ids[1])
    assert 20 <= await store.queue_oldest_age(db) < 45
