"""Dispatch under faults: 429 storms, timeouts with unknown outcome, duplicated and
reordered callbacks, expiry, channel fallback, killed and terminated workers. The
simulator's own record is the judge: nobody gets the same alert twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.helpers.alerting import (
    address,
    alert_body,
    create,
    create_and_send,
    enrol,
    numbers,
    quiet_window_now,
    settled,
    wait_until,
)
from tests.helpers.dispatch import assert_each_once, enrol_many, phone


@pytest.fixture
def service_roles():
    return {"web", "worker"}


async def test_429_storm_everyone_once(client, sandbox, db, op):
    expected = await enrol_many(db, 90)
    await sandbox.scenario(sms_per_second=30)  # the provider allows far less than we are configured for
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    done = await settled(client, op, alert["id"], timeout=60)
    assert done["counts"]["sent"] + done["counts"]["delivered"] == 90
    stats = await (await sandbox.client.get("/sandbox/stats")).json()
    assert stats["requests"].get("rate_limited", 0) > 0  # the storm happened: the provider answered 429
    assert_each_once(await sandbox.outbound(), expected)


@pytest.mark.parametrize("settings_overrides", [{"twilio": {"timeout_seconds": 0.3}}], indirect=True)
async def test_timeouts_are_reconciled_not_resent(client, sandbox, db, op):
    expected = await enrol_many(db, 40)
    # 40 % of creates hang past our timeout; half of those after the message was created
    # no status callbacks: only reconciliation against the provider's list can tell
    await sandbox.scenario(timeout_rate=0.4, hang_seconds=1.5, seed=7, callbacks=False)
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    done = await settled(client, op, alert["id"], timeout=60)
    assert done["counts"]["failed"] == 0
    assert_each_once(await sandbox.outbound(), expected)
    reconciled = await db.fetchval("SELECT count(*) FROM deliveries WHERE reason = 'reconciled'")
    assert reconciled > 0  # some were found at the provider instead of being sent again


@pytest.mark.parametrize("settings_overrides", [{"twilio": {"timeout_seconds": 0.3}}], indirect=True)
async def test_a_callback_for_an_unknown_outcome_settles_it(client, sandbox, db, op):
    """A send that timed out waits for reconciliation; the provider's status callback
    for that very attempt can arrive first. It settles the delivery (delivered), instead
    of being dropped as stale and leaving reconciliation to record a 'sent' that never
    becomes final."""
    expected = await enrol_many(db, 30)
    await sandbox.scenario(timeout_rate=0.5, hang_seconds=0.6, seed=11, callback_delay=0.05)
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    done = await settled(client, op, alert["id"], timeout=60, states=("queued", "sending", "sent"))
    assert done["counts"]["delivered"] == 30
    assert_each_once(await sandbox.outbound(), expected)
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE reconcile") == 0


async def test_duplicate_and_reordered_callbacks_never_move_back(client, sandbox, db, op):
    expected = await enrol_many(db, 40)
    await sandbox.scenario(duplicate_rate=0.5, reorder_rate=0.5, callback_delay=0.02, seed=3)
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    done = await settled(client, op, alert["id"], timeout=30, states=("queued", "sending", "sent"))
    assert done["counts"]["delivered"] == 40
    await asyncio.sleep(0.5)  # late duplicates and stragglers arrive
    states = Counter(r[0] for r in await db.fetch("SELECT state FROM deliveries"))
    assert states == {"delivered": 40}
    assert_each_once(await sandbox.outbound(), expected)


async def test_expiry_drops_what_has_not_gone_out(client, sandbox, db, op):
    ids = [r[0] for r in await db.fetch("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' LIMIT 4")]
    await enrol(db, phone(1), ids[0])
    for i, aid in enumerate(ids[1:], start=2):  # deferred by quiet hours that end in 30 minutes
        await enrol(db, phone(i), aid, quiet=quiet_window_now(0.5))
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))

    async def first_out():
        return len(await sandbox.outbound()) == 1

    await wait_until(first_out, timeout=15)
    # the alert runs out before the quiet hours end
    await db.execute(
        "UPDATE deliveries SET expires_at = now() + interval '1 second' WHERE alert_id = $1", alert["id"]
    )
    await db.execute("UPDATE alerts SET expires_at = now() + interval '1 second' WHERE id = $1", alert["id"])

    async def expired():
        body = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
        return body if body["status"] == "expired" and body["counts"]["queued"] == 0 else None

    body = await wait_until(expired, timeout=15)
    assert body["counts"]["expired"] == 3
    assert numbers(await sandbox.outbound()) == [phone(1)]
    reasons = {r[0] for r in await db.fetch("SELECT reason FROM deliveries WHERE state = 'expired'")}
    assert reasons == {"alert_expired"}


async def test_unreachable_sms_falls_back_to_a_call(client, sandbox, db, op):
    home = await address(db, "9991AA", 75)
    work = await address(
        db, "9994CW", await db.fetchval("SELECT min(house_number) FROM addresses WHERE postcode = '9994CW'")
    )
    rid = await enrol(db, phone(1), home["id"])
    await db.execute(
        "INSERT INTO resident_addresses (resident_id, address_id, label, channels) "
        "VALUES ($1, $2, 'werk', ARRAY['voice'])",
        rid,
        work["id"],
    )
    await enrol(
        db,
        phone(2),
        (
            await db.fetchval(
                "SELECT id FROM addresses WHERE buurt_code = 'BU99990101' AND id <> $1 LIMIT 1", home["id"]
            )
        ),
    )
    # phone 1 turns out to be a landline (30006): call it; phone 2 is unreachable (30003) and allows no voice
    await sandbox.scenario(landline_numbers=[phone(1)], unreachable_numbers=[phone(2)])
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))

    async def called():
        calls = await sandbox.calls()
        return calls if calls and all(c["done"] for c in calls) else None

    calls = await wait_until(called, timeout=15)
    assert [c["to"] for c in calls] == [phone(1)]  # phone 2 does not allow voice
    said = " ".join(str(s) for s in calls[0]["transcript"])
    assert "Burgerwacht" in said and "blauwe jas" in said
    done = await settled(client, op, alert["id"], timeout=15, states=("sending", "sent"))
    rows = {
        (r["channel"], r["state"])
        for r in await db.fetch("SELECT channel, state FROM deliveries WHERE resident_id = $1", rid)
    }
    assert rows == {("sms", "undelivered"), ("voice", "delivered")}
    # progress per channel, as the console's bars show it
    by_channel = done["counts_by_channel"]
    assert by_channel["voice"]["delivered"] == 1 and by_channel["sms"]["undelivered"] == 1
    assert sum(c["queued"] for c in by_channel.values()) == done["counts"]["queued"] == 1
    # phone 2 cannot be called: its SMS gets one delayed retry instead
    retry = await db.fetchrow(
        "SELECT state, attempts, not_before > now() + interval '30 seconds' AS later FROM deliveries d "
        "JOIN residents r ON r.id = d.resident_id WHERE r.phone = $1",
        phone(2),
    )
    assert dict(retry) == {"state": "queued", "attempts": 1, "later": True}


@pytest.mark.parametrize("settings_overrides", [{"twilio": {"sms_per_second": 40.0}}], indirect=True)
async def test_preview_estimate_matches_the_real_run(client, sandbox, db, op):
    await enrol_many(db, 100)
    alert = await create(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    preview = await (await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)).json()
    assert preview["estimated_seconds"] == pytest.approx(2.5)
    started = time.monotonic()
    await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)

    async def all_sent():
        return len(await sandbox.outbound()) == 100

    await wait_until(all_sent, timeout=30, interval=0.02)
    real = time.monotonic() - started
    print(f"estimate {preview['estimated_seconds']} s, real run {real:.2f} s")
    assert 0.7 * preview["estimated_seconds"] <= real <= 1.4 * preview["estimated_seconds"] + 0.5


async def test_voice_alert_call_menu_and_answering_machine(client, sandbox, db, op):
    a = await address(db, "9991AA", 75)
    near = [
        r[0]
        for r in await db.fetch(
            "SELECT id FROM addresses WHERE buurt_code = 'BU99990101' AND id <> $1 LIMIT 2", a["id"]
        )
    ]
    await enrol(db, phone(1), a["id"], channels=("voice",))
    await enrol(db, phone(2), near[0], channels=("voice",))
    await sandbox.scenario(call_digits={phone(1): "1"}, machine_numbers=[phone(2)])
    alert = await create_and_send(
        client,
        op,
        alert_body(
            {"type": "areas", "codes": ["BU99990101"]},
            channels=["voice"],
            voice_message="Let op een man met een blauwe jas.",
        ),
    )

    async def calls_done():
        calls = await sandbox.calls()
        return calls if len(calls) == 2 and all(c["done"] for c in calls) else None

    calls = {c["to"]: c for c in await wait_until(calls_done, timeout=15)}
    human = " | ".join(str(s) for s in calls[phone(1)]["transcript"])
    assert human.count("blauwe jas") == 2  # pressed 1: heard it again
    assert "Druk 1" in human
    machine = " | ".join(str(s) for s in calls[phone(2)]["transcript"])
    assert machine.count("blauwe jas") == 1 and "Druk 1" not in machine
    done = await settled(client, op, alert["id"], timeout=15, states=("queued", "sending", "sent"))
    assert done["counts"]["delivered"] == 2


async def test_lost_final_callbacks_are_looked_up_at_the_provider(client, sandbox, db, op):
    """The provider does not retry a status callback the service could not take (e.g.
    while PostgreSQL restarted): the job alerts-status-check asks the provider about SMS
    still 'sent' after alerts.status_check_after_minutes and applies what it says,
    fallback to a call included."""
    from burgerwacht.alerts.jobs import check_stale_sends

    ids = [r[0] for r in await db.fetch("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' LIMIT 3")]
    await enrol(db, phone(1), ids[0])
    await enrol(db, phone(2), ids[1])
    await enrol(db, phone(3), ids[2], channels=("sms", "voice"))
    await sandbox.scenario(callbacks=False, unreachable_numbers=[phone(3)])
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    done = await settled(client, op, alert["id"])
    assert done["counts"]["sent"] == 3  # no callback ever came

    app = client.server.app
    assert (await check_stale_sends(app))["checked"] == 0  # too recent to ask about
    await db.execute("UPDATE deliveries SET updated_at = now() - interval '11 minutes'")
    result = await check_stale_sends(app)
    assert result == {"checked": 3, "applied": 3, "unchanged": 0, "failed": 0}
    rows = dict(
        await db.fetch(
            "SELECT r.phone, d.state FROM deliveries d JOIN residents r ON r.id = d.resident_id "
            "WHERE d.channel = 'sms'"
        )
    )
    assert rows == {phone(1): "delivered", phone(2): "delivered", phone(3): "undelivered"}
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE channel = 'voice'") == 1  # the fallback
    assert (await check_stale_sends(app))["checked"] == 0  # nothing left to ask about


async def test_lost_call_callbacks_are_looked_up_at_the_provider(client, sandbox, db, op):
    """The same for calls: a call whose status callbacks never came is looked up and
    ends delivered (answered) or undelivered (nobody answered), so the alert's progress
    completes."""
    from burgerwacht.alerts.jobs import check_stale_sends

    ids = [r[0] for r in await db.fetch("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' LIMIT 2")]
    await enrol(db, phone(1), ids[0], channels=("voice",))
    await enrol(db, phone(2), ids[1], channels=("voice",))
    await sandbox.scenario(callbacks=False, no_answer_numbers=[phone(2)])
    alert = await create_and_send(
        client,
        op,
        alert_body({"type": "areas", "codes": ["BU99990101"]}, channels=["voice"], voice_message="Let op."),
    )

    async def calls_done():
        calls = await sandbox.calls()
        return calls if len(calls) == 2 and all(c["done"] for c in calls) else None

    await wait_until(calls_done, timeout=15)
    done = await settled(client, op, alert["id"])
    assert done["counts"]["sent"] == 2  # no call status callback ever came
    # so both still count against twilio.max_concurrent_calls (until their places lapse)
    assert await db.fetchval("SELECT count(*) FROM call_slots") == 2
    await db.execute("UPDATE deliveries SET updated_at = now() - interval '11 minutes'")
    result = await check_stale_sends(client.server.app)
    assert result == {"checked": 2, "applied": 2, "unchanged": 0, "failed": 0}
    assert await db.fetchval("SELECT count(*) FROM call_slots") == 0  # the lookup freed them
    rows = dict(
        await db.fetch("SELECT r.phone, d.state FROM deliveries d JOIN residents r ON r.id = d.resident_id")
    )
    assert rows == {phone(1): "delivered", phone(2): "undelivered"}
    assert (await check_stale_sends(client.server.app))["checked"] == 0


async def test_a_failing_status_lookup_waits_behind_the_others(client, sandbox, db, op):
    """A lookup the provider refuses (here: a sid it does not know) is asked again a
    period later, like an unchanged one, so a few such deliveries never fill every run."""
    from burgerwacht.alerts.jobs import check_stale_sends

    ids = [r[0] for r in await db.fetch("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' LIMIT 2")]
    await enrol(db, phone(1), ids[0])
    await enrol(db, phone(2), ids[1])
    await sandbox.scenario(callbacks=False)
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    assert (await settled(client, op, alert["id"]))["counts"]["sent"] == 2
    await db.execute("UPDATE deliveries SET updated_at = now() - interval '11 minutes'")
    await db.execute(
        "UPDATE deliveries SET provider_sid = 'SM' || repeat('0', 32) WHERE resident_id = "
        "(SELECT id FROM residents WHERE phone = $1)",
        phone(2),
    )
    result = await check_stale_sends(client.server.app)
    assert result == {"checked": 2, "applied": 1, "unchanged": 0, "failed": 1}
    assert (await check_stale_sends(client.server.app))["checked"] == 0  # not asked again at once


async def test_reconciling_finds_a_message_whose_callback_already_recorded_it(client, sandbox, db, op):
    """A delivery waiting for reconciliation may already carry its message's id: a
    status callback of that very attempt recorded it. Reconciliation must count that
    message as found (its own), not as another delivery's, and never send again."""
    ids = [r[0] for r in await db.fetch("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' LIMIT 2")]
    await enrol(db, phone(1), ids[0])
    await enrol(db, phone(2), ids[1])
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    await settled(client, op, alert["id"], states=("queued", "sending", "sent"))
    assert len(await sandbox.outbound()) == 2

    async def recorded():  # the worker records outcomes as they complete, in small groups
        return await db.fetchval("SELECT count(*) = 0 FROM deliveries WHERE claimed_by IS NOT NULL")

    await wait_until(recorded, timeout=10)
    # as if the send had timed out and the callback had recorded the sid meanwhile
    await db.execute(
        "UPDATE deliveries SET state = 'queued', reconcile = true, not_before = now() "
        "WHERE resident_id = (SELECT id FROM residents WHERE phone = $1)",
        phone(1),
    )

    async def reconciled():
        return await db.fetchval("SELECT reason FROM deliveries WHERE state = 'sent' AND reconcile = false")

    assert await wait_until(reconciled, timeout=15) == "reconciled"
    await asyncio.sleep(0.5)
    assert numbers(await sandbox.outbound()) == sorted([phone(1), phone(2)])  # nothing sent twice
