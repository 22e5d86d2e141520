"""The live line per operator (issue 17): an operator sets an own control-room number
(PATCH /api/v1/me; an admin for users in scope: PATCH /api/v1/users/{id}); digit 2 in an
alert call and the tip line ring the operator who sent the alert first, then the
municipality's control room (tips.control_room_numbers), then the caller records a
tip. End to end through the simulator's <Dial>, with real webhook signatures."""

from __future__ import annotations

import pytest

from tests.api.test_live_line import CONNECTED, CONTROL_ROOM, TIPSTER, _dials, _digit_2_call, _said
from tests.helpers.alerting import alert_body, create_and_send, enrol, wait_until

OPERATOR_LINE = "+31207654321"


@pytest.fixture
def service_roles():
    return {"web", "worker"}


@pytest.fixture
def settings_overrides(request):
    """GM9999 (the demo municipality) has a control room unless a test says otherwise."""
    numbers = getattr(request, "param", {"GM9999": CONTROL_ROOM})
    return {"tips": {"control_room_numbers": numbers, "connect_timeout_s": 15}}


async def _patch(client, path: str, headers: dict, body: dict, status: int = 200) -> dict:
    resp = await client.patch(path, json=body, headers=headers)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_an_operator_sets_checks_and_removes_an_own_number(client, db, op, staff):
    me = await _patch(client, "/api/v1/me", op, {"control_room_number": "020 765 4321"})
    assert me["control_room_number"] == OPERATOR_LINE  # any written form, stored in E.164
    assert (await (await client.get("/api/v1/me", headers=op)).json())["control_room_number"] == OPERATOR_LINE
    for bad in ("12345", "+999123", "0900-not-a-number", "x" * 41):
        problem = await _patch(client, "/api/v1/me", op, {"control_room_number": bad}, 422)
        assert problem["status"] == 422 and problem["errors"]
    await _patch(client, "/api/v1/me", op, {}, 422)  # nothing to change
    me = await _patch(client, "/api/v1/me", op, {"control_room_number": None})  # null: unchanged
    assert me["control_room_number"] == OPERATOR_LINE
    # the number is in the audit log masked, never whole
    details = await db.fetch("SELECT details::text FROM audit_log WHERE action = 'user.control_room_number'")
    assert len(details) == 1 and "7654321" not in details[0][0] and "4321" in details[0][0]
    me = await _patch(client, "/api/v1/me", op, {"control_room_number": ""})
    assert me["control_room_number"] is None
    # only those who send or approve alerts have a live line
    analyst = await staff("analyst", "GM9999")
    await _patch(client, "/api/v1/me", analyst, {"control_room_number": OPERATOR_LINE}, 403)


async def test_an_admin_sets_the_number_of_a_user_in_scope(client, db, staff):
    await staff("operator", "GM9999", name="Centralist Demostad")
    operator_id = await db.fetchval("SELECT id FROM staff_users WHERE name = 'Centralist Demostad'")
    admin = await staff("admin", "GM9999")
    user = await _patch(client, f"/api/v1/users/{operator_id}", admin, {"control_room_number": "020 7654321"})
    assert user["id"] == operator_id and user["control_room_number"] == OPERATOR_LINE
    listed = await (await client.get("/api/v1/users", headers=admin)).json()
    assert next(u for u in listed["items"] if u["id"] == operator_id)["control_room_number"] == OPERATOR_LINE
    other = await staff("admin", "GM0363")
    await _patch(client, f"/api/v1/users/{operator_id}", other, {"control_room_number": ""}, 404)
    await _patch(client, "/api/v1/users/999999", admin, {"control_room_number": ""}, 404)
    await _patch(client, f"/api/v1/users/{operator_id}", admin, {"control_room_number": "12"}, 422)
    assert await db.fetchval("SELECT control_room_number FROM staff_users WHERE id = $1", operator_id) == (
        OPERATOR_LINE
    )


async def test_digit_2_rings_the_operator_who_sent_the_alert_first(client, sandbox, db, op):
    await _patch(client, "/api/v1/me", op, {"control_room_number": OPERATOR_LINE})
    alert, call = await _digit_2_call(client, sandbox, db, op)
    [dial] = _dials(call)
    assert dial["number"] == OPERATOR_LINE and dial["status"] == "completed"
    assert dial["whisper"] == f"Burgerwacht tip over actie {alert['reference']}."
    assert not any(c["to"] == CONTROL_ROOM for c in await sandbox.calls())  # the operator answered
    assert "doorverbonden met de meldkamer" in _said(call) and call["recordings"] == []
    tip = await db.fetchrow("SELECT alert_id, note, phone FROM tips")
    assert dict(tip) == {"alert_id": alert["id"], "note": CONNECTED, "phone": TIPSTER}


async def test_unanswered_operator_then_the_control_room_then_a_recording(client, sandbox, db, op):
    await _patch(client, "/api/v1/me", op, {"control_room_number": OPERATOR_LINE})
    await sandbox.scenario(no_answer_numbers=[OPERATOR_LINE])
    alert, call = await _digit_2_call(client, sandbox, db, op)
    assert [(d["number"], d["status"]) for d in _dials(call)] == [
        (OPERATOR_LINE, "no-answer"),
        (CONTROL_ROOM, "completed"),
    ]
    assert call["duration"] >= 15 and call["recordings"] == []  # it rang the operator first
    assert await db.fetchval("SELECT note FROM tips WHERE alert_id = $1", alert["id"]) == CONNECTED

    # neither answers: the caller records a tip, linked to the alert
    await db.execute("DELETE FROM tips")
    await sandbox.scenario(busy_numbers=[OPERATOR_LINE, CONTROL_ROOM])
    call = await (await sandbox.client.post("/sandbox/inbound/call", json={"from": TIPSTER})).json()
    assert [(d["number"], d["status"]) for d in _dials(call)] == [
        (OPERATOR_LINE, "busy"),
        (CONTROL_ROOM, "busy"),
    ]
    assert len(call["recordings"]) == 1 and "De meldkamer neemt nu niet op." in _said(call)

    async def recorded():
        return await db.fetchrow("SELECT alert_id, recording_url FROM tips")

    tip = await wait_until(recorded, timeout=10)
    assert tip["alert_id"] == alert["id"] and tip["recording_url"] == call["recordings"][0]["url"]


@pytest.mark.parametrize("settings_overrides", [{}], indirect=True)
async def test_an_operator_line_without_a_municipal_control_room(client, sandbox, db, op):
    """The operator's own number works where the municipality has none configured; the
    caller records a tip when the operator does not answer (no second number)."""
    await _patch(client, "/api/v1/me", op, {"control_room_number": OPERATOR_LINE})
    await sandbox.scenario(no_answer_numbers=[OPERATOR_LINE])
    alert, call = await _digit_2_call(client, sandbox, db, op)
    assert [(d["number"], d["status"]) for d in _dials(call)] == [(OPERATOR_LINE, "no-answer")]
    assert len(call["recordings"]) == 1 and "tiplijn" in _said(call)

    async def recorded():
        return await db.fetchval("SELECT alert_id FROM tips WHERE recording_url IS NOT NULL")

    assert await wait_until(recorded, timeout=10) == alert["id"]


async def test_approval_rings_the_operator_who_asked_to_send(client, sandbox, db, staff):
    """With two-person approval the alert is the requesting operator's: the line rings
    them, not the colleague who approved; a disabled user's number is not rung."""
    author = await staff("operator", "GM9999", name="author")
    colleague = await staff("operator", "GM9999", name="colleague")
    await _patch(client, "/api/v1/me", author, {"control_room_number": OPERATOR_LINE})
    await _patch(client, "/api/v1/me", colleague, {"control_room_number": "+31301234567"})
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    await enrol(db, TIPSTER, aid, channels=("voice",))
    await sandbox.scenario(call_digits={TIPSTER: "2"})
    alert = await create_and_send(
        client,
        author,
        alert_body(
            {"type": "areas", "codes": ["BU99990101"]},
            channels=["voice"],
            level="amber_regional",
            family_consent=True,
        ),
        approver=colleague,
    )

    async def finished():
        calls = [c for c in await sandbox.calls() if c["to"] == TIPSTER]
        return calls[0] if calls and calls[0]["done"] else None

    call = await wait_until(finished, timeout=20)
    assert _dials(call)[0]["number"] == OPERATOR_LINE
    # the author leaves: the tip line rings the municipality's control room instead
    await db.execute("UPDATE staff_users SET disabled_at = now() WHERE name = 'author'")
    call = await (await sandbox.client.post("/sandbox/inbound/call", json={"from": TIPSTER})).json()
    assert [d["number"] for d in _dials(call)] == [CONTROL_ROOM]
    assert alert["reference"] in _dials(call)[0]["whisper"]


async def test_openapi_documents_the_operator_line(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert "patch" in doc["paths"]["/api/v1/me"]
    assert "patch" in doc["paths"]["/api/v1/users/{user_id}"]
    schemas = doc["components"]["schemas"]
    assert "control_room_number" in schemas["ControlRoomPatch"]["properties"]
    assert "control_room_number" in schemas["Me"]["properties"]
    params = doc["paths"]["/twilio/voice/dial-result/{alert_id}"]["post"].get("parameters", [])
    assert any(p["name"] == "next" and p["in"] == "query" for p in params)
