"""Alerts end to end: targeting, preview, dispatch through the simulator over HTTP,
callbacks, quiet hours, budget, scope, closing, cancel, events."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from burgerwacht.alerts import store
from tests.helpers.alerting import (
    address,
    addresses_near,
    addresses_outside,
    alert_body,
    circle,
    create,
    create_and_send,
    enrol,
    numbers,
    settled,
    wait_until,
)


@pytest.fixture
def service_roles():
    return {"web", "worker"}


async def _status_after_sending(client, headers, alert_id: int) -> dict | None:
    body = await (await client.get(f"/api/v1/alerts/{alert_id}", headers=headers)).json()
    return None if body["status"] == "sending" else body


def phone(i: int) -> str:
    return f"+316100{i:05d}"


async def test_circle_reaches_exactly_the_residents_inside(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    inside = (await addresses_near(db, centre["x"], centre["y"], 150))[:4]
    outside = await addresses_outside(db, centre["x"], centre["y"], 150, 3)
    assert len(inside) == 4 and len(outside) == 3
    for i, aid in enumerate(inside + outside):
        await enrol(db, phone(i), aid)
    await enrol(db, phone(50), inside[0], status="stopped")  # STOP earlier: never a recipient

    alert = await create(client, op, alert_body(circle(centre, 150)))
    assert alert["status"] == "draft" and len(alert["reference"]) == 3
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)
    preview = await resp.json()
    assert preview["recipients"] == {"total": 4, "sms": 4, "voice": 0}
    assert preview["sms"]["encoding"] == "GSM-7" and preview["sms"]["segments"] == 1
    assert preview["sms"]["text"].startswith(f"Burgerwacht {alert['reference']}: ")

    resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    assert resp.status == 202
    done = await settled(client, op, alert["id"], states=("queued", "sending", "sent"))
    assert done["counts"]["delivered"] == 4
    # the simulator's callbacks can deliver every message before the worker has recorded
    # its batch, which is when the alert leaves 'sending'
    done = await wait_until(lambda: _status_after_sending(client, op, alert["id"]), 10)
    assert done["status"] == "active"
    sent = await sandbox.outbound()
    assert numbers(sent) == sorted(phone(i) for i in range(4))
    assert all(m["body"] == preview["sms"]["text"] for m in sent)
    assert all(0 < m["validity_period"] <= 3600 for m in sent)


async def test_polygon_and_area_codes(client, sandbox, db, op, staff):
    eiland = await address(db, "9993BL", 12)
    kade = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990303' LIMIT 1")
    havenkom = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990301' LIMIT 1")
    noord = await db.fetchval("SELECT id FROM addresses WHERE wijk_code = 'WK999902' LIMIT 1")
    await enrol(db, phone(1), eiland["id"])
    await enrol(db, phone(2), kade)
    await enrol(db, phone(3), havenkom)
    await enrol(db, phone(4), noord)
    # buurt code: only the enclave
    a1 = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990302"]}))
    await settled(client, op, a1["id"])
    assert numbers(await sandbox.outbound()) == [phone(1)]
    # wijk + buurt codes
    await sandbox.client.post("/sandbox/reset")
    a2 = await create_and_send(
        client,
        op,
        alert_body(
            {"type": "areas", "codes": ["WK999902", "BU99990303"]},
            level="amber_regional",
            family_consent=True,
        ),
        approver=await staff("operator", "GM9999", name="colleague"),
    )
    await settled(client, op, a2["id"])
    assert numbers(await sandbox.outbound()) == [phone(2), phone(4)]
    # polygon: a 60 m square around the Eiland address
    await sandbox.client.post("/sandbox/reset")
    d = 0.0005
    ring = [
        [eiland["lon"] - d, eiland["lat"] - d],
        [eiland["lon"] + d, eiland["lat"] - d],
        [eiland["lon"] + d, eiland["lat"] + d],
        [eiland["lon"] - d, eiland["lat"] + d],
        [eiland["lon"] - d, eiland["lat"] - d],
    ]
    a3 = await create_and_send(
        client,
        op,
        alert_body({"type": "polygon", "coordinates": [ring]}, level="missing_child", family_consent=True),
    )
    await settled(client, op, a3["id"])
    assert numbers(await sandbox.outbound()) == [phone(1)]


async def test_a_resident_with_several_addresses_gets_one_message(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 200)
    await enrol(db, phone(1), near[0], near[1], near[2])
    alert = await create_and_send(client, op, alert_body(circle(centre, 200)))
    done = await settled(client, op, alert["id"])
    assert sum(done["counts"].values()) == 1
    assert numbers(await sandbox.outbound()) == [phone(1)]


def _quiet_window_now(hours_after: float):
    now = datetime.now(ZoneInfo("Europe/Amsterdam"))
    start = (now - timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=hours_after)).time().replace(second=0, microsecond=0)
    return start, end


async def test_quiet_hours_defer_or_skip_regular_alerts_and_levels_override(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 200)
    await enrol(db, phone(1), near[0], quiet=_quiet_window_now(0.5))  # ends within the alert's life
    await enrol(db, phone(2), near[1], quiet=_quiet_window_now(3))  # ends after expiry (60 min)
    await enrol(db, phone(3), near[2])
    alert = await create(client, op, alert_body(circle(centre, 200)))
    preview = await (await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)).json()
    assert preview["quiet_hours"] == {"deferred": 1, "skipped": 1}
    assert preview["recipients"]["total"] == 2  # phone 1 later, phone 3 now
    await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)

    async def one_out():
        return len(await sandbox.outbound()) >= 1

    await wait_until(one_out, timeout=15)
    await asyncio.sleep(0.3)  # nothing else may follow
    assert numbers(await sandbox.outbound()) == [phone(3)]
    rows = {
        r["phone"]: r
        for r in await db.fetch(
            "SELECT r.phone, d.state, d.reason, d.not_before > now() + interval '20 minutes' AS later "
            "FROM deliveries d JOIN residents r ON r.id = d.resident_id WHERE d.alert_id = $1",
            alert["id"],
        )
    }
    assert rows[phone(1)]["state"] == "queued" and rows[phone(1)]["later"]
    assert rows[phone(2)]["state"] == "skipped" and rows[phone(2)]["reason"] == "quiet_hours"
    # a missing child overrides quiet hours
    await sandbox.client.post("/sandbox/reset")
    urgent = await create_and_send(
        client, op, alert_body(circle(centre, 200), level="missing_child", family_consent=True)
    )
    await settled(client, op, urgent["id"])
    assert numbers(await sandbox.outbound()) == [phone(1), phone(2), phone(3)]


@pytest.fixture
def settings_overrides():
    return {"alerts": {"regular_per_resident_per_day": 2}}


async def test_fatigue_budget_for_regular_alerts_amber_exempt(client, sandbox, db, op, staff):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 200)
    await enrol(db, phone(1), near[0])
    for _ in range(2):
        a = await create_and_send(client, op, alert_body(circle(centre, 200)))
        await settled(client, op, a["id"])
    third = await create(client, op, alert_body(circle(centre, 200)))
    preview = await (await client.post(f"/api/v1/alerts/{third['id']}/preview", headers=op)).json()
    assert preview["over_budget"] == 1 and preview["recipients"]["total"] == 0
    await client.post(f"/api/v1/alerts/{third['id']}/send", headers=op)
    done = await settled(client, op, third["id"])
    assert done["counts"]["skipped"] == 1
    amber = await create_and_send(
        client,
        op,
        alert_body(circle(centre, 200), level="amber_national", family_consent=True),
        approver=await staff("admin", "GM9999"),
    )
    done = await settled(client, op, amber["id"])
    assert done["counts"]["skipped"] == 0
    assert len(await sandbox.outbound(phone(1))) == 3


async def test_scope(client, sandbox, db, staff, op):
    other = await staff("operator", "GM0363")
    resp = await client.post(
        "/api/v1/alerts", json=alert_body({"type": "areas", "codes": ["BU99990101"]}), headers=other
    )
    assert resp.status == 403
    centre = await address(db, "9991AA", 75)
    resp = await client.post("/api/v1/alerts", json=alert_body(circle(centre, 500)), headers=other)
    assert resp.status == 403
    mine = await create(client, op, alert_body(circle(centre, 500)))
    for path in ("", "/preview", "/send"):
        method = client.get if path == "" else client.post
        resp = await method(f"/api/v1/alerts/{mine['id']}{path}", headers=other)
        assert resp.status == 404
    listed = await (await client.get("/api/v1/alerts", headers=other)).json()
    assert listed["items"] == []
    analyst = await staff("analyst", "GM9999")
    resp = await client.get("/api/v1/alerts", headers=analyst)
    assert resp.status == 403


@pytest.mark.parametrize(
    ("patch", "status", "needle"),
    [
        (
            {"target": {"type": "circle", "center": {"lat": 52.05, "lon": 5.8}, "radius_m": 50_000}},
            422,
            "maximum",
        ),
        (
            {"target": {"type": "circle", "center": {"lat": 48.85, "lon": 2.35}, "radius_m": 500}},
            422,
            "outside",
        ),
        (
            {
                "target": {
                    "type": "polygon",
                    "coordinates": [
                        [[5.79, 52.04], [5.80, 52.05], [5.80, 52.04], [5.79, 52.05], [5.79, 52.04]]
                    ],
                }
            },
            422,
            "ntersect",
        ),
        (
            {"target": {"type": "polygon", "coordinates": [[[5.79, 52.04], [5.80, 52.05], [5.80, 52.04]]]}},
            422,
            "",
        ),
        ({"target": {"type": "areas", "codes": ["BU12345678"]}}, 422, "BU12345678"),
        ({"target": {"type": "areas", "codes": ["Centrum"]}}, 422, "codes"),
        ({"level": "missing_child"}, 422, "consent"),
        ({"level": "amber_national", "family_consent": False}, 422, "consent"),
        ({"expires_in_minutes": 100_000}, 422, "expires_in_minutes"),
        ({"channels": []}, 422, "channels"),
        ({"channels": ["fax"]}, 422, "channels"),
        ({"message": ""}, 422, "message"),
        ({"title": "Vermist\x07"}, 422, "control characters"),
        ({"message": "Let op\x1b[2J"}, 422, "control characters"),
    ],
)
async def test_bad_alerts_are_4xx_and_write_nothing(client, db, op, patch, status, needle):
    body = {**alert_body({"type": "areas", "codes": ["BU99990101"]}), **patch}
    resp = await client.post("/api/v1/alerts", json=body, headers=op)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    assert needle in await resp.text()
    assert await db.fetchval("SELECT count(*) FROM alerts") == 0


async def test_sending_twice_is_409_and_sends_once(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    await enrol(db, phone(1), (await addresses_near(db, centre["x"], centre["y"], 100))[0])
    alert = await create(client, op, alert_body(circle(centre, 100)))
    results = await asyncio.gather(
        *(client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op) for _ in range(5))
    )
    assert sorted(r.status for r in results) == [202, 409, 409, 409, 409]
    await settled(client, op, alert["id"])
    assert len(await sandbox.outbound()) == 1


async def test_close_reaches_exactly_those_reached_and_audit(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 200)
    for i in range(3):
        await enrol(db, phone(i), near[i])
    await enrol(db, "+31612000999", near[3])  # the provider says: invalid number
    await sandbox.scenario(invalid_numbers=["+31612000999"])
    alert = await create_and_send(client, op, alert_body(circle(centre, 200)))
    done = await settled(client, op, alert["id"])
    assert done["counts"]["failed"] == 1
    resp = await client.post(
        f"/api/v1/alerts/{alert['id']}/close", json={"message": "De man is aangehouden. Dank!"}, headers=op
    )
    assert resp.status == 202
    assert (await resp.json())["closing_deliveries"] == 3
    done = await settled(client, op, alert["id"])
    assert done["status"] == "closed" and done["closing_message"].startswith("De man")
    closing = [m for m in await sandbox.outbound() if "afgelopen" in m["body"]]
    assert numbers(closing) == [phone(0), phone(1), phone(2)]
    assert all(
        m["body"] == f"Burgerwacht {alert['reference']} afgelopen: De man is aangehouden. Dank!"
        for m in closing
    )
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/close", json={"message": "nog eens"}, headers=op)
    assert resp.status == 409
    actions = [
        r[0] for r in await db.fetch("SELECT action FROM audit_log WHERE object_type = 'alert' ORDER BY id")
    ]
    assert actions == ["alert.create", "alert.send", "alert.close"]
    details = await db.fetchval("SELECT details FROM audit_log WHERE action = 'alert.send'")
    assert details["deliveries"] == 4 and details["target"]["type"] == "circle"


async def test_cancel_stops_what_has_not_gone_out(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 300)
    for i in range(2):
        await enrol(db, phone(i), near[i])
    for i in range(2, 4):  # deferred by quiet hours: still queued when the operator cancels
        await enrol(db, phone(i), near[i], quiet=_quiet_window_now(0.5))
    alert = await create_and_send(client, op, alert_body(circle(centre, 300)))

    async def two_out():
        return await db.fetchval("SELECT count(*) FROM deliveries WHERE state IN ('sent', 'delivered')") == 2

    await wait_until(two_out, timeout=15)
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/cancel", headers=op)
    assert resp.status == 200
    assert (await resp.json())["cancelled"] == 2
    done = await settled(client, op, alert["id"])
    assert done["status"] == "cancelled" and done["counts"]["cancelled"] == 2
    assert numbers(await sandbox.outbound()) == [phone(0), phone(1)]
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'alert.cancel'") == 1
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/cancel", headers=op)
    assert resp.status == 409


async def test_event_stream_shows_progress(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 300)
    for i in range(5):
        await enrol(db, phone(i), near[i])
    alert = await create(client, op, alert_body(circle(centre, 300)))
    resp = await client.get(
        f"/api/v1/alerts/{alert['id']}/events", headers={**op, "Accept": "text/event-stream"}
    )
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    first = await resp.content.readuntil(b"\n\n")
    assert first.startswith(b"event: progress") and b'"draft"' in first
    await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    seen = []
    async with asyncio.timeout(15):
        while True:
            chunk = (await resp.content.readuntil(b"\n\n")).decode()
            _event, data = chunk.split("\n", 1)
            doc = json.loads(data.removeprefix("data: "))
            seen.append(doc)
            if doc["counts"]["delivered"] == 5:
                break
    assert len(seen) <= 20  # coalesced, not one per delivery and callback
    resp.close()


async def test_stop_after_queueing_is_honoured(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 200)
    await enrol(db, phone(1), near[0], quiet=_quiet_window_now(0.5))  # deferred to the end of the night
    await enrol(db, phone(2), near[1])
    alert = await create_and_send(client, op, alert_body(circle(centre, 200)))

    async def one_out():
        return len(await sandbox.outbound()) >= 1

    await wait_until(one_out, timeout=15)
    await sandbox.sms(phone(1), "STOP")
    # the quiet hours end: the deferred delivery becomes due
    await db.execute("UPDATE deliveries SET not_before = now() WHERE state = 'queued'")
    done = await settled(client, op, alert["id"])
    assert done["counts"]["cancelled"] == 1
    assert numbers(await sandbox.outbound()) == [phone(2)]
    assert (
        await db.fetchval("SELECT reason FROM deliveries WHERE state = 'cancelled'")
        == "resident_stopped_or_erased"
    )


async def test_a_late_callback_of_an_earlier_attempt_does_not_cancel_a_retry(client, sandbox, db, op):
    from burgerwacht.alerts import callbacks

    centre = await address(db, "9991AA", 75)
    await enrol(db, phone(1), (await addresses_near(db, centre["x"], centre["y"], 100))[0])
    await sandbox.scenario(unreachable_numbers=[phone(1)])  # 30003: one delayed retry
    await create_and_send(client, op, alert_body(circle(centre, 100)))

    async def waiting_for_retry():
        return await db.fetchrow(
            "SELECT id, state, attempts FROM deliveries WHERE state = 'queued' AND attempts = 1 AND error_code = 30003"
        )

    row = await wait_until(waiting_for_retry, timeout=15)  # undelivered (30003), one retry scheduled
    # attempt 1's 'sent' callback arrives late, out of order
    moved = await callbacks.apply_callback(db, row["id"], 1, "sent", "SM" + "f" * 32, None, "sms")
    assert not moved
    assert await db.fetchval("SELECT state FROM deliveries") == "queued"


async def test_erasure_and_retention_keep_the_alert_record_whole(client, sandbox, db, staff, op):
    """Deliveries have no per-row foreign keys (sql/0008); their ON DELETE rules run as
    statement triggers: an erased resident's deliveries stay counted without them, and
    retention can delete a delivery that a fallback call points at."""
    from burgerwacht.residents import store as residents_store

    centre = await address(db, "9991AA", 75)
    inside = (await addresses_near(db, centre["x"], centre["y"], 150))[:2]
    gone = await enrol(db, phone(1), inside[0])
    await enrol(db, phone(2), inside[1], channels=("sms", "voice"))
    alert = await create_and_send(client, op, alert_body(circle(centre, 150)))
    before = await settled(client, op, alert["id"], states=("queued", "sending", "sent"))
    assert before["counts"]["delivered"] == 2
    first = await db.fetchval("SELECT id FROM deliveries WHERE resident_id <> $1", gone)
    await db.execute(
        "INSERT INTO deliveries (alert_id, resident_id, channel, level, state, expires_at, fallback_of, alert_month) "
        "SELECT alert_id, resident_id, 'voice', level, 'delivered', expires_at, id, alert_month "
        "FROM deliveries WHERE id = $1",
        first,
    )

    admin = await staff("admin", "GM9999")
    assert (await client.delete(f"/api/v1/residents/{gone}", headers=admin)).status == 200
    after = (await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json())["counts"]
    assert after["delivered"] == 3  # the erased resident's message still counts
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE resident_id = $1", gone) == 0

    await db.execute("UPDATE deliveries SET created_at = now() - interval '400 days' WHERE id = $1", first)
    purged = await residents_store.purge(db, deliveries_days=365)
    assert purged["deliveries"] == 1
    assert await db.fetchval("SELECT fallback_of FROM deliveries WHERE channel = 'voice'") is None


async def test_second_enrolment_added_concurrently_still_one_message(client, sandbox, db, db_url, op):
    """Residents with one enrolment skip the per-resident grouping (ra.sole, sql/0008).
    Two enrolments for one resident added by two transactions at once must both lose
    the flag, or an alert over both addresses would message the resident twice."""
    import asyncpg

    centre = await address(db, "9991AA", 75)
    home, work = (await addresses_near(db, centre["x"], centre["y"], 150))[:2]
    rid = await enrol(db, phone(1))
    first, second = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        t1, t2 = first.transaction(), second.transaction()
        await t1.start()
        await t2.start()
        insert = "INSERT INTO resident_addresses (resident_id, address_id, channels) VALUES ($1, $2, '{sms}')"
        await first.execute(insert, rid, home)
        blocked = asyncio.create_task(second.execute(insert, rid, work))  # waits for the first
        await asyncio.sleep(0.3)
        assert not blocked.done()
        await t1.commit()
        await blocked
        await t2.commit()
    finally:
        await first.close()
        await second.close()
    assert await db.fetch("SELECT sole FROM resident_addresses WHERE resident_id = $1", rid) == [
        (False,),
        (False,),
    ]
    alert = await create_and_send(client, op, alert_body(circle(centre, 150)))
    await settled(client, op, alert["id"], states=("queued", "sending", "sent"))
    assert numbers(await sandbox.outbound()) == [phone(1)]
    await db.execute("DELETE FROM resident_addresses WHERE resident_id = $1 AND address_id = $2", rid, work)
    assert await db.fetchval("SELECT sole FROM resident_addresses WHERE resident_id = $1", rid) is True


async def test_enrolment_added_while_the_resident_stops_is_not_targeted(client, db, db_url):
    """An enrolment copies its resident's status when inserted; a STOP committed between
    that copy and the insert's commit is caught under the resident's lock."""
    import asyncpg

    from burgerwacht.alerts import store as alerts_store
    from burgerwacht.alerts.targets import CODES, Resolved

    centre = await address(db, "9991AA", 75)
    home = (await addresses_near(db, centre["x"], centre["y"], 150))[0]
    rid = await enrol(db, phone(1))
    stopper, enroller = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        t1 = stopper.transaction()
        await t1.start()
        await stopper.execute("UPDATE residents SET status = 'stopped' WHERE id = $1", rid)
        insert = enroller.execute(
            "INSERT INTO resident_addresses (resident_id, address_id, channels) VALUES ($1, $2, '{sms}')",
            rid,
            home,
        )
        pending = asyncio.create_task(insert)  # copies 'active', then waits for the STOP's lock
        await asyncio.sleep(0.3)
        await t1.commit()
        await pending
    finally:
        await stopper.close()
        await enroller.close()
    assert await db.fetchval("SELECT active FROM resident_addresses WHERE resident_id = $1", rid) is False
    query = alerts_store.RecipientQuery(
        alert_id=0,
        target=Resolved(CODES, ["BU99990101"]),
        channels=["sms"],
        scope=None,
        level="missing_child",
        expires_at=datetime.now(ZoneInfo("UTC")) + timedelta(hours=1),
        regular_per_day=3,
    )
    _groups, reached = await alerts_store.recipient_counts(db, query)
    assert reached == 0


async def test_streams_of_one_alert_share_its_progress_readings(client, db, op, monkeypatch):
    """Every operator watching an alert gets the same progress, read once for all of them
    (counting a national alert's deliveries takes ~0.2 s), and no reading follows a costly
    one sooner than ten times what it took; what changed still reaches every stream."""
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 300)
    for i in range(3):
        await enrol(db, phone(i), near[i])
    alert = await create(client, op, alert_body(circle(centre, 300)))
    readings: list[float] = []
    counts = store.counts

    async def slow_counts(conn, alert_ids):
        readings.append(time.monotonic())
        await asyncio.sleep(0.1)  # as a large alert's count does
        return await counts(conn, alert_ids)

    monkeypatch.setattr(store, "counts", slow_counts)
    streams = [
        await client.get(
            f"/api/v1/alerts/{alert['id']}/events", headers={**op, "Accept": "text/event-stream"}
        )
        for _ in range(3)
    ]

    async def next_progress(stream) -> dict:
        while True:
            event, data = (await stream.content.readuntil(b"\n\n")).decode().split("\n", 1)
            if event == "event: progress":
                return json.loads(data.removeprefix("data: "))

    async with asyncio.timeout(15):
        assert [(await next_progress(s))["status"] for s in streams] == ["draft"] * 3
        assert len(readings) == 1  # one reading for the three streams
        await client.post(f"/api/v1/alerts/{alert['id']}/cancel", headers=op)
        assert [(await next_progress(s))["status"] for s in streams] == ["cancelled"] * 3
    assert len(readings) == 2
    assert readings[1] - readings[0] >= 10 * 0.1 - 0.05  # spaced by ten times the cost
    for s in streams:
        s.close()
