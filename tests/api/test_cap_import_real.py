"""CAP import of real-shaped messages (issue 20, item 4): an NL-Alert-like bilingual
message with several ``<area>``s, and messages shaped like the OASIS CAP 1.2 examples
(tests/data/cap/). Each validates against the OASIS schema as it is."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import shapely

from burgerwacht.cap import CapError, parse_cap, validate_cap

DATA = Path(__file__).resolve().parents[1] / "data" / "cap"
CET = timezone(timedelta(hours=1))
NOW_NL = datetime(2026, 11, 28, 10, 6, tzinfo=CET)


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.xml")))
def test_the_files_are_valid_cap(name):
    validate_cap(read(name))


def test_nl_alert_areas_with_polygons_become_their_union():
    draft = parse_cap(read("nl_alert_bilingual.xml"), now=NOW_NL)
    assert draft["title"] == "NL-Alert 28-11-2026 10:05: Brand in Demostad-Haven"  # the nl-NL info
    assert draft["message"].startswith("Er is een grote brand")
    target = draft["target"]
    assert target["type"] == "polygon" and len(target["coordinates"]) == 1
    union = shapely.Polygon(target["coordinates"][0])
    # the two adjacent areas, one polygon: both halves inside, the shared edge gone
    assert union.contains(shapely.Point(5.785, 52.053)) and union.contains(shapely.Point(5.795, 52.053))
    assert union.area == pytest.approx(0.006 * 0.02, rel=1e-3)
    assert draft["expires_in_minutes"] == 119
    assert (draft["cap_identifier"], draft["cap_sender"]) == (
        "2.49.0.0.528.0.NL.261128100512.4711",
        "nl-alert@nctv.minjenv.nl",
    )
    assert draft["cap_sent"] == datetime(2026, 11, 28, 10, 5, 12, tzinfo=CET)


def test_nl_alert_areas_with_cbs_codes_become_one_areas_target_and_the_event_the_title():
    draft = parse_cap(read("nl_alert_geocodes.xml"), now=NOW_NL)
    assert draft["target"] == {"type": "areas", "codes": ["BU99990301", "BU99990303", "WK999902"]}
    assert draft["title"] == "Drinkwater verontreinigd"  # no <headline>: the nl-NL event
    assert "Kook kraanwater" in draft["message"]


def test_a_point_epicentre_without_headline():
    draft = parse_cap(read("knmi_earthquake_point.xml"), now=NOW_NL)
    assert draft["target"] == {"type": "circle", "center": {"lat": 52.0486, "lon": 5.7962}, "radius_m": 100}
    assert draft["title"] == "Aardbeving M3.1 bij Demostad"
    assert draft["cap_status"] == "Exercise"
    assert (
        parse_cap(read("knmi_earthquake_point.xml"), now=NOW_NL, min_radius_m=2000)["target"]["radius_m"]
        == 2000
    )


def test_oasis_thunderstorm_polygon_with_same_geocodes():
    now = datetime(2003, 6, 17, 15, 0, tzinfo=timezone(timedelta(hours=-7)))
    draft = parse_cap(read("oasis_thunderstorm.xml"), now=now)
    assert draft["title"] == "SEVERE THUNDERSTORM WARNING"
    assert draft["target"]["type"] == "polygon"
    assert draft["target"]["coordinates"][0][0] == [-120.14, 38.47]
    assert draft["cap_sender"] == "KSTO@NWS.NOAA.GOV"


def test_oasis_earthquake_update_is_refused_but_its_point_is_readable():
    with pytest.raises(CapError, match="only Alert messages"):
        parse_cap(read("oasis_earthquake.xml"))
    as_alert = read("oasis_earthquake.xml").replace(b"<msgType>Update</msgType>", b"<msgType>Alert</msgType>")
    draft = parse_cap(as_alert, now=datetime(2003, 6, 11, 21, 0, tzinfo=timezone(timedelta(hours=-7))))
    assert draft["target"] == {
        "type": "circle",
        "center": {"lat": 32.9525, "lon": -115.5527},
        "radius_m": 100,
    }


def test_oasis_homeland_security_has_no_area_to_target():
    with pytest.raises(CapError) as info:
        parse_cap(read("oasis_homeland_security.xml"))
    assert info.value.element == "info/area" and "no circle, polygon or CBS geocode" in str(info.value)


# ------------------------------------------------------------------ over HTTP


async def _post(client, op, name: str):
    xml = read(name)
    # the files' expiry is fixed in time: the API reads it against the real clock
    xml = xml.replace(b"<expires>2026-11-28T12:05:00+01:00</expires>", b"")
    return await client.post(
        "/api/v1/alerts", data=xml, headers={**op, "Content-Type": "application/cap+xml"}
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("nl_alert_bilingual.xml", "polygon"),
        ("nl_alert_geocodes.xml", "areas"),
        ("knmi_earthquake_point.xml", "circle"),
    ],
)
async def test_real_shaped_messages_become_drafts(client, op, name, kind):
    resp = await _post(client, op, name)
    assert resp.status == 201, await resp.text()
    alert = await resp.json()
    assert alert["status"] == "draft" and alert["target"]["type"] == kind
    assert alert["cap_source"]["identifier"] and alert["cap_source"]["sender"]
    xml = await (await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)).read()
    validate_cap(xml)
    source = alert["cap_source"]
    assert f"<references>{source['sender']},{source['identifier']},".encode() in xml
