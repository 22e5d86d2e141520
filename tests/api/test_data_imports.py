"""Area and address imports into PostgreSQL, buurt placement, re-import of a newer map,
and the areas API."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import shapely

from burgerwacht.areas import service
from burgerwacht.geo import RD_NEW, WGS84, transform_geometry


def square(x0, y0, size):
    return [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]


def feature(props, geometry):
    return {"type": "Feature", "properties": props, "geometry": geometry}


def town(buurt_a_ring=None):
    """GM0001 with wijk WK000101: buurt A (a square with a hole) + enclave B in the hole
    + buurt C (a multipolygon), in RD New; and one self-intersecting buurt."""
    a = buurt_a_ring or square(100000, 400000, 1000)
    hole = square(100400, 400400, 200)
    c1, c2 = square(101000, 400000, 500), square(101500, 400500, 500)
    bowtie = [[102000, 400000], [102500, 400500], [102500, 400000], [102000, 400500], [102000, 400000]]
    feats = [
        feature(
            {"gemeentecode": "GM0001", "gemeentenaam": "Testdorp"},
            {"type": "Polygon", "coordinates": [square(100000, 400000, 2000)]},
        ),
        feature(
            {"WK_CODE": "WK000101", "WK_NAAM": "Dorp", "GM_CODE": "GM0001"},
            {"type": "Polygon", "coordinates": [square(100000, 400000, 2000)]},
        ),
        feature(
            {"buurtcode": "BU00010101", "buurtnaam": "A", "wijkcode": "WK000101", "gemeentecode": "GM0001"},
            {"type": "Polygon", "coordinates": [a, hole]},
        ),
        feature(
            {
                "buurtcode": "BU00010102",
                "buurtnaam": "Enclave",
                "wijkcode": "WK000101",
                "gemeentecode": "GM0001",
            },
            {"type": "Polygon", "coordinates": [hole]},
        ),
        feature(
            {"buurtcode": "BU00010103", "buurtnaam": "C", "wijkcode": "WK000101", "gemeentecode": "GM0001"},
            {"type": "MultiPolygon", "coordinates": [[c1], [c2]]},
        ),
        feature(
            {
                "buurtcode": "BU00010104",
                "buurtnaam": "Kapot",
                "wijkcode": "WK000101",
                "gemeentecode": "GM0001",
            },
            {"type": "Polygon", "coordinates": [bowtie]},
        ),
    ]
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:28992"}},
        "features": feats,
    }


ADDRESSES = """postcode,huisnummer,huisletter,huisnummertoevoeging,x,y
1111AA,1,,,100100,400100
1111AA,2,,,100500,400500
1111AA,3,B,2,101700,400700
1111AA,4,,,101200,400200
1111 ab,x,,,100100,400100
1111AB,5,,,,
0111AB,6,,,100100,400100
1111AB,7,,,999999,999999
"""


async def test_import_areas_and_addresses_into_buurten(db):
    report = await service.import_areas(db, town())
    assert report.imported == 5
    assert [p.code for p in report.problems] == ["BU00010104"]
    assert "Self-intersection" in report.problems[0].message
    assert await db.fetchval("SELECT count(*) FROM areas WHERE code = 'BU00010104'") == 0

    report = await service.import_addresses(db, ADDRESSES.splitlines(keepends=True))
    assert report.imported == 4
    bad_lines = sorted(p.line_or_index for p in report.problems)
    assert bad_lines == [6, 7, 8, 9]
    placed = dict(await db.fetch("SELECT house_number, buurt_code FROM addresses WHERE postcode = '1111AA'"))
    assert placed == {1: "BU00010101", 2: "BU00010102", 3: "BU00010103", 4: "BU00010103"}
    row = await db.fetchrow(
        "SELECT wijk_code, municipality_code, house_letter, addition FROM addresses "
        "WHERE postcode = '1111AA' AND house_number = 3"
    )
    assert tuple(row) == ("WK000101", "GM0001", "B", "2")
    # the GiST index answers a circle query
    n = await db.fetchval(
        "SELECT count(*) FROM addresses WHERE location <@ circle(point(100100, 400100), 50)"
    )
    assert n == 1


async def test_wgs84_file_gives_the_same_placement(db):
    rd = town()
    wgs = json.loads(json.dumps(rd))
    del wgs["crs"]
    for f in wgs["features"]:
        geom = transform_geometry(shapely.geometry.shape(f["geometry"]), RD_NEW, WGS84)
        f["geometry"] = json.loads(json.dumps(shapely.geometry.mapping(geom)))  # as read from a file
    report = await service.import_areas(db, wgs)
    assert report.imported == 5
    await service.import_addresses(db, ADDRESSES.splitlines(keepends=True))
    placed = dict(await db.fetch("SELECT house_number, buurt_code FROM addresses WHERE postcode = '1111AA'"))
    assert placed == {1: "BU00010101", 2: "BU00010102", 3: "BU00010103", 4: "BU00010103"}


async def test_reimporting_a_newer_map_moves_addresses(db):
    await service.import_areas(db, town())
    await service.import_addresses(db, ADDRESSES.splitlines(keepends=True))
    newer = town()
    newer["features"] = [f for f in newer["features"] if f["properties"].get("buurtcode") != "BU00010102"]
    # the enclave is merged into A (no hole any more); A also grows over C's first part
    for f in newer["features"]:
        p = f["properties"]
        if p.get("buurtcode") == "BU00010101":
            f["geometry"] = {"type": "Polygon", "coordinates": [square(100000, 400000, 1000)]}
            f["geometry"]["coordinates"][0] = [
                [100000, 400000],
                [101500, 400000],
                [101500, 401000],
                [100000, 401000],
                [100000, 400000],
            ]
        if p.get("buurtcode") == "BU00010103":
            f["geometry"] = {"type": "Polygon", "coordinates": [square(101500, 400500, 500)]}
    report = await service.import_areas(db, newer)
    assert report.removed == 1  # BU00010102 is gone
    placed = dict(await db.fetch("SELECT house_number, buurt_code FROM addresses WHERE postcode = '1111AA'"))
    assert placed == {1: "BU00010101", 2: "BU00010101", 3: "BU00010103", 4: "BU00010101"}
    assert report.reassigned == 2


async def test_cli_imports_report_bad_rows_with_line_numbers(db_url, tmp_path):
    areas_file = tmp_path / "areas.geojson"
    areas_file.write_text(json.dumps(town()))
    csv_file = tmp_path / "addresses.csv"
    csv_file.write_text(ADDRESSES)
    env = {"BURGERWACHT_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "import-areas", str(areas_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "5 imported, 1 skipped" in proc.stdout
    assert "BU00010104" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "import-addresses", str(csv_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "4 stored, 4 bad rows" in proc.stdout
    for line in (6, 7, 8, 9):
        assert f"line {line}" in proc.stderr


async def test_areas_api_returns_wgs84_geojson(client, staff):
    headers = await staff("analyst", "GM9999")
    resp = await client.get(
        "/api/v1/areas", params={"municipality": "GM9999", "level": "buurt"}, headers=headers
    )
    assert resp.status == 200
    doc = await resp.json()
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == 12
    eiland = next(f for f in doc["features"] if f["id"] == "BU99990302")
    assert eiland["properties"]["name"] == "Eiland" and eiland["properties"]["addresses"] == 16
    havenkom = next(f for f in doc["features"] if f["id"] == "BU99990301")
    assert len(havenkom["geometry"]["coordinates"]) == 2  # outer ring + the hole
    lon, lat = havenkom["geometry"]["coordinates"][0][0]
    assert 5.7 < lon < 5.9 and 52.0 < lat < 52.1
    total = sum(f["properties"]["addresses"] for f in doc["features"])
    assert total == 2964
    resp = await client.get("/api/v1/areas", params={"municipality": "Utrecht"}, headers=headers)
    assert resp.status == 422
    resp = await client.get("/api/v1/areas", params={"municipality": "GM9999"})
    assert resp.status == 401


async def test_targeting_follows_a_newer_map_and_stop_start(db):
    """Enrolments carry a copy of their address's place for fast targeting (sql/0008):
    a re-import that moves an address to another buurt, and STOP/START, change who an
    alert to that buurt reaches."""
    from burgerwacht.alerts import store as alerts_store
    from burgerwacht.alerts.targets import CODES, Resolved
    from tests.helpers.alerting import enrol

    await service.import_areas(db, town())
    await service.import_addresses(db, ADDRESSES.splitlines(keepends=True))
    enclave = await db.fetchval("SELECT id FROM addresses WHERE postcode = '1111AA' AND house_number = 2")
    rid = await enrol(db, "+31610000001", enclave)

    async def reached(code: str) -> int:
        query = alerts_store.RecipientQuery(
            alert_id=0,
            target=Resolved(CODES, [code]),
            channels=["sms"],
            scope=None,
            level="missing_child",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            regular_per_day=3,
        )
        _groups, n = await alerts_store.recipient_counts(db, query)
        return n

    assert (await reached("BU00010102"), await reached("BU00010101")) == (1, 0)
    newer = town()
    newer["features"] = [f for f in newer["features"] if f["properties"].get("buurtcode") != "BU00010102"]
    for f in newer["features"]:
        if f["properties"].get("buurtcode") == "BU00010101":
            f["geometry"] = {"type": "Polygon", "coordinates": [square(100000, 400000, 1000)]}
    await service.import_areas(db, newer)
    assert (await reached("BU00010102"), await reached("BU00010101")) == (0, 1)

    await db.execute("UPDATE residents SET status = 'stopped' WHERE id = $1", rid)
    assert await reached("BU00010101") == 0
    await db.execute("UPDATE residents SET status = 'active' WHERE id = $1", rid)
    assert await reached("BU00010101") == 1
