"""The corridor target (a band of ``width_m`` around a line): who it reaches, the 422s,
the scope check, the preview's area, CAP export, OpenAPI."""

from __future__ import annotations

import pytest
import shapely

from burgerwacht.alerts.targets import TARGETS, CorridorTarget
from burgerwacht.cap import export_cap, parse_cap, validate_cap
from tests.helpers.alerting import address, alert_body, create, enrol, numbers, settled


@pytest.fixture
def service_roles():
    return {"web", "worker"}


WIDTH = 100  # metres: 50 on each side of the line (the next street lies 41–75 m away)


def phone(i: int) -> str:
    return f"+316200{i:05d}"


async def street(db) -> tuple[list[dict], shapely.LineString]:
    """A line along the 9991AA street (three of its demo addresses) in WGS84 and RD."""
    points = [await address(db, "9991AA", n) for n in (75, 78, 82)]
    return points, shapely.LineString([(p["x"], p["y"]) for p in points])


async def by_distance(db, line: shapely.LineString) -> list[tuple[float, int]]:
    rows = await db.fetch("SELECT id, location FROM addresses")
    return sorted((line.distance(shapely.Point(r["location"].x, r["location"].y)), r["id"]) for r in rows)


def corridor(points: list[dict], width_m: float = WIDTH) -> dict:
    return {"type": "corridor", "line": [[p["lon"], p["lat"]] for p in points], "width_m": width_m}


async def test_corridor_reaches_those_within_half_the_width(client, sandbox, db, op):
    points, line = await street(db)
    near = await by_distance(db, line)
    inside = [(d, aid) for d, aid in near if d <= WIDTH / 2 - 1]
    just_outside = [aid for d, aid in near if WIDTH / 2 + 1 <= d <= WIDTH][:3]
    assert len(inside) >= 4 and inside[-1][0] > 40 and len(just_outside) == 3, near[:20]
    for i, (_d, aid) in enumerate(inside):
        await enrol(db, phone(i), aid)
    for i, aid in enumerate(just_outside):
        await enrol(db, phone(100 + i), aid)

    alert = await create(client, op, alert_body(corridor(points)))
    assert alert["target"]["type"] == "corridor" and alert["target"]["width_m"] == WIDTH
    assert alert["municipalities"] == ["GM9999"]
    assert alert["area"]["geometry"]["type"] == "Polygon"
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)
    assert resp.status == 200, await resp.text()
    preview = await resp.json()
    assert preview["recipients"] == {"total": len(inside), "sms": len(inside), "voice": 0}
    # the area the console draws: the band, in WGS84, holding the line and not much more
    band = shapely.geometry.shape(preview["area"]["geometry"])
    assert preview["area"]["properties"]["type"] == "corridor"
    assert all(band.contains(shapely.Point(p["lon"], p["lat"])) for p in points)

    resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    assert resp.status == 202
    await settled(client, op, alert["id"])
    assert numbers(await sandbox.outbound()) == sorted(phone(i) for i in range(len(inside)))


async def test_corridor_scope_is_checked(client, db, staff):
    points, _line = await street(db)
    other = await staff("operator", "GM0363")
    resp = await client.post("/api/v1/alerts", json=alert_body(corridor(points)), headers=other)
    assert resp.status == 403
    assert (await resp.json())["type"].endswith("/forbidden-scope")


BAD = [
    ({"line": [[5.8, 52.05]]}, "line"),
    ({"line": [[5.8, 52.05], [5.8, 95]]}, "line"),
    ({"line": [[5.8, 52.05], [185, 52.05]]}, "line"),
    ({"line": [[5.8, 52.05], [5.81]]}, "line"),
    ({"line": [[5.8 + i / 1e4, 52.05] for i in range(501)]}, "line"),
    ({"line": [[2.35, 48.85], [2.36, 48.85]]}, "outside the supported area"),
    ({"line": [[5.8, 52.05], [5.8, 52.05]]}, "no length"),
    ({"line": [[4.0, 52.0], [5.5, 52.0]]}, "longer than the maximum"),
    ({"width_m": 5}, "width_m"),
    ({"width_m": 50_000}, "width_m"),
    ({"width_m": "wide"}, "width_m"),
    ({"radius_m": 100}, "radius_m"),
    # a loop whose band encloses a hole
    (
        {"line": [[5.80, 52.05], [5.81, 52.05], [5.81, 52.06], [5.80, 52.06], [5.80, 52.05]]},
        "encloses",
    ),
]


@pytest.mark.parametrize(("patch", "needle"), BAD)
async def test_bad_corridors_are_422_naming_the_field(client, db, op, patch, needle):
    target = {"type": "corridor", "line": [[5.80, 52.05], [5.81, 52.05]], "width_m": WIDTH, **patch}
    resp = await client.post("/api/v1/alerts", json=alert_body(target), headers=op)
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert needle in problem["detail"] or any(needle in e["loc"] for e in problem.get("errors", []))
    assert await db.fetchval("SELECT count(*) FROM alerts") == 0


async def test_width_above_the_configured_radius_is_422(client, db, op):
    target = {"type": "corridor", "line": [[5.80, 52.05], [5.81, 52.05]], "width_m": 20_000}
    resp = await client.post("/api/v1/alerts", json=alert_body(target), headers=op)
    assert resp.status == 201  # half of it is the default maximum radius, 10 km
    target["width_m"] = 20_000.5
    resp = await client.post("/api/v1/alerts", json=alert_body(target), headers=op)
    assert resp.status == 422


async def test_corridor_exports_as_a_valid_cap_polygon(client, db, op):
    points, _line = await street(db)
    alert = await create(client, op, alert_body(corridor(points)))
    resp = await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)
    assert resp.status == 200
    xml = await resp.read()
    validate_cap(xml)
    assert b"<circle>" not in xml and xml.count(b"<polygon>") == 1
    again = parse_cap(xml)["target"]  # CAP has no corridor: it comes back as its outline
    assert again["type"] == "polygon"
    ring = again["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) > 10
    outline = shapely.Polygon(ring)
    assert all(outline.contains(shapely.Point(p["lon"], p["lat"])) for p in points)


def test_corridor_cap_export_without_a_database():
    target = {"type": "corridor", "line": [[5.80, 52.05], [5.81, 52.05], [5.81, 52.06]], "width_m": 100}
    alert = {
        "id": 7,
        "level": "regular",
        "title": "Vluchtende auto",
        "message": "Grijze auto richting de A12.",
        "target": target,
        "channels": ["sms"],
        "reference": "K7Q",
        "created_at": "2026-05-01T12:00:00+00:00",
    }
    xml = export_cap(alert, msg_type="Alert", sender="burgerwacht@example.nl")
    validate_cap(xml)
    band = CorridorTarget.model_validate(target).outline()
    # the band is 100 m wide: about 50 m (≈ 0.00045° of latitude) beyond the line's ends
    assert band.bounds[3] == pytest.approx(52.06 + 50 / 111_320, abs=2e-5)


async def test_openapi_describes_the_corridor(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    text = str(doc)
    assert "corridor" in text
    schemas = doc.get("components", {}).get("schemas", {})
    corridor_schema = next(s for name, s in schemas.items() if name.startswith("CorridorTarget"))
    width = corridor_schema["properties"]["width_m"]
    assert (width["minimum"], width["maximum"]) == (10, 20_000)
    assert corridor_schema["properties"]["line"]["minItems"] == 2
    assert corridor_schema["properties"]["line"]["maxItems"] == 500
    assert set(TARGETS) == {"circle", "polygon", "areas", "corridor"}


async def test_all_targets_preview_an_area(client, db, op):
    centre = await address(db, "9991AA", 75)
    await enrol(db, phone(1), centre["id"])
    d = 0.0005
    ring = [
        [centre["lon"] - d, centre["lat"] - d],
        [centre["lon"] + d, centre["lat"] - d],
        [centre["lon"] + d, centre["lat"] + d],
        [centre["lon"] - d, centre["lat"] + d],
        [centre["lon"] - d, centre["lat"] - d],
    ]
    targets = [
        {"type": "circle", "center": {"lat": centre["lat"], "lon": centre["lon"]}, "radius_m": 100},
        {"type": "polygon", "coordinates": [ring]},
        {"type": "areas", "codes": [centre["buurt"]]},
    ]
    for target in targets:
        alert = await create(client, op, alert_body(target))
        preview = await (await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)).json()
        area = preview["area"]
        assert area["type"] == "Feature" and area["properties"]["type"] == target["type"]
        if target["type"] == "areas":
            assert area["geometry"] is None and area["properties"]["codes"] == [centre["buurt"]]
        else:
            shape = shapely.geometry.shape(area["geometry"])
            assert shape.contains(shapely.Point(centre["lon"], centre["lat"]))
