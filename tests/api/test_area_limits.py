"""Limits of the area import and the area map (issue 20, items 10 and 11): vertex cap
with simplification, file limits, overlaps between municipalities, the WGS84 outline
cache off the event loop, and the map's scope."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import shapely

from burgerwacht.areas import service
from burgerwacht.areas.parse import read_area_features
from burgerwacht.config import AreaSettings
from burgerwacht.geo import RD_NEW, geometry_to_geojson

RD_CRS = {"type": "name", "properties": {"name": "EPSG:28992"}}


def circle(cx: float, cy: float, r: float, n: int) -> list[list[float]]:
    ring = [
        [cx + r * math.cos(2 * math.pi * i / n), cy + r * math.sin(2 * math.pi * i / n)] for i in range(n)
    ]
    return [*ring, ring[0]]


def star(cx: float, cy: float, n: int) -> list[list[float]]:
    """n vertices alternating 1000 m and 950 m from the centre: nothing to simplify at 1 m."""
    ring = []
    for i in range(n):
        r = 1000 if i % 2 == 0 else 950
        ring.append([cx + r * math.cos(2 * math.pi * i / n), cy + r * math.sin(2 * math.pi * i / n)])
    return [*ring, ring[0]]


def buurt(code: str, name: str, ring: list[list[float]]) -> dict:
    return {
        "type": "Feature",
        "properties": {"buurtcode": code, "buurtnaam": name},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def collection(*features: dict) -> dict:
    return {"type": "FeatureCollection", "crs": RD_CRS, "features": list(features)}


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


# ------------------------------------------------------------------------ vertex cap

LIMITS = AreaSettings(max_vertices=1000, simplify_tolerance_m=1.0)


async def test_a_huge_outline_is_simplified_and_reported(db):
    doc = collection(
        buurt("BU99980101", "Rond", circle(150000, 450000, 3000, 200_000)),
        buurt("BU99980102", "Gewoon", box(160000, 450000, 161000, 451000)),
    )
    report = await service.import_areas(db, doc, limits=LIMITS)
    assert report.imported == 2 and not report.problems and not report.refused
    [s] = report.simplified
    assert (s.code, s.vertices_before) == ("BU99980101", 200_001)
    assert 4 <= s.vertices_after <= 1000
    assert report.as_dict()["simplified"] == [
        {"code": "BU99980101", "vertices_before": 200_001, "vertices_after": s.vertices_after}
    ]
    stored = await db.fetchval("SELECT geometry FROM areas WHERE code = 'BU99980101'")
    shape = shapely.geometry.shape(stored)
    assert shapely.get_num_coordinates(shape) == s.vertices_after
    assert shape.is_valid
    # within the tolerance: the simplified outline stays within 1 m (+ mm rounding) of the circle
    exact = shapely.Polygon(circle(150000, 450000, 3000, 200_000))
    assert shape.hausdorff_distance(exact) <= 1.01


async def test_an_outline_still_too_big_after_simplifying_is_refused(db):
    doc = collection(
        buurt("BU99980101", "Ster", star(150000, 450000, 5000)),
        buurt("BU99980102", "Gewoon", box(160000, 450000, 161000, 451000)),
    )
    report = await service.import_areas(db, doc, limits=LIMITS)
    assert report.imported == 1 and report.skipped == 1
    [p] = report.problems
    assert (p.line_or_index, p.code) == (0, "BU99980101")
    assert "too many vertices: 5001" in p.message and "limit is 1000" in p.message
    assert await db.fetchval("SELECT count(*) FROM areas WHERE code = 'BU99980101'") == 0
    # no simplifying at all: refused outright
    doc = collection(buurt("BU99980103", "Rond", circle(150000, 450000, 3000, 2000)))
    report = await service.import_areas(
        db, doc, limits=AreaSettings(max_vertices=1000, simplify_tolerance_m=0)
    )
    assert report.imported == 0 and "simplifying is off" in report.problems[0].message


def test_the_default_cap_keeps_a_detailed_buurt_intact() -> None:
    """Real CBS buurten have up to a few thousand vertices: the default leaves them as they are."""
    doc = collection(buurt("BU99980101", "Fijn", circle(150000, 450000, 500, 5000)))
    features, _ = read_area_features(doc, target_epsg=RD_NEW)
    kept, simplified, refused = service.limit_vertices(
        features, AreaSettings().max_vertices, AreaSettings().simplify_tolerance_m
    )
    assert len(kept) == 1 and not simplified and not refused


async def test_too_many_features_or_bytes_are_refused_unread(db, tmp_path):
    doc = collection(
        *(
            buurt(f"BU999801{i:02d}", "x", box(150000 + i * 10, 450000, 150005 + i * 10, 450005))
            for i in range(5)
        )
    )
    report = await service.import_areas(db, doc, limits=AreaSettings(max_features=4))
    assert report.refused and report.imported == 0
    assert "5 features; the limit is 4" in report.problems[0].message
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps(doc))
    with pytest.raises(service.FileTooLarge, match=r"areas\.max_file_bytes"):
        service.load_geojson(str(path), max_bytes=100)
    assert service.load_geojson(str(path), max_bytes=10**6) == doc


async def test_cli_reports_simplified_areas(db_url, tmp_path):
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps(collection(buurt("BU99980101", "Rond", circle(150000, 450000, 3000, 30_000)))))
    env = {
        "BURGERWACHT_DATABASE_URL": db_url,
        "PATH": "/usr/bin:/bin",
        "BURGERWACHT_AREAS__MAX_VERTICES": "1000",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "import-areas", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 simplified" in proc.stdout
    assert "simplified BU99980101: 30001 →" in proc.stderr
    env["BURGERWACHT_AREAS__MAX_FILE_BYTES"] = "1000"
    proc = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "import-areas", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "areas.max_file_bytes" in proc.stderr


# --------------------------------------------------------------------------- overlaps

# Buurdorp (GM9998) east of Demostad: one buurt reaching 500 m into Demostad's Oost, one clean.
OVERLAPPING = box(185500, 449000, 188000, 451000)
CLEAN = box(188000, 449000, 190000, 451000)


def buurdorp(first=OVERLAPPING) -> dict:
    return collection(buurt("BU99980101", "Grensstreek", first), buurt("BU99980102", "Buurdorp", CLEAN))


async def placements(db) -> dict[int, tuple[str | None, str | None]]:
    rows = await db.fetch("SELECT id, buurt_code, municipality_code FROM addresses")
    return {r["id"]: (r["buurt_code"], r["municipality_code"]) for r in rows}


async def test_an_overlapping_map_of_another_municipality_is_refused(db):
    before = await placements(db)
    inside = shapely.Polygon(OVERLAPPING)
    in_overlap = await db.fetchval(
        "SELECT count(*) FROM addresses WHERE location <@ box(point(185500, 449000), point(188000, 451000))"
    )
    assert in_overlap > 0  # the test would show nothing otherwise
    report = await service.import_areas(db, buurdorp())
    assert report.refused and report.imported == 0
    assert {(o.code, o.other_code) for o in report.overlaps} >= {("BU99980101", "BU99990402")}
    assert all(
        o.municipality_code == "GM9998" and o.other_municipality_code == "GM9999" for o in report.overlaps
    )
    demo = {
        c: shapely.geometry.shape(g)
        for c, g in await db.fetch("SELECT code, geometry FROM areas WHERE level = 'buurt'")
    }
    for o in report.overlaps:
        assert o.area_m2 == pytest.approx(inside.intersection(demo[o.other_code]).area, rel=1e-6)
        assert o.area_m2 > 100
    assert report.as_dict()["overlaps"][0]["area_m2"] > 100
    assert await db.fetchval("SELECT count(*) FROM areas WHERE municipality_code = 'GM9998'") == 0
    assert await placements(db) == before

    # a shared border (touching, no area in common) is fine
    report = await service.import_areas(db, buurdorp(box(186100, 449000, 188000, 451000)))
    assert not report.overlaps and not report.refused and report.imported == 2
    assert await placements(db) == before


async def test_allow_overlap_imports_and_keeps_addresses_where_they_are(db):
    before = await placements(db)
    report = await service.import_areas(db, buurdorp(), allow_overlap=True)
    assert report.overlaps and not report.refused and report.imported == 2
    assert await placements(db) == before  # each address keeps the buurt that still contains it


async def test_overlap_within_one_file_is_refused(db):
    doc = collection(
        buurt("BU99980101", "A", box(150000, 450000, 151000, 451000)),
        buurt("BU99970101", "B", box(150500, 450000, 151500, 451000)),
    )
    report = await service.import_areas(db, doc)
    assert report.refused
    assert [(o.code, o.other_code, round(o.area_m2)) for o in report.overlaps] == [
        ("BU99980101", "BU99970101", 500_000)
    ]


async def test_reimporting_the_own_map_is_no_overlap(db):
    from burgerwacht.demo import DEMO_DIR

    report = await service.import_areas(db, service.load_geojson(str(DEMO_DIR / "areas.geojson")))
    assert not report.overlaps and not report.refused and report.imported == 17


async def test_cli_refuses_overlap_unless_allowed(db_url, tmp_path):
    path = tmp_path / "buurdorp.geojson"
    path.write_text(json.dumps(buurdorp()))
    env = {"BURGERWACHT_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "burgerwacht", "import-areas", str(path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "overlap: BU99980101 (GM9998) and BU99990402 (GM9999) share" in proc.stderr
    assert "--allow-overlap" in proc.stderr
    proc = subprocess.run([*cmd, "--allow-overlap"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "2 imported" in proc.stdout


# ------------------------------------------------------------------------- the map


async def test_areas_are_scoped_to_the_callers_municipalities(client, staff):
    other = await staff("operator", "GM0001")
    resp = await client.get("/api/v1/areas", params={"municipality": "GM9999"}, headers=other)
    assert resp.status == 403
    national = await staff("analyst", "*")
    resp = await client.get(
        "/api/v1/areas", params={"municipality": "GM9999", "level": "gemeente"}, headers=national
    )
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert [f["id"] for f in (await resp.json())["features"]] == ["GM9999"]
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert "caller's scope" in spec["paths"]["/api/v1/areas"]["get"]["summary"]


async def test_healthz_stays_fast_while_a_large_map_is_built(client, staff, db):
    """An outline stored before the vertex cap (or with a high cap) must not hold up the
    event loop: its conversion runs off the loop, once, and is cached."""
    big = shapely.Polygon(circle(150000, 450000, 3000, 200_000))
    await db.execute(
        "INSERT INTO areas (code, level, name, municipality_code, geometry, bbox) "
        "VALUES ('GM9998', 'gemeente', 'Groot', 'GM9998', $1, box(point(147000, 447000), point(153000, 453000)))",
        geometry_to_geojson(big, precision=3),
    )
    headers = await staff("analyst", "GM9998")
    url = f"http://127.0.0.1:{client.port}/healthz"
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:  # a real HTTP client in another thread, as a load balancer would be
        while not done.is_set():
            t0 = time.monotonic()
            with urllib.request.urlopen(url, timeout=60) as r:
                r.read()
            latencies.append(time.monotonic() - t0)
            time.sleep(0.02)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        await asyncio.sleep(0.2)
        timings = []
        for _ in range(2):
            t0 = time.monotonic()
            resp = await client.get("/api/v1/areas", params={"municipality": "GM9998"}, headers=headers)
            body = await resp.read()
            timings.append(time.monotonic() - t0)
            assert resp.status == 200
        await asyncio.sleep(0.2)
    finally:
        done.set()
        await asyncio.to_thread(thread.join, 70)
    # parsed only now: json.loads holds the GIL, and the test's client shares the server's process
    assert len(json.loads(body)["features"][0]["geometry"]["coordinates"][0]) == 200_001
    assert len(latencies) > 3
    assert max(latencies) < 1.0, (max(latencies), timings)
    assert timings[1] < timings[0]  # the second answer comes from the cache
