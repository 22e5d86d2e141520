"""Follow-ups racing the dispatch worker, with the interleavings forced (no sleeps to
hope for them): a start message in flight when a follow-up is written gets the
follow-up after it, never before and never twice; a start message claimed with the old
text but recorded after the follow-up's own transaction looked (so that transaction
could not see it) is caught up when its outcome is recorded."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from burgerwacht.alerts.service import sms_text, update_text
from burgerwacht.alerts.worker import DispatchWorker, Outcome
from burgerwacht.db.pool import create_pool
from burgerwacht.messaging import SentMessage
from tests.helpers.alerting import alert_body, create_and_send, enrol
from tests.helpers.lifecycle import post


@pytest.fixture
def service_roles():
    return {"web"}  # no worker in the service: the test drives its own


class GatedProvider:
    """Records every SMS; the first one waits for the test to open the gate."""

    def __init__(self) -> None:
        self.gate, self.entered = asyncio.Event(), asyncio.Event()
        self.sent: list[tuple[str, str]] = []
        self.sids = (f"SM{i:032x}" for i in itertools.count(1))

    async def send_sms(self, to: str, body: str, **_kw) -> SentMessage:
        first = not self.sent and not self.entered.is_set()
        self.entered.set()
        if first:
            await self.gate.wait()
        self.sent.append((to, body))
        return SentMessage(sid=next(self.sids), status="queued", to=to, segments=1)


async def _setup(client, db, op, settings, db_url):
    home = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    await enrol(db, "+31620000001", home)
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    pool = await create_pool(db_url, settings, min_size=1, max_size=4)
    provider = GatedProvider()
    worker = DispatchWorker(pool, provider, settings)  # type: ignore[arg-type]
    await worker.limiters["sms"].setup()
    worker._heartbeat_ok = time.monotonic()
    return alert, pool, provider, worker


async def test_a_start_in_flight_gets_the_follow_up_after_it(client, db, op, settings, db_url):
    alert, pool, provider, worker = await _setup(client, db, op, settings, db_url)
    try:
        batch = await worker._claim("sms", 10)
        assert [d["text_seq"] for d in batch] == [0]
        sending = asyncio.create_task(worker._process(batch))
        await provider.entered.wait()  # the start message is at the provider
        await post(client, f"/api/v1/alerts/{alert['id']}/updates", op, {"message": "Nu bij de haven."}, 202)
        # the follow-up is due, but its start message is still in flight: it waits
        held = await worker._claim("sms", 10)
        assert [d["kind"] for d in held] == ["update"] and held[0]["start_state"] == "sending"
        await worker._process(held)
        assert await db.fetchval("SELECT reason FROM deliveries WHERE kind = 'update'") == "waiting_for_start"
        provider.gate.set()
        await sending
        await db.execute("UPDATE deliveries SET not_before = now() WHERE kind = 'update'")
        await worker._process(await worker._claim("sms", 10))
        assert await worker._claim("sms", 10) == []
    finally:
        provider.gate.set()
        await pool.close()
    ref = alert["reference"]
    assert [b for _to, b in provider.sent] == [
        sms_text(ref, alert_body({})["message"]),
        update_text(ref, "Nu bij de haven."),
    ]


async def test_a_start_claimed_with_the_old_text_is_caught_up_when_recorded(client, db, op, settings, db_url):
    alert, pool, provider, worker = await _setup(client, db, op, settings, db_url)
    try:
        provider.gate.set()
        # the follow-up is written while the start message is still queued: it has no
        # recipients (the start will carry it) …
        await post(client, f"/api/v1/alerts/{alert['id']}/updates", op, {"message": "Nu bij de haven."}, 202)
        assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'update'") == 0
        # … but the claim had read the alert before the follow-up committed (text 0) and
        # commits after the follow-up's transaction looked: forced here by hand
        start = await db.fetchrow(
            "UPDATE deliveries SET state = 'sending', claimed_by = $1, claimed_at = now(), text_seq = 0 "
            "WHERE kind = 'alert' RETURNING id, alert_id",
            worker.name,
        )
        await worker._record(
            [Outcome(start["id"], "sent", 1, alert_id=start["alert_id"], sid="SM" + "f" * 32, kind="alert")]
        )
        rows = await db.fetch("SELECT kind, seq, state FROM deliveries ORDER BY id")
        assert [(r["kind"], r["seq"], r["state"]) for r in rows] == [
            ("alert", 0, "sent"),
            ("update", 1, "queued"),
        ]
        # recorded again (a retried group commit): still one follow-up
        await worker._record(
            [Outcome(start["id"], "sent", 1, alert_id=start["alert_id"], sid="SM" + "f" * 32, kind="alert")]
        )
        assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'update'") == 1
        await worker._process(await worker._claim("sms", 10))
    finally:
        await pool.close()
    assert [b for _to, b in provider.sent] == [update_text(alert["reference"], "Nu bij de haven.")]


@pytest.mark.parametrize(
    ("channel", "start", "reason", "start_text_seq", "decision"),
    [
        ("sms", "delivered", None, 0, "send"),
        ("sms", "sent", None, 0, "send"),
        ("voice", "delivered", None, 0, "send"),
        ("voice", "sent", None, 0, "wait"),  # the start call is still ringing or talking
        ("sms", "sending", None, 0, "wait"),
        ("sms", "queued", None, 0, "wait"),  # being reconciled, or a retry is due
        ("sms", "delivered", None, 1, "superseded"),  # a resend carried this follow-up already
        ("sms", "skipped", "related_alert", 0, "send"),  # reached by the alert it follows
        ("sms", "skipped", "budget", 0, "not_reached"),
        ("sms", "undelivered", None, 0, "not_reached"),
        ("voice", None, None, None, "send"),  # a fallback call for an undeliverable follow-up SMS
    ],
)
def test_a_follow_up_goes_once_its_start_message_has(channel, start, reason, start_text_seq, decision):
    d = {
        "id": 1,
        "attempts": 0,
        "seq": 1,
        "channel": channel,
        "start_state": start,
        "start_reason": reason,
        "start_text_seq": start_text_seq,
    }
    held = DispatchWorker._update_gate(d)  # type: ignore[arg-type]
    got = "send" if held is None else ("wait" if held.state == "queued" else held.reason)
    assert got == decision
