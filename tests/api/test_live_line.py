"""The live line to the control room (issue 17): digit 2 in an alert call and the tip
line ring the control room of the alert's municipality (tips.control_room_numbers),
whispering the alert's reference; unanswered, the caller records a tip as before.
End to end through the simulator's <Dial>, with real webhook signatures."""

from __future__ import annotations

import aiohttp
import pytest

from burgerwacht.config import ConfigError, load_settings
from burgerwacht.messaging import sign
from tests.helpers.alerting import alert_body, create_and_send, enrol, settled, wait_until
from tests.helpers.service import SERVICE_NUMBER, TEST_TOKEN

TIPSTER = "+31611112222"
CONTROL_ROOM = "+31201234567"
CONNECTED = "verbonden met meldkamer"


@pytest.fixture
def service_roles():
    return {"web", "worker"}


@pytest.fixture
def settings_overrides(request):
    """GM9999 (the demo municipality) has a control room unless a test says otherwise."""
    numbers = getattr(request, "param", {"GM9999": CONTROL_ROOM})
    return {"tips": {"control_room_numbers": numbers, "connect_timeout_s": 15}}


async def _voice_resident(db) -> int:
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    return await enrol(db, TIPSTER, aid, channels=("voice",))


async def _digit_2_call(client, sandbox, db, op, **kw) -> tuple[dict, dict]:
    """Send a voice alert to a resident who presses 2; the alert and the finished call."""
    rid = await _voice_resident(db)
    await db.execute("UPDATE residents SET exercise = true WHERE id = $1", rid)  # for mode=exercise
    await sandbox.scenario(**{"call_digits": {TIPSTER: "2"}})
    alert = await create_and_send(
        client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}, channels=["voice"], **kw)
    )

    async def finished():
        calls = [c for c in await sandbox.calls() if c["to"] == TIPSTER]
        return calls[0] if calls and calls[0]["done"] else None

    return alert, await wait_until(finished, timeout=20)


def _said(call: dict) -> str:
    return " ".join(t.get("text") or "" for t in call["transcript"])


def _dials(call: dict) -> list[dict]:
    return [e for e in call["events"] if e["type"] == "dial"]


async def test_digit_2_connects_to_the_control_room(client, sandbox, db, op):
    alert, call = await _digit_2_call(client, sandbox, db, op)
    # the operator's phone rang and heard the whisper with the alert's reference first
    [dial] = _dials(call)
    assert dial["number"] == CONTROL_ROOM and dial["status"] == "completed"
    operator = next(c for c in await sandbox.calls() if c["sid"] == dial["dial_call_sid"])
    assert operator["parent_call_sid"] == call["sid"] and operator["from"] == SERVICE_NUMBER
    assert [t["text"] for t in operator["transcript"]] == [
        f"Burgerwacht tip over actie {alert['reference']}."
    ]
    # the caller heard the connection, then the call ended: no recording
    assert "doorverbonden met de meldkamer" in _said(call)
    assert call["recordings"] == [] and not any(e["type"] == "record" for e in call["events"])
    steps = [e["type"] for e in call["events"] if e["type"] != "status-callback"]
    assert steps[steps.index("dial") :] == ["dial", "request", "hangup"] and call["status"] == "completed"
    # the operators' tip list shows the call, linked to the alert
    resp = await client.get(f"/api/v1/alerts/{alert['id']}/tips", headers=op)
    [tip] = (await resp.json())["items"]
    assert tip["channel"] == "voice" and tip["note"] == CONNECTED and tip["phone"] == TIPSTER
    assert tip["recording_url"] is None and tip["alert_id"] == alert["id"]


async def test_the_whisper_says_when_the_alert_is_an_exercise(client, sandbox, db, op):
    alert, call = await _digit_2_call(client, sandbox, db, op, mode="exercise")
    [dial] = _dials(call)
    assert dial["status"] == "completed"
    assert dial["whisper"] == f"Oefening. Burgerwacht tip over actie {alert['reference']}."


@pytest.mark.parametrize(
    ("scenario", "status"),
    [("no_answer_numbers", "no-answer"), ("busy_numbers", "busy"), ("invalid_numbers", "failed")],
)
async def test_digit_2_unanswered_records_a_tip(client, sandbox, db, op, scenario, status):
    await sandbox.scenario(**{scenario: [CONTROL_ROOM]})
    alert, call = await _digit_2_call(client, sandbox, db, op)
    [dial] = _dials(call)
    assert dial == {"type": "dial", "number": CONTROL_ROOM, "status": status}
    assert not any(c["to"] == CONTROL_ROOM for c in await sandbox.calls())  # nobody heard a whisper
    said = _said(call)
    assert "De meldkamer neemt nu niet op." in said and "tiplijn" in said and "Bedankt" in said
    if status == "no-answer":  # it rang for the whole connect_timeout_s (simulated time)
        assert call["duration"] >= 15

    async def recorded():
        return await db.fetchrow("SELECT * FROM tips")

    tip = await wait_until(recorded, timeout=10)
    assert tip["alert_id"] == alert["id"] and tip["channel"] == "voice" and tip["note"] is None
    assert tip["recording_url"] == call["recordings"][0]["url"]


@pytest.mark.parametrize("settings_overrides", [{}, {"GM0363": CONTROL_ROOM}], indirect=True)
async def test_no_control_room_for_the_municipality_keeps_the_recording(client, sandbox, db, op):
    alert, call = await _digit_2_call(client, sandbox, db, op)
    assert _dials(call) == [] and "meldkamer" not in _said(call)
    assert "tiplijn" in _said(call) and len(call["recordings"]) == 1

    async def recorded():
        return await db.fetchrow("SELECT alert_id, recording_url, note FROM tips")

    tip = await wait_until(recorded, timeout=10)
    assert tip["alert_id"] == alert["id"] and tip["recording_url"] and tip["note"] is None


async def test_tip_line_connects_a_caller_who_received_an_alert(client, sandbox, db, op):
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    await enrol(db, TIPSTER, aid)
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    await settled(client, op, alert["id"])
    call = await (await sandbox.client.post("/sandbox/inbound/call", json={"from": TIPSTER})).json()
    [dial] = _dials(call)
    assert dial["status"] == "completed" and alert["reference"] in dial["whisper"]
    assert call["recordings"] == []
    tip = await db.fetchrow("SELECT alert_id, channel, note, phone, recording_url FROM tips")
    assert dict(tip) == {
        "alert_id": alert["id"],
        "channel": "voice",
        "note": CONNECTED,
        "phone": TIPSTER,
        "recording_url": None,
    }
    # unanswered, the same caller records a tip linked to the alert
    await sandbox.scenario(no_answer_numbers=[CONTROL_ROOM])
    call = await (await sandbox.client.post("/sandbox/inbound/call", json={"from": TIPSTER})).json()
    assert _dials(call)[0]["status"] == "no-answer" and len(call["recordings"]) == 1
    row = await db.fetchrow("SELECT alert_id, recording_url FROM tips WHERE note IS NULL")
    assert row["alert_id"] == alert["id"] and row["recording_url"] == call["recordings"][0]["url"]


async def test_tip_line_without_an_alert_records_as_before(client, sandbox, db, op):
    """A caller linked to no alert (none received, or withheld number) is not connected:
    the rule is the tip's own link (tip_link), and only an alert names a control room."""
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    await enrol(db, TIPSTER, aid)
    for caller in (TIPSTER, "anonymous"):
        call = await (await sandbox.client.post("/sandbox/inbound/call", json={"from": caller})).json()
        assert _dials(call) == [] and len(call["recordings"]) == 1 and "tiplijn" in _said(call)
    assert await db.fetchval("SELECT count(*) FROM tips WHERE recording_url IS NOT NULL") == 2


async def _post(url: str, params: dict[str, str], signature: str | None) -> tuple[int, str]:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    async with aiohttp.ClientSession() as http, http.post(url, data=params, headers=headers) as r:
        return r.status, await r.text()


async def test_dial_webhooks_are_signed_validated_and_idempotent(client, sandbox, db, op, settings):
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    base = settings.public_base
    url = f"{base}/twilio/voice/dial-result/{alert['id']}"
    good = {"CallSid": "CA" + "a" * 32, "DialCallStatus": "completed", "DialCallDuration": "42"}
    # unsigned, or signed for other parameters: 403
    assert (await _post(url, good, None))[0] == 403
    assert (await _post(url, good, sign(TEST_TOKEN, url, {**good, "DialCallStatus": "busy"})))[0] == 403
    assert (await _post(f"{base}/twilio/voice/whisper/{alert['id']}", {}, None))[0] == 403
    # signed but wrong: an unknown status or call, an unknown alert
    for bad in (
        {**good, "DialCallStatus": "ringing"},
        {**good, "CallSid": "nope"},
        {"CallSid": good["CallSid"]},
    ):
        status, body = await _post(url, bad, sign(TEST_TOKEN, url, bad))
        assert status == 422 and "form." in body
    unknown = f"{base}/twilio/voice/dial-result/999999"
    assert (await _post(unknown, good, sign(TEST_TOKEN, unknown, good)))[0] == 404
    assert await db.fetchval("SELECT count(*) FROM tips") == 0  # nothing half-written
    # a retried action stores the connected call once
    for _ in range(2):
        status, body = await _post(url, good, sign(TEST_TOKEN, url, good))
        assert status == 200 and "<Hangup" in body
    assert await db.fetchval("SELECT count(*) FROM tips WHERE note = $1", CONNECTED) == 1


async def test_openapi_documents_the_dial_webhooks(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert "/twilio/voice/whisper/{alert_id}" in doc["paths"]
    form = doc["paths"]["/twilio/voice/dial-result/{alert_id}"]["post"]["requestBody"]["content"]
    schema = form["application/x-www-form-urlencoded"]["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert set(schema["properties"]["DialCallStatus"]["enum"]) >= {"completed", "no-answer", "busy"}
    assert schema["properties"]["CallSid"]["pattern"]


def test_control_room_numbers_are_validated():
    settings = load_settings(tips={"control_room_numbers": {"GM0363": "020 123 4567"}})
    assert settings.tips.control_room_numbers == {"GM0363": CONTROL_ROOM}
    for bad in (
        {"control_room_numbers": {"GM0363": "12345"}},
        {"control_room_numbers": {"Amsterdam": CONTROL_ROOM}},
        {"connect_timeout_s": 2},
        {"connect_timeout_s": 600},
    ):
        with pytest.raises(ConfigError, match="tips"):
            load_settings(tips=bad)
