"""Alert templates through HTTP: CRUD with scope rules, malformed placeholders, unique
names, alerts made from a template (filled texts up to the SMS at the simulator),
missing and unknown fields, overrides, and the starter set."""

from __future__ import annotations

import pytest

from burgerwacht.templates import service as templates
from tests.helpers.alerting import address, addresses_near, circle, enrol, settled

URL = "/api/v1/templates"
OTHER = "GM0363"


@pytest.fixture
def service_roles():
    return {"web", "worker"}


def tpl(**kw):
    return {
        "name": "Verdachte persoon",
        "municipality": "GM9999",
        "level": "regular",
        "title": "Let op bij {plek}",
        "message": "Wij zoeken {wie} bij {plek}. Ziet u iemand? Bel 112. Tekst met {{accolades}}.",
        "channels": ["sms"],
        "expires_in_minutes": 60,
        "radius_m": 150,
        **kw,
    }


async def _create(client, headers, body) -> dict:
    resp = await client.post(URL, json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _names(client, headers) -> list[str]:
    resp = await client.get(URL, headers=headers)
    assert resp.status == 200, await resp.text()
    return [t["name"] for t in (await resp.json())["items"]]


async def test_crud_with_scope_rules(client, db, op, staff):
    created = await _create(client, op, tpl(voice_message="Let op. Wij zoeken {wie}. Bel {nummer}."))
    assert created["placeholders"] == ["nummer", "plek", "wie"]
    assert created["municipality"] == "GM9999" and created["channels"] == ["sms"]
    url = f"{URL}/{created['id']}"
    assert (await (await client.get(url, headers=op)).json())["title"] == "Let op bij {plek}"

    # an operator of another municipality neither sees nor touches it, nor writes for GM9999
    other = await staff("operator", OTHER)
    assert await _names(client, other) == []
    for method in ("get", "delete"):
        assert (await getattr(client, method)(url, headers=other)).status == 404
    assert (await client.patch(url, json={"title": "x"}, headers=other)).status == 404
    resp = await client.post(URL, json=tpl(name="Ander"), headers=other)
    assert resp.status == 403 and "GM9999" in (await resp.json())["detail"]
    # an analyst has no business here
    analyst = await staff("analyst", "GM9999")
    assert (await client.get(URL, headers=analyst)).status == 403
    assert (await client.post(URL, json=tpl(name="A"), headers=analyst)).status == 403
    assert (await client.get(url, headers=analyst)).status == 403

    # national templates: admins only, seen by every operator, read-only to them
    resp = await client.post(URL, json=tpl(name="Landelijk", municipality=None), headers=op)
    assert resp.status == 403 and "admin" in (await resp.json())["detail"]
    admin = await staff("admin", OTHER)
    national = await _create(client, admin, tpl(name="Landelijk", municipality=None))
    assert national["municipality"] is None
    assert await _names(client, other) == ["Landelijk"]
    assert await _names(client, op) == ["Landelijk", "Verdachte persoon"]
    assert (await client.patch(f"{URL}/{national['id']}", json={"title": "x"}, headers=op)).status == 403
    assert (await client.delete(f"{URL}/{national['id']}", headers=op)).status == 403
    # admins see and manage all, whatever their own municipalities
    assert sorted(await _names(client, admin)) == ["Landelijk", "Verdachte persoon"]
    resp = await client.patch(url, json={"title": "Gezocht: {wie}", "voice_message": ""}, headers=admin)
    assert resp.status == 200, await resp.text()
    changed = await resp.json()
    assert changed["title"] == "Gezocht: {wie}" and changed["voice_message"] is None
    assert changed["placeholders"] == ["plek", "wie"]
    assert changed["updated_at"] > created["updated_at"]
    # operators manage their own: null leaves a field as it is, 0 removes the radius
    resp = await client.patch(url, json={"expires_in_minutes": 30, "radius_m": 0, "level": None}, headers=op)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["expires_in_minutes"], body["radius_m"], body["level"]) == (30, None, "regular")
    # moving it out of one's scope is refused
    assert (await client.patch(url, json={"municipality": OTHER}, headers=op)).status == 403
    assert (await client.delete(url, headers=op)).status == 204
    assert (await client.get(url, headers=op)).status == 404
    actions = await db.fetch("SELECT action FROM audit_log WHERE action LIKE 'template.%' ORDER BY id")
    assert [a["action"] for a in actions] == [
        "template.create",
        "template.create",
        "template.update",
        "template.update",
        "template.delete",
    ]


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("Wij zoeken {naam", "'{' at character 12 is never closed"),
        ("Wij zoeken naam}", "'}' at character 16 closes no placeholder"),
        ("Wij zoeken {Naam}", "'{Naam}' at character 12 is not a placeholder"),
        ("Wij zoeken {1e_kind}", "'{1e_kind}' at character 12 is not a placeholder"),
        ("Wij zoeken {}", "'{}' at character 12 is not a placeholder"),
        ("Wij zoeken {naam van het kind}", "'{naam van het kind}' at character 12"),
    ],
)
async def test_malformed_placeholder_is_422_naming_it(client, db, op, message, problem):
    resp = await client.post(URL, json=tpl(message=message), headers=op)
    assert resp.status == 422, await resp.text()
    body = await resp.json()
    assert problem in body["detail"], body["detail"]
    assert body["errors"][0]["loc"] == "body.message"
    assert await db.fetchval("SELECT count(*) FROM alert_templates") == 0


async def test_template_texts_follow_the_alert_rules(client, op):
    for bad in (
        {"message": "x" * 641},
        {"title": "   "},
        {"channels": ["fax"]},
        {"level": "urgent"},
        {"title": "bel\x07"},
        {"expires_in_minutes": 100000},
        {"radius_m": 50000},
        {"municipality": "Demostad"},
    ):
        resp = await client.post(URL, json=tpl(**bad), headers=op)
        assert resp.status == 422, (bad, await resp.text())
    literal = await _create(client, op, tpl(title="Actie {{oefening}}", message="Geen plekken {{hier}}."))
    assert literal["placeholders"] == []


async def test_duplicate_name_is_409(client, op, staff):
    first = await _create(client, op, tpl())
    resp = await client.post(URL, json=tpl(name="VERDACHTE PERSOON"), headers=op)
    assert resp.status == 409, await resp.text()
    assert "already has a template named" in (await resp.json())["detail"]
    # the same name in another municipality is another template
    admin = await staff("admin", "GM9999")
    await _create(client, admin, tpl(municipality=OTHER))
    second = await _create(client, op, tpl(name="Tweede"))
    resp = await client.patch(f"{URL}/{second['id']}", json={"name": "verdachte persoon"}, headers=op)
    assert resp.status == 409
    assert (await (await client.get(f"{URL}/{first['id']}", headers=op)).json())[
        "name"
    ] == "Verdachte persoon"


async def test_alert_from_template_is_filled_and_the_sms_carries_it(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    inside = (await addresses_near(db, centre["x"], centre["y"], 150))[:2]
    for i, aid in enumerate(inside):
        await enrol(db, f"+3161200000{i}", aid)
    template = await _create(client, op, tpl())
    target = {"type": "circle", "center": {"lat": centre["lat"], "lon": centre["lon"]}}  # no radius_m
    resp = await client.post(
        "/api/v1/alerts",
        json={
            "template_id": template["id"],
            "fields": {"wie": "een man in een blauwe jas", "plek": "het station"},
            "target": target,
        },
        headers=op,
    )
    assert resp.status == 201, await resp.text()
    alert = await resp.json()
    assert alert["title"] == "Let op bij het station"
    filled = (
        "Wij zoeken een man in een blauwe jas bij het station. Ziet u iemand? Bel 112. Tekst met {accolades}."
    )
    assert alert["message"] == filled
    assert alert["template_id"] == template["id"]
    assert (alert["level"], alert["channels"], alert["expires_in_minutes"]) == ("regular", ["sms"], 60)
    assert alert["target"]["radius_m"] == 150  # the template's radius
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    assert resp.status == 202
    await settled(client, op, alert["id"])
    sent = await sandbox.outbound()
    assert len(sent) == 2
    assert all(m["body"] == f"Burgerwacht {alert['reference']}: {filled}" for m in sent), sent
    # deleting the template later keeps the alert, without the link
    assert (await client.delete(f"{URL}/{template['id']}", headers=op)).status == 204
    again = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
    assert again["template_id"] is None and again["message"] == filled


async def test_missing_and_unknown_fields_are_422_and_nothing_is_stored(client, db, op):
    centre = await address(db, "9991AA", 75)
    template = await _create(client, op, tpl())
    tid = template["id"]
    resp = await client.post(
        "/api/v1/alerts",
        json={"template_id": tid, "fields": {"wie": "een man"}, "target": circle(centre, 200)},
        headers=op,
    )
    assert resp.status == 422, await resp.text()
    body = await resp.json()
    assert f"fields.plek is required by template {tid}" in body["detail"]
    assert body["errors"][0]["loc"] == "body.fields.plek"
    resp = await client.post(
        "/api/v1/alerts",
        json={
            "template_id": tid,
            "fields": {"wie": "een man", "plek": "het station", "kleur": "rood"},
            "target": circle(centre, 200),
        },
        headers=op,
    )
    assert resp.status == 422
    detail = (await resp.json())["detail"]
    assert f"fields.kleur: template {tid} has no placeholder {{kleur}} (it has: plek, wie)" in detail
    # a value must be one line of at most 200 characters
    for value in ("a\nb", "x" * 201, ""):
        resp = await client.post(
            "/api/v1/alerts",
            json={
                "template_id": tid,
                "fields": {"wie": value, "plek": "hier"},
                "target": circle(centre, 200),
            },
            headers=op,
        )
        assert resp.status == 422, value
        assert (await resp.json())["errors"][0]["loc"] == "body.fields.wie"
    # the filled text must pass the alert's own limits
    long = await _create(client, op, tpl(name="Lang", message="Wij zoeken {wie}. " + "Let goed op. " * 40))
    resp = await client.post(
        "/api/v1/alerts",
        json={
            "template_id": long["id"],
            "fields": {"wie": "x" * 200, "plek": "hier"},
            "target": circle(centre, 200),
        },
        headers=op,
    )
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["loc"] == "body.message"
    # a circle without radius needs a template that has one
    no_radius = await _create(client, op, tpl(name="Zonder straal", radius_m=None))
    resp = await client.post(
        "/api/v1/alerts",
        json={
            "template_id": no_radius["id"],
            "fields": {"wie": "een man", "plek": "hier"},
            "target": {"type": "circle", "center": {"lat": centre["lat"], "lon": centre["lon"]}},
        },
        headers=op,
    )
    assert resp.status == 422 and (await resp.json())["errors"][0]["loc"] == "body.target.circle.radius_m"
    assert await db.fetchval("SELECT count(*) FROM alerts") == 0


async def test_request_fields_override_the_template(client, db, op):
    centre = await address(db, "9991AA", 75)
    template = await _create(client, op, tpl(voice_message="Wij zoeken {wie}."))
    resp = await client.post(
        "/api/v1/alerts",
        json={
            "template_id": template["id"],
            # the message is given: only the title's placeholder is needed, {wie} is not
            "fields": {"plek": "de markt"},
            "message": "Eigen tekst {zonder} invullen.",
            "voice_message": "Eigen gesproken tekst.",
            "channels": ["sms", "voice"],
            "expires_in_minutes": 15,
            "target": circle(centre, 300),
        },
        headers=op,
    )
    assert resp.status == 201, await resp.text()
    alert = await resp.json()
    assert alert["title"] == "Let op bij de markt"
    assert alert["message"] == "Eigen tekst {zonder} invullen."
    assert alert["voice_message"] == "Eigen gesproken tekst."
    assert (alert["channels"], alert["expires_in_minutes"]) == (["sms", "voice"], 15)
    assert alert["target"]["radius_m"] == 300  # the request's radius wins


async def test_a_template_outside_scope_is_404_for_alerts(client, db, op, staff):
    centre = await address(db, "9991AA", 75)
    admin = await staff("admin", OTHER)
    foreign = await _create(client, admin, tpl(municipality=OTHER))
    body = {"template_id": foreign["id"], "fields": {"wie": "x", "plek": "y"}, "target": circle(centre, 200)}
    resp = await client.post("/api/v1/alerts", json=body, headers=op)
    assert resp.status == 404 and "no template" in (await resp.json())["detail"]
    resp = await client.post("/api/v1/alerts", json={**body, "template_id": 999999}, headers=op)
    assert resp.status == 404


async def test_starter_set_loads_once_and_every_template_makes_an_alert(client, db, op):
    assert await templates.load_starters(db) == (5, 0)
    assert await templates.load_starters(db) == (0, 5)  # idempotent
    resp = await client.get(URL, headers=op)
    items = {t["name"]: t for t in (await resp.json())["items"]}
    assert set(items) == {
        "Vermist kind",
        "Vermiste oudere met dementie",
        "Overval met vluchtende verdachte",
        "Woninginbraak",
        "Doorrijden na ongeval",
    }
    assert items["Vermist kind"]["placeholders"] == ["kenmerken", "leeftijd", "naam", "plek", "tijd"]
    assert items["Woninginbraak"]["placeholders"] == ["kenmerken", "straat"]
    assert items["Vermist kind"]["level"] == "missing_child"
    assert all(t["municipality"] is None and t["placeholders"] for t in items.values())
    centre = await address(db, "9991AA", 75)
    target = {"type": "circle", "center": {"lat": centre["lat"], "lon": centre["lon"]}}
    for t in items.values():
        fields = {name: "voorbeeld" for name in t["placeholders"]}
        body = {"template_id": t["id"], "fields": fields, "target": target}
        if t["level"] == "missing_child":
            resp = await client.post("/api/v1/alerts", json=body, headers=op)
            assert resp.status == 422 and "family_consent" in (await resp.json())["detail"]
            body["family_consent"] = True
        resp = await client.post("/api/v1/alerts", json=body, headers=op)
        assert resp.status == 201, (t["name"], await resp.text())
        alert = await resp.json()
        assert "{" not in alert["message"] and alert["template_id"] == t["id"]
        assert alert["target"]["radius_m"] == t["radius_m"]


async def test_openapi_documents_templates_and_alerts_from_them(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/templates"])
    assert {"get", "patch", "delete"} <= set(doc["paths"]["/api/v1/templates/{template_id}"])
    message = schemas["TemplateIn"]["properties"]["message"]
    assert message["maxLength"] == 640 and "{name}" in message["description"]
    assert schemas["TemplateOut"]["properties"]["placeholders"]["type"] == "array"
    body = doc["paths"]["/api/v1/alerts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    refs = {b["$ref"].rsplit("/", 1)[1] for b in schemas[body["$ref"].rsplit("/", 1)[1]]["anyOf"]}
    assert refs == {"AlertIn", "AlertFromTemplate"}
    fields = schemas["AlertFromTemplate"]["properties"]["fields"]
    assert fields["maxProperties"] == 50
    assert next(iter(fields["patternProperties"].values()))["maxLength"] == 200
