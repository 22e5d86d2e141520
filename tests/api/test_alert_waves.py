"""Widening in waves, by hand and on a schedule, and alerts that follow an earlier one,
against the simulator over HTTP: a wave reaches only who has not had the alert, never
outside the operator's municipalities; auto-widening reaches exactly its rings and ends
at its maximum, on stop, on close and at expiry; ``follows`` leaves out whoever the
earlier alert reached but sends them what is new."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers.alerting import (
    address,
    alert_body,
    circle,
    create,
    create_and_send,
    enrol,
    quiet_window_now,
    wait_until,
)
from tests.helpers.lifecycle import in_ring, post, quiet_queue, sms_by_number


@pytest.fixture
def service_roles():
    return {"web", "worker"}


def phone(i: int) -> str:
    return f"+316400{i:05d}"


async def view(client, headers, alert_id: int) -> dict:
    return await (await client.get(f"/api/v1/alerts/{alert_id}", headers=headers)).json()


async def test_a_wave_reaches_only_new_residents_and_shows_on_the_event_stream(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    home = (await in_ring(db, centre, 0, 100, 1))[0]
    ring = await in_ring(db, centre, 180, 280, 3)
    await enrol(db, phone(1), home)
    await enrol(db, phone(2), ring[0])
    await enrol(db, phone(3), ring[1], channels=("voice",))
    await enrol(db, phone(4), ring[2], quiet=quiet_window_now(0.5))
    alert = await create_and_send(client, op, alert_body(circle(centre, 150), channels=["sms", "voice"]))
    await quiet_queue(db)
    stream = await client.get(f"/api/v1/alerts/{alert['id']}/events", headers=op)
    await stream.content.readuntil(b"\n\n")  # the first progress event

    preview = await post(
        client, f"/api/v1/alerts/{alert['id']}/widen/preview", op, {"target": circle(centre, 300)}, 200
    )
    assert preview["recipients"] == {"total": 3, "sms": 2, "voice": 1}
    assert preview["quiet_hours"] == {"deferred": 1, "skipped": 0}
    assert preview["sms"]["text"].startswith(f"Burgerwacht {alert['reference']}: ")
    assert preview["area"]["geometry"]["type"] == "Polygon"

    wave = await post(client, f"/api/v1/alerts/{alert['id']}/widen", op, {"target": circle(centre, 300)}, 202)
    assert wave["added"] == 3 and wave["wave"]["number"] == 1 and wave["wave"]["target"]["radius_m"] == 300
    async with asyncio.timeout(10):
        while True:
            chunk = (await stream.content.readuntil(b"\n\n")).decode()
            if chunk.startswith("event: wave"):
                event = json.loads(chunk.split("\n", 1)[1].removeprefix("data: "))
                break
    assert event["number"] == 1 and event["added"] == 3
    stream.close()
    await quiet_queue(
        db, except_residents=[await db.fetchval("SELECT id FROM residents WHERE phone = $1", phone(4))]
    )
    # the same target again, or a smaller one, adds nobody: 200, no wave
    again = await post(
        client, f"/api/v1/alerts/{alert['id']}/widen", op, {"target": circle(centre, 280)}, 200
    )
    assert again["wave"] is None and again["added"] == 0 and "nobody" in again["detail"]
    assert [w["number"] for w in (await view(client, op, alert["id"]))["waves"]] == [1]
    sent = await sms_by_number(sandbox)
    assert {k: len(v) for k, v in sent.items()} == {phone(1): 1, phone(2): 1}
    assert len(await sandbox.calls()) == 1
    audit = await db.fetch("SELECT action, details FROM audit_log WHERE action = 'alert.widen'")
    assert len(audit) == 1 and audit[0]["details"]["added"] == 3


async def test_waves_never_reach_outside_the_operators_municipalities(client, sandbox, db, op, staff):
    centre = await address(db, "9991AA", 75)
    await enrol(db, phone(1), (await in_ring(db, centre, 0, 100, 1))[0])
    inside, elsewhere = await in_ring(db, centre, 180, 280, 2)
    await enrol(db, phone(2), inside)
    await enrol(db, phone(3), elsewhere)
    # that address now lies in another municipality (its enrolment follows, sql/0008)
    await db.execute("UPDATE addresses SET municipality_code = 'GM0001' WHERE id = $1", elsewhere)
    alert = await create_and_send(client, op, alert_body(circle(centre, 150)))
    preview = await post(
        client, f"/api/v1/alerts/{alert['id']}/widen/preview", op, {"target": circle(centre, 300)}, 200
    )
    assert preview["recipients"]["total"] == 1 and preview["outside_scope"] == 1
    wave = await post(client, f"/api/v1/alerts/{alert['id']}/widen", op, {"target": circle(centre, 300)}, 202)
    assert wave["added"] == 1
    await quiet_queue(db)
    assert sorted(await sms_by_number(sandbox)) == [phone(1), phone(2)]
    other = await staff("operator", "GM0001")
    resp = await client.post(
        f"/api/v1/alerts/{alert['id']}/widen", json={"target": circle(centre, 300)}, headers=other
    )
    assert resp.status == 404
    away = {"type": "areas", "codes": ["GM0363"]}
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/widen", json={"target": away}, headers=op)
    assert resp.status in (403, 422), await resp.text()


FAST = {"every_minutes": 0.1, "step_m": 100, "max_radius_m": 300}  # a wave every 6 s


async def test_auto_widening_reaches_exactly_the_rings(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    homes = [
        *await in_ring(db, centre, 0, 80, 1),
        *await in_ring(db, centre, 120, 180, 2),
        *await in_ring(db, centre, 220, 280, 1),
        *await in_ring(db, centre, 350, 450, 1),
    ]
    for i, home in enumerate(homes):
        await enrol(db, phone(i), home)
    alert = await create(client, op, alert_body(circle(centre, 100), widen=FAST))
    assert alert["widen"]["radius_m"] == 100 and alert["widen"]["next_at"] is None
    preview = await post(client, f"/api/v1/alerts/{alert['id']}/preview", op, None, 200)
    assert preview["recipients"]["total"] == 1
    assert [(s["number"], s["radius_m"], s["added"]) for s in preview["widen"]] == [(1, 200, 2), (2, 300, 1)]
    assert [s["starts_after_seconds"] for s in preview["widen"]] == [6, 12]
    await post(client, f"/api/v1/alerts/{alert['id']}/send", op, None, 202)

    async def ended():
        body = await view(client, op, alert["id"])
        return body if body["widen"]["ended"] else None

    done = await wait_until(ended, timeout=30, interval=0.5)
    assert done["widen"]["ended"] == "max_radius" and done["widen"]["radius_m"] == 300
    assert [(w["number"], w["target"]["radius_m"], w["added"], w["auto"]) for w in done["waves"]] == [
        (1, 200, 2, True),
        (2, 300, 1, True),
    ]
    await quiet_queue(db)
    sent = await sms_by_number(sandbox)
    assert sorted(sent) == [phone(0), phone(1), phone(2), phone(3)]
    assert all(len(v) == 1 for v in sent.values())
    actors = await db.fetch("SELECT actor FROM audit_log WHERE action = 'alert.widen'")
    assert [a["actor"] for a in actors] == ["system:auto-widen"] * 2


async def test_auto_widening_ends_on_stop_close_and_expiry(client, db, op):
    centre = await address(db, "9991AA", 75)
    slow = {"every_minutes": 0.1, "step_m": 50, "max_radius_m": 2000}
    ids = []
    for _ in range(3):
        ids.append((await create_and_send(client, op, alert_body(circle(centre, 100), widen=slow)))["id"])

    async def first_wave():
        return all([(await view(client, op, i))["waves"] for i in ids])

    await wait_until(first_wave, timeout=20, interval=0.3)
    stopped, closed, expired = ids
    await post(client, f"/api/v1/alerts/{stopped}/widen/stop", op, None, 200)
    await post(client, f"/api/v1/alerts/{closed}/close", op, {"message": "Gevonden."}, 202)
    await db.execute("UPDATE alerts SET expires_at = now() WHERE id = $1", expired)
    await wait_until(lambda: _status(client, op, expired, "expired"), timeout=10)
    counts = {i: len((await view(client, op, i))["waves"]) for i in ids}
    await asyncio.sleep(7.5)  # longer than one period: no wave comes
    after = {i: (await view(client, op, i)) for i in ids}
    assert {i: len(a["waves"]) for i, a in after.items()} == counts
    assert after[stopped]["widen"]["ended"] == "stopped" and after[stopped]["widen"]["next_at"] is None
    assert after[closed]["widen"]["ended"] == "alert_ended"
    assert after[expired]["widen"]["ended"] == "expired"
    resp = await client.post(f"/api/v1/alerts/{stopped}/widen/stop", headers=op)
    assert resp.status == 409


async def _status(client, op, alert_id, status):
    return (await view(client, op, alert_id))["status"] == status


@pytest.mark.parametrize(
    ("target", "widen", "needle"),
    [
        ({"type": "areas", "codes": ["BU99990101"]}, FAST, "circle"),
        (None, {**FAST, "max_radius_m": 100}, "larger"),
        (None, {**FAST, "step_m": 1, "max_radius_m": 500}, "at most"),
        (None, {**FAST, "every_minutes": 0.05}, "every_minutes"),
        (None, {**FAST, "step_m": 1000, "max_radius_m": 20000}, "max_radius_m"),
    ],
)
async def test_auto_widening_is_checked(client, db, op, target, widen, needle):
    centre = await address(db, "9991AA", 75)
    body = alert_body(target or circle(centre, 100), widen=widen)
    resp = await client.post("/api/v1/alerts", json=body, headers=op)
    assert resp.status == 422 and needle in await resp.text(), await resp.text()


async def test_follows_leaves_out_the_earlier_alerts_residents_but_sends_them_what_is_new(
    client, sandbox, db, op
):
    centre = await address(db, "9991AA", 75)
    near = await in_ring(db, centre, 0, 100, 2)
    await enrol(db, phone(1), near[0])
    await enrol(db, phone(2), near[1])
    await enrol(db, phone(3), (await in_ring(db, centre, 200, 280, 1))[0])
    first = await create_and_send(client, op, alert_body(circle(centre, 150)))
    await quiet_queue(db)
    body = alert_body(circle(centre, 300), follows=first["id"], message="Opnieuw: man op rode fiets.")
    second = await create(client, op, body)
    assert second["follows"] == first["id"]
    preview = await post(client, f"/api/v1/alerts/{second['id']}/preview", op, None, 200)
    assert preview["related_reached"] == 2 and preview["recipients"]["total"] == 1
    await post(client, f"/api/v1/alerts/{second['id']}/send", op, None, 202)
    await quiet_queue(db)
    await post(client, f"/api/v1/alerts/{second['id']}/updates", op, {"message": "Nu bij de Kade."}, 202)
    await quiet_queue(db)
    await post(client, f"/api/v1/alerts/{second['id']}/close", op, {"message": "Aangehouden."}, 202)
    await quiet_queue(db)
    sent = await sms_by_number(sandbox)
    r1, r2 = first["reference"], second["reference"]
    assert sent[phone(1)] == [
        f"Burgerwacht {r1}: {alert_body({})['message']}",
        f"Burgerwacht {r2} UPDATE: Nu bij de Kade.",
        f"Burgerwacht {r2} afgelopen: Aangehouden.",
    ]
    assert sent[phone(2)] == sent[phone(1)]
    assert sent[phone(3)] == [
        f"Burgerwacht {r2}: Opnieuw: man op rode fiets.",
        f"Burgerwacht {r2} UPDATE: Nu bij de Kade.",
        f"Burgerwacht {r2} afgelopen: Aangehouden.",
    ]
    # a chain: an alert following the second counts everyone as reached already
    third = await create(client, op, alert_body(circle(centre, 300), follows=second["id"]))
    preview = await post(client, f"/api/v1/alerts/{third['id']}/preview", op, None, 200)
    assert preview["related_reached"] == 3 and preview["recipients"]["total"] == 0
    # the fatigue budget still holds: a new resident who had three regular alerts today
    late = await enrol(db, phone(4), (await in_ring(db, centre, 200, 280, 2))[1])
    others = [await create(client, op, alert_body(circle(centre, 60))) for _ in range(2)]
    for earlier in (first, *others):  # not the followed alert: that would make them related
        await db.execute(
            "INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month) "
            "VALUES ($1, $2, 'sms', 'alert', 'regular', 'delivered', now(), "
            "        (SELECT alert_month FROM alerts WHERE id = $1))",
            earlier["id"],
            late,
        )
    preview = await post(client, f"/api/v1/alerts/{third['id']}/preview", op, None, 200)
    assert preview["over_budget"] == 1 and preview["recipients"]["total"] == 0
    resp = await client.post(
        "/api/v1/alerts", json=alert_body(circle(centre, 60), follows=999999), headers=op
    )
    assert resp.status == 422 and "follows" in await resp.text()
