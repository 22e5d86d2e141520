"""CAP 1.2 over HTTP: a CAP alert becomes a draft, bad CAP is a 422 naming the element,
and the export validates against the OASIS schema."""

from __future__ import annotations

import pytest

from burgerwacht.cap import parse_cap, validate_cap

NS = "urn:oasis:names:tc:emergency:cap:1.2"


def cap_doc(area: str, *, event: str = "Verdachte situatie", params: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{NS}">
  <identifier>meldkamer-2026-0042</identifier>
  <sender>meldkamer@politie.example</sender>
  <sent>2026-11-28T10:00:00+01:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>nl-NL</language>
    <category>Security</category>
    <event>{event}</event>
    <urgency>Immediate</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <headline>Man op rode fiets</headline>
    <description>Let op: man in blauwe jas op een rode fiets.</description>
    <instruction>Benader hem niet. Bel 112.</instruction>
    {params}
    <area><areaDesc>Demostad</areaDesc>{area}</area>
  </info>
</alert>""".encode()


async def test_cap_alert_becomes_a_draft(client, op):
    doc = cap_doc("<geocode><valueName>CBS</valueName><value>BU99990302</value></geocode>")
    resp = await client.post(
        "/api/v1/alerts", data=doc, headers={**op, "Content-Type": "application/cap+xml"}
    )
    assert resp.status == 201, await resp.text()
    alert = await resp.json()
    assert alert["status"] == "draft" and alert["title"] == "Man op rode fiets"
    assert alert["target"] == {"type": "areas", "codes": ["BU99990302"]}
    assert "Bel 112" in alert["message"]


@pytest.mark.parametrize(
    ("area", "params", "element"),
    [
        ("<circle>52.05,5.8 abc</circle>", "", "info/area/circle"),
        ("<polygon>52.05,5.8 52.06,5.8</polygon>", "", "info/area/polygon"),
        ("", "", "info/area"),
    ],
)
async def test_bad_cap_is_422_naming_the_element(client, op, db, area, params, element):
    resp = await client.post(
        "/api/v1/alerts",
        data=cap_doc(area, params=params),
        headers={**op, "Content-Type": "application/cap+xml"},
    )
    assert resp.status == 422
    assert element in (await resp.json())["detail"]
    assert await db.fetchval("SELECT count(*) FROM alerts") == 0


async def test_entities_are_refused(client, op):
    evil = b"""<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>"""
    resp = await client.post(
        "/api/v1/alerts", data=evil, headers={**op, "Content-Type": "application/cap+xml"}
    )
    assert resp.status == 422
    assert "root:" not in await resp.text()


async def test_export_alert_update_and_cancel_validate(client, op):
    doc = cap_doc("<circle>52.0486,5.7962 1.5</circle>")
    alert = await (
        await client.post("/api/v1/alerts", data=doc, headers={**op, "Content-Type": "application/cap+xml"})
    ).json()
    resp = await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)
    assert resp.status == 200 and resp.content_type == "application/cap+xml"
    xml = await resp.read()
    validate_cap(xml)
    again = parse_cap(xml)
    assert again["target"]["type"] == "circle"
    assert again["target"]["radius_m"] == pytest.approx(1500)
    resp = await client.get(f"/api/v1/alerts/{alert['id']}/cap", params={"msg_type": "Update"}, headers=op)
    assert resp.status == 409
    await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    await client.post(f"/api/v1/alerts/{alert['id']}/close", json={"message": "Aangehouden."}, headers=op)
    resp = await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)
    xml = await resp.read()
    validate_cap(xml)
    assert b"<msgType>Update</msgType>" in xml and b"Aangehouden." in xml and b"<references>" in xml


# ------------------------------------------------------------------ issue 20, item 4


@pytest.mark.parametrize("settings_overrides", [{"cap": {"min_radius_m": 250}}], indirect=True)
async def test_a_point_takes_the_configured_minimum_radius(client, op):
    doc = cap_doc("<circle>52.0486,5.7962 0</circle>")
    resp = await client.post(
        "/api/v1/alerts", data=doc, headers={**op, "Content-Type": "application/cap+xml"}
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["target"]["radius_m"] == 250


async def test_cap_source_is_kept_and_named_in_the_export(client, op, db):
    doc = cap_doc("<circle>52.0486,5.7962 1.5</circle>")
    alert = await (
        await client.post("/api/v1/alerts", data=doc, headers={**op, "Content-Type": "application/cap+xml"})
    ).json()
    assert alert["cap_source"] == {
        "identifier": "meldkamer-2026-0042",
        "sender": "meldkamer@politie.example",
        "sent": "2026-11-28T09:00:00Z",
    }
    json_alert = await (
        await client.post(
            "/api/v1/alerts",
            json={
                k: alert[k] for k in ("level", "title", "message", "target", "channels", "expires_in_minutes")
            },
            headers=op,
        )
    ).json()
    assert json_alert["cap_source"] is None
    xml = await (await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)).read()
    validate_cap(xml)
    assert (
        b"<references>meldkamer@politie.example,meldkamer-2026-0042,2026-11-28T09:00:00+00:00</references>"
        in xml
    )
    row = await db.fetchrow(
        "SELECT cap_source_identifier, cap_source_sender FROM alerts WHERE id = $1", alert["id"]
    )
    assert tuple(row) == ("meldkamer-2026-0042", "meldkamer@politie.example")


def _sent(xml: bytes) -> str:
    return xml.split(b"<sent>", 1)[1].split(b"</sent>", 1)[0].decode()


async def test_the_alert_message_keeps_its_first_sent(client, op, db):
    doc = cap_doc("<circle>52.0486,5.7962 1.5</circle>")
    alert = await (
        await client.post("/api/v1/alerts", data=doc, headers={**op, "Content-Type": "application/cap+xml"})
    ).json()
    # the draft was made minutes before it is sent: its export's sent differs from sent_at
    await db.execute(
        "UPDATE alerts SET created_at = created_at - interval '5 minutes' WHERE id = $1", alert["id"]
    )
    draft = await (await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)).read()
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    assert resp.status < 300, await resp.text()
    after = await (
        await client.get(f"/api/v1/alerts/{alert['id']}/cap", params={"msg_type": "Alert"}, headers=op)
    ).read()
    assert _sent(after) == _sent(draft)
    await client.post(f"/api/v1/alerts/{alert['id']}/close", json={"message": "Aangehouden."}, headers=op)
    update = await (await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)).read()
    validate_cap(update)
    identifier = draft.split(b"<identifier>", 1)[1].split(b"</identifier>", 1)[0].decode()
    assert f",{identifier},{_sent(draft)}".encode() in update
