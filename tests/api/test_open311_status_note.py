"""Open311 reporters see what happened with their request: its status and the public
note triage wrote for them (PATCH public_note), never the internal notes, with phone
numbers masked."""

from __future__ import annotations

import pytest
from defusedxml import ElementTree

PUBLIC_KEY = "civic-app-key-123"
BASE = "/open311/v2"


@pytest.fixture
def settings_overrides():
    return {"signals": {"open311_public_key": PUBLIC_KEY}}


async def test_reporter_reads_status_and_public_note(client, staff, db):
    resp = await client.post(
        f"{BASE}/requests.json",
        data={"api_key": PUBLIC_KEY, "service_code": "zwerfafval", "lat": "52.05545", "long": "5.78865"},
    )
    sid = (await resp.json())[0]["service_request_id"]
    [req] = await (await client.get(f"{BASE}/requests/{sid}.json")).json()
    assert req["status"] == "open" and req["status_notes"] is None

    fieldworker = await staff("fieldworker", "GM9999")
    signal_id = await db.fetchval("SELECT id FROM signals WHERE public_id = $1", sid)
    resp = await client.patch(
        f"/api/v1/signals/{signal_id}",
        json={
            "status": "closed",
            "status_notes": "intern: melder is buurman van de wethouder",
            "public_note": "Opgeruimd op 3 maart. Vragen? Bel 06-12345678.",
        },
        headers=fieldworker,
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["public_note"].startswith("Opgeruimd op 3 maart.") and "12345678" not in body["public_note"]

    [req] = await (await client.get(f"{BASE}/requests/{sid}.json")).json()
    assert req["status"] == "closed"
    assert req["status_notes"] == body["public_note"]
    assert "wethouder" not in str(req)
    root = ElementTree.fromstring((await (await client.get(f"{BASE}/requests/{sid}.xml")).text()).encode())
    assert root.find("request/status_notes").text == body["public_note"]
    listed = await (await client.get(f"{BASE}/requests.json?service_request_id={sid}")).json()
    assert listed[0]["status_notes"] == body["public_note"]
    # the audit says a note was set, not what it says
    details = await db.fetchval("SELECT details FROM audit_log WHERE action = 'signal.update'")
    assert "12345678" not in str(details) and "wethouder" not in str(details)

    # too long is a 422 and changes nothing; an empty string removes it
    resp = await client.patch(
        f"/api/v1/signals/{signal_id}", json={"public_note": "x" * 501}, headers=fieldworker
    )
    assert resp.status == 422
    resp = await client.patch(f"/api/v1/signals/{signal_id}", json={"public_note": ""}, headers=fieldworker)
    assert resp.status == 200
    [req] = await (await client.get(f"{BASE}/requests/{sid}.json")).json()
    assert req["status_notes"] is None
