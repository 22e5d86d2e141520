"""PATCH bodies from generated clients: an unset optional field arrives as null.

null leaves a field unchanged (it was a 500 NotNullViolation for a signal's status and
a confusing "unknown category None"); an empty body is a 422; the OpenAPI schema says
both (nullable fields, minProperties 1)."""

from __future__ import annotations

from tests.helpers.alerting import enrol

BINNENSTAD = "BU99990101"
TIPSTER = "+31612340077"


async def _signal(client, headers) -> dict:
    resp = await client.post(
        "/api/v1/signals",
        json={"area_code": BINNENSTAD, "category": "graffiti", "severity": 3, "source": "schouw"},
        headers=headers,
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_signal_patch_null_leaves_fields_unchanged(client, staff):
    headers = await staff("fieldworker", "GM9999")
    sig = await _signal(client, headers)
    url = f"/api/v1/signals/{sig['id']}"
    for body in ({"status": None}, {"category": None}, {"category": None, "status": None, "severity": None}):
        resp = await client.patch(url, json=body, headers=headers)
        assert resp.status == 200, (body, await resp.text())
        got = await resp.json()
        assert (got["status"], got["category"], got["severity"]) == ("open", "graffiti", 3)
    resp = await client.patch(url, json={"status": "closed", "category": None}, headers=headers)
    assert resp.status == 200
    assert ((await resp.json())["status"], (await resp.json())["category"]) == ("closed", "graffiti")
    resp = await client.patch(url, json={}, headers=headers)
    assert resp.status == 422
    assert "nothing to change" in (await resp.json())["detail"]


async def test_tip_patch_null_leaves_fields_unchanged(client, sandbox, db, op):
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = $1 ORDER BY id LIMIT 1", BINNENSTAD)
    await enrol(db, TIPSTER, aid)
    await sandbox.sms(TIPSTER, "verdachte situatie bij de school")
    tip_id = await db.fetchval("SELECT id FROM tips")
    url = f"/api/v1/tips/{tip_id}"
    resp = await client.patch(url, json={"status": "read", "note": "gebeld"}, headers=op)
    assert resp.status == 200
    resp = await client.patch(url, json={"status": None, "note": None}, headers=op)
    assert resp.status == 200, await resp.text()
    assert ((await resp.json())["status"], (await resp.json())["note"]) == ("read", "gebeld")
    assert (await client.patch(url, json={}, headers=op)).status == 422


async def test_patch_schemas_say_null_and_non_empty(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    for name in ("SignalPatch", "TipPatch"):
        schema = schemas[name]
        assert schema["minProperties"] == 1, name
        for prop in schema["properties"].values():
            assert {"type": "null"} in prop.get("anyOf", []), (name, prop)
