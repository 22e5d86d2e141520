"""Participation coverage: residents enrolled per buurt/wijk beside CBS KWB figures,
protected (noise, k rule, rounding, complementary suppression), as JSON and GeoJSON;
the KWB import command; the alert preview's low-coverage warning."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest

from burgerwacht.demo import DEMO_DIR
from burgerwacht.participation.service import import_kwb
from tests.helpers.alerting import alert_body, create, enrol
from tests.helpers.signals import possible

URL = "/api/v1/participation?municipality=GM9999"
BINNENSTAD, STATION, MARKT, EILAND = "BU99990101", "BU99990102", "BU99990103", "BU99990302"


async def load_kwb(db) -> None:
    result, errors = await import_kwb(db, (DEMO_DIR / "kwb.csv").read_text(encoding="utf-8"), year=2026)
    assert not errors and result["rows"] == 17, (result, errors)


async def addresses_in(db, buurt: str, n: int) -> list[int]:
    rows = await db.fetch("SELECT id FROM addresses WHERE buurt_code = $1 ORDER BY id LIMIT $2", buurt, n)
    assert len(rows) == n
    return [r["id"] for r in rows]


async def enrol_in(db, buurt: str, n: int, first: int, channels=("sms",), status="active") -> None:
    for i, aid in enumerate(await addresses_in(db, buurt, n)):
        await enrol(db, f"+316{first + i:08d}", aid, channels=channels, status=status)


async def seed(db) -> None:
    """Binnenstad 30 SMS + 10 voice + 5 both (and 3 who stopped), Stationsbuurt 20 SMS,
    Marktkwartier 2 SMS (hidden)."""
    await enrol_in(db, BINNENSTAD, 30, 1000)
    await enrol_in(db, BINNENSTAD, 10, 2000, channels=("voice",))
    await enrol_in(db, BINNENSTAD, 5, 3000, channels=("sms", "voice"))
    await enrol_in(db, BINNENSTAD, 3, 4000, status="stopped")
    await enrol_in(db, STATION, 20, 5000)
    await enrol_in(db, MARKT, 2, 6000)


async def test_participation_per_buurt_and_wijk_is_protected(client, staff, db):
    await load_kwb(db)
    await seed(db)
    an = await staff("analyst", "GM9999")
    resp = await client.get(URL + "&level=buurt", headers=an)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    # the signals' rules and p-table (burgerwacht/signals/privacy.py)
    assert doc["privacy"] == {"k": 5, "round_to": 5, "protection": 2, "noise": {"max": 3, "variance": 3.08}}
    rows = {i["area_code"]: i for i in doc["items"]}
    assert len(rows) == 12 and all(i["level"] == "buurt" for i in rows.values())
    b = rows[BINNENSTAD]
    assert b["area_name"] == "Binnenstad" and (b["inhabitants"], b["households"]) == (800, 500)
    # every figure is its own cell: true count plus its noise, rounded (stopped not counted)
    assert b["enrolled"] in possible(45) and b["sms"] in possible(35) and b["voice"] in possible(15)
    assert b["per_1000"] == round(1000 * b["enrolled"] / 800, 1) and not b["suppressed"]
    assert rows[STATION]["enrolled"] in possible(20)
    m = rows[MARKT]
    assert m["suppressed"] and m["enrolled"] is None and m["sms"] is None and m["per_1000"] is None
    assert m["inhabitants"] == 630  # public CBS figures stay
    assert rows[EILAND]["households"] is None and rows[EILAND]["enrolled"] is None  # "." in the KWB file

    wijken = {
        i["area_code"]: i for i in (await (await client.get(URL + "&level=wijk", headers=an)).json())["items"]
    }
    assert set(wijken) == {"WK999901", "WK999902", "WK999903", "WK999904"}
    centrum = wijken["WK999901"]
    assert centrum["inhabitants"] == 2110
    assert centrum["enrolled"] in possible(67) - {None} or centrum["suppressed"]
    if centrum["enrolled"] is not None:
        # Centrum minus its published buurten: what can the hidden Marktkwartier (2) be?
        # A published p had a noisy count p-2..p+2 and a true count 2 more either way.
        others = [rows[c]["enrolled"] for c in (BINNENSTAD, STATION)]
        if None not in others:
            lo = centrum["enrolled"] - 4 - sum(o + 4 for o in others)
            hi = centrum["enrolled"] + 4 - sum(o - 4 for o in others)
            candidates = set(range(max(lo, 0), min(hi, 8) + 1))
            assert 2 in candidates and len(candidates) >= 3, (lo, hi)
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'participation.view'") == 2
    assert not re.search(r"\+316\d{8}", await resp.text())


async def test_same_enrolments_same_figures_and_roles(client, staff, db):
    await load_kwb(db)
    await seed(db)
    an, op = await staff("analyst", "GM9999"), await staff("operator", "GM9999")
    first = await (await client.get(URL, headers=an)).json()
    assert await (await client.get(URL, headers=op)).json() == first  # operators read it too
    assert (await client.get(URL)).status == 401
    assert (await client.get(URL, headers=await staff("fieldworker", "GM9999"))).status == 403
    resp = await client.get(URL, headers=await staff("analyst", "GM0001"))
    assert resp.status == 403 and (await resp.json())["type"].endswith("forbidden-scope")
    for bad in ("?municipality=GM99", "?municipality=GM9999&level=gemeente", "?municipality=GM9999&x=1", ""):
        resp = await client.get("/api/v1/participation" + bad, headers=an)
        assert resp.status == 422, bad


async def test_without_kwb_figures_per_1000_is_unknown(client, staff, db):
    await seed(db)
    doc = await (await client.get(URL, headers=await staff("analyst", "GM9999"))).json()
    b = next(i for i in doc["items"] if i["area_code"] == BINNENSTAD)
    assert b["enrolled"] is not None and b["inhabitants"] is None and b["per_1000"] is None


@pytest.mark.parametrize("how", ["accept", "format"])
async def test_participation_geojson_for_a_map(client, staff, db, how):
    await load_kwb(db)
    await seed(db)
    an = await staff("analyst", "GM9999")
    plain = await (await client.get(URL + "&level=wijk", headers=an)).json()
    if how == "accept":
        resp = await client.get(URL + "&level=wijk", headers={**an, "Accept": "application/geo+json"})
    else:
        resp = await client.get(URL + "&level=wijk&format=geojson", headers=an)
    assert resp.status == 200 and resp.content_type == "application/geo+json"
    geo = await resp.json(content_type=None)
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 4
    for feature, item in zip(geo["features"], plain["items"], strict=True):
        assert feature["id"] == item["area_code"] and feature["properties"] == item
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        lon, lat = (
            feature["geometry"]["coordinates"][0][0][:2]
            if feature["geometry"]["type"] == "Polygon"
            else (feature["geometry"]["coordinates"][0][0][0][:2])
        )
        assert 5.7 < lon < 5.9 and 52.0 < lat < 52.1  # WGS84, not RD New


# ------------------------------------------------------------------ KWB import command


async def run_cli(db_url: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURGERWACHT_")}
    env["BURGERWACHT_DATABASE_URL"] = db_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from burgerwacht.cli import main; main()",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_import_kwb_command_all_or_nothing(db, db_url, tmp_path):
    bad = tmp_path / "kwb-bad.csv"
    bad.write_text(
        "gwb_code_10;regio;gm_naam;recs;gwb_code;a_inw;a_hh\n"
        "BU99990101;Binnenstad;Demostad;Buurt;BU99990101;800;500\n"
        "BU99990102;Stationsbuurt;Demostad;Buurt;BU99990102;veel;380\n"
        "WK999901;Centrum;Demostad;Gemeente;WK999901;2110;1210\n",
        encoding="utf-8",
    )
    rc, out, err = await run_cli(db_url, "import-kwb", str(bad))
    assert rc == 1, (out, err)
    assert "line 3: a_inw: 'veel' is not a whole number" in err and "line 4: recs" in err
    assert "2 line(s) with errors; nothing imported" in err
    assert await db.fetchval("SELECT count(*) FROM area_figures") == 0

    rc, out, err = await run_cli(db_url, "import-kwb", "--year", "2026", str(DEMO_DIR / "kwb.csv"))
    assert rc == 0, err
    assert "17 areas (17 new, 0 updated; 17 in the area map) for 1 municipalities" in out
    row = await db.fetchrow("SELECT * FROM area_figures WHERE code = 'BU99990302'")
    assert (row["level"], row["name"], row["inhabitants"], row["households"], row["year"]) == (
        "buurt",
        "Eiland",
        35,
        None,
        2026,
    )
    rc, out, err = await run_cli(db_url, "import-kwb", str(DEMO_DIR / "kwb.csv"))
    assert rc == 0 and "(0 new, 17 updated" in out
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'kwb.import'") == 2


# ------------------------------------------------------------------ alert preview


async def preview(client, op, target) -> dict:
    alert = await create(client, op, alert_body(target))
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_preview_warns_when_the_target_has_low_coverage(client, op, db):
    await enrol_in(db, BINNENSTAD, 2, 1000)
    await enrol_in(db, STATION, 60, 2000)
    target = {"type": "areas", "codes": [BINNENSTAD]}
    assert (await preview(client, op, target))["warnings"] == []  # no KWB figures: nothing to compare
    await load_kwb(db)
    body = await preview(client, op, target)
    assert body["recipients"]["total"] == 2
    (warning,) = body["warnings"]
    assert warning["code"] == "low-coverage" and warning["per_1000"] == 2.5  # 2 of 800 inhabitants
    assert warning["inhabitants"] == 800 and warning["threshold_per_1000"] == 25.0
    assert "andere kanalen" in warning["message"]
    # Stationsbuurt: 60 of 680 inhabitants (88 per 1,000) is fine
    assert (await preview(client, op, {"type": "areas", "codes": [STATION]}))["warnings"] == []
    # a circle over part of a buurt counts that part's share of its inhabitants
    a = await db.fetchrow(
        "SELECT location FROM addresses a WHERE buurt_code = $1 AND NOT EXISTS (SELECT 1 FROM "
        "resident_addresses ra WHERE ra.location <@ circle(a.location, 150)) ORDER BY id LIMIT 1",
        BINNENSTAD,
    )
    from burgerwacht.geo import rd_to_wgs84

    lon, lat = rd_to_wgs84(a["location"].x, a["location"].y)
    body = await preview(client, op, {"type": "circle", "center": {"lat": lat, "lon": lon}, "radius_m": 100})
    low = body["warnings"][0]
    assert low["code"] == "low-coverage" and 0 < low["inhabitants"] < 800


@pytest.mark.parametrize(
    "settings_overrides", [{"participation": {"low_coverage_per_1000": 0}}], indirect=True
)
async def test_low_coverage_threshold_is_configurable(client, op, db):
    await load_kwb(db)
    await enrol_in(db, BINNENSTAD, 1, 1000)
    assert (await preview(client, op, {"type": "areas", "codes": [BINNENSTAD]}))["warnings"] == []


async def test_demo_loads_kwb_figures_and_a_wijkagent(db, settings):
    from burgerwacht.demo import seed as demo_seed

    tokens = await demo_seed(db, settings)
    assert "wijkagent" in tokens
    assert await db.fetchval("SELECT count(*) FROM area_figures WHERE municipality_code = 'GM9999'") == 17
    row = await db.fetchrow("SELECT municipalities, wijken FROM staff_users WHERE role = 'wijkagent'")
    assert row["municipalities"] == ["GM9999"] and row["wijken"] == ["WK999901", "WK999902"]
    again = await demo_seed(db, settings)  # a second start adds nothing twice
    assert set(again) == set(tokens)
    assert await db.fetchval("SELECT count(*) FROM staff_users WHERE role = 'wijkagent'") == 1
