"""Counters count what was committed: a transaction that fails (say, the database
restarts under it) counts nothing, so the retry that later succeeds is counted once."""

from __future__ import annotations

import pytest

from burgerwacht import metrics
from burgerwacht.alerts import callbacks
from burgerwacht.tips import service as tips
from tests.helpers.alerting import alert_body, create_and_send, enrol


@pytest.fixture
def service_roles():
    return {"web"}


def value(counter, *labels: str) -> float:
    return counter.labels(*labels)._value.get()


async def test_a_callback_whose_transaction_fails_is_not_counted(client, db, op, monkeypatch):
    home = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    await enrol(db, "+31620000001", home)
    await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    delivery = await db.fetchval("UPDATE deliveries SET state = 'sent', attempts = 1 RETURNING id")
    before = value(metrics.CALLBACK_STATES, "delivered", "sms")

    async def connection_lost(*_a, **_kw):
        raise ConnectionResetError("the database went away before the commit")

    monkeypatch.setattr(callbacks, "publish", connection_lost)
    with pytest.raises(ConnectionResetError):
        await callbacks.apply_callback(db, delivery, 1, "delivered", "SM" + "0" * 32, None, "sms")
    assert await db.fetchval("SELECT state FROM deliveries WHERE id = $1", delivery) == "sent"
    assert value(metrics.CALLBACK_STATES, "delivered", "sms") == before

    monkeypatch.undo()  # the same callback again (the status check, or Twilio's retry) counts once
    assert await callbacks.apply_callback(db, delivery, 1, "delivered", "SM" + "0" * 32, None, "sms")
    assert value(metrics.CALLBACK_STATES, "delivered", "sms") == before + 1


async def test_a_voice_tip_whose_transaction_fails_is_not_counted(db, monkeypatch):
    before = value(metrics.TIPS, "voice")

    async def connection_lost(*_a, **_kw):
        raise ConnectionResetError("the database went away before the commit")

    monkeypatch.setattr(tips, "_announce", connection_lost)
    with pytest.raises(ConnectionResetError):
        async with db.transaction():
            await tips.recording(db, "RE" + "1" * 32, "CA" + "1" * 32, "https://example.org/r.mp3", 12)
    assert value(metrics.TIPS, "voice") == before
