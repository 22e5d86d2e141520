"""Closing an alert with an outcome (the old body still valid), and tips marked as having
led to the outcome."""

from __future__ import annotations

import json

import pytest

from tests.helpers.alerting import alert_body, create, create_and_send, enrol, settled, wait_until

TIPSTER = "+31611113333"
BUURT = "BU99990101"


@pytest.fixture
def service_roles():
    return {"web", "worker"}


@pytest.fixture
async def sent(client, db, op):
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = $1 ORDER BY id LIMIT 1", BUURT)
    await enrol(db, TIPSTER, aid)
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": [BUURT]}))
    await settled(client, op, alert["id"])

    async def active():
        body = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
        return body if body["status"] == "active" else None

    return await wait_until(active, 20)


async def _close(client, op, alert_id, body):
    return await client.post(f"/api/v1/alerts/{alert_id}/close", json=body, headers=op)


async def test_close_with_outcome_and_masked_note(client, db, op, sent):
    resp = await _close(
        client,
        op,
        sent["id"],
        {
            "message": "Het kind is gevonden. Dank u wel!",
            "outcome": "found_safe",
            "outcome_note": "Gevonden bij de speeltuin; vader belde van 06-12345678",
        },
    )
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["outcome"] == "found_safe"
    alert = await (await client.get(f"/api/v1/alerts/{sent['id']}", headers=op)).json()
    assert alert["status"] == "closed" and alert["outcome"] == "found_safe"
    assert alert["outcome_note"].startswith("Gevonden bij de speeltuin; vader belde van +31 6 ****")
    stored = await db.fetchval("SELECT outcome_note FROM alerts WHERE id = $1", sent["id"])
    audit = await db.fetchval("SELECT details::text FROM audit_log WHERE action = 'alert.close'")
    for text in (stored, audit, json.dumps(alert)):
        assert "12345678" not in text
    assert json.loads(audit)["outcome"] == "found_safe"


async def test_old_close_body_means_outcome_other(client, op, sent):
    resp = await _close(client, op, sent["id"], {"message": "De man is aangehouden."})
    assert resp.status == 202, await resp.text()
    alert = await (await client.get(f"/api/v1/alerts/{sent['id']}", headers=op)).json()
    assert alert["outcome"] == "other" and alert["outcome_note"] is None


async def test_bad_outcomes_are_refused_and_nothing_closes(client, db, op, sent):
    for body in (
        {"message": "Klaar.", "outcome": "found"},
        {"message": "Klaar.", "outcome": None},
        {"message": "Klaar.", "outcome": "other", "outcome_note": "x" * 501},
        {"message": "Klaar.", "outcome": "other", "outcome_note": "a\x07b"},
        {"outcome": "arrested"},
    ):
        resp = await _close(client, op, sent["id"], body)
        assert resp.status == 422, (body, await resp.text())
        assert resp.content_type == "application/problem+json"
    assert await db.fetchval("SELECT status FROM alerts WHERE id = $1", sent["id"]) == "active"
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'closing'") == 0
    # an active alert has no outcome yet; a cancelled one never gets one
    alert = await (await client.get(f"/api/v1/alerts/{sent['id']}", headers=op)).json()
    assert alert["outcome"] is None
    draft = await create(client, op, alert_body({"type": "areas", "codes": [BUURT]}))
    resp = await client.post(f"/api/v1/alerts/{draft['id']}/cancel", headers=op)
    assert (await (await client.get(f"/api/v1/alerts/{draft['id']}", headers=op)).json())["outcome"] is None


async def test_outcome_in_openapi(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    close = doc["components"]["schemas"]["CloseIn"]
    assert close["required"] == ["message"]
    assert close["properties"]["outcome"]["enum"] == [
        "found_safe",
        "found_other",
        "arrested",
        "not_found",
        "false_alarm",
        "other",
    ]
    assert close["properties"]["outcome"]["default"] == "other"
    assert close["properties"]["outcome_note"]["anyOf"][0]["maxLength"] == 500
    assert "led_to_outcome" in doc["components"]["schemas"]["TipPatch"]["properties"]
    assert "/api/v1/alerts/stats" in doc["paths"] and "/api/v1/picture" in doc["paths"]


async def test_tip_led_to_outcome(client, sandbox, db, op, staff, sent):
    await sandbox.sms(TIPSTER, "De man staat bij de bakker")
    tip = (await (await client.get(f"/api/v1/alerts/{sent['id']}/tips", headers=op)).json())["items"][0]
    assert tip["led_to_outcome"] is False
    resp = await client.patch(f"/api/v1/tips/{tip['id']}", json={"led_to_outcome": True}, headers=op)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["led_to_outcome"] is True
    # null leaves it as it is; a status change keeps it
    resp = await client.patch(
        f"/api/v1/tips/{tip['id']}", json={"led_to_outcome": None, "status": "useful"}, headers=op
    )
    assert (await resp.json())["led_to_outcome"] is True
    details = [
        json.loads(r[0])
        for r in await db.fetch("SELECT details::text FROM audit_log WHERE action = 'tip.update' ORDER BY id")
    ]
    assert [d["led_to_outcome"] for d in details] == [True, None]
    resp = await client.patch(f"/api/v1/tips/{tip['id']}", json={"led_to_outcome": False}, headers=op)
    assert (await resp.json())["led_to_outcome"] is False
    resp = await client.patch(f"/api/v1/tips/{tip['id']}", json={"led_to_outcome": "ja"}, headers=op)
    assert resp.status == 422
    # out of scope: another municipality's operator cannot see it; an analyst may not patch
    other = await staff("operator", "GM0001")
    resp = await client.patch(f"/api/v1/tips/{tip['id']}", json={"led_to_outcome": True}, headers=other)
    assert resp.status == 404
    analyst = await staff("analyst", "GM9999")
    resp = await client.patch(f"/api/v1/tips/{tip['id']}", json={"led_to_outcome": True}, headers=analyst)
    assert resp.status == 403


async def test_an_unlinked_tip_cannot_have_led_to_an_outcome(client, sandbox, db, op, sent):
    await _close(client, op, sent["id"], {"message": "Klaar.", "outcome": "not_found"})
    await sandbox.sms(TIPSTER, "Er staat een verdachte bus in de straat")  # no active alert: general queue
    tip = await db.fetchrow("SELECT id, alert_id FROM tips ORDER BY id DESC LIMIT 1")
    assert tip["alert_id"] is None
    resp = await client.patch(f"/api/v1/tips/{tip['id']}", json={"led_to_outcome": True}, headers=op)
    assert resp.status == 409 and (await resp.json())["type"].endswith("tip-not-linked")
    assert await db.fetchval("SELECT led_to_outcome FROM tips WHERE id = $1", tip["id"]) is False
