"""CBS area GeoJSON parsing and the synthetic demo data (pure, no database)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping

from burgerwacht.areas.parse import (
    AddressRow,
    ParseProblem,
    crs_to_epsg,
    read_address_rows,
    read_area_features,
)
from burgerwacht.geo import transform_geometry
from burgerwacht.residents.address import normalise_house_number

DEMO = Path(__file__).resolve().parents[2] / "burgerwacht" / "defaults" / "demo"
RD_CRS = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::28992"}}

# a buurt in RD New: a square with a hole plus a separate square
PART1 = shapely.Polygon(
    [(155000, 463000), (156000, 463000), (156000, 464000), (155000, 464000)],
    [[(155400, 463400), (155600, 463400), (155600, 463600), (155400, 463600)]],
)
PART2 = shapely.box(157000, 463000, 157500, 463500)
MULTI_RD = shapely.MultiPolygon([PART1, PART2])


def _geojson(geom: shapely.Geometry) -> dict[str, Any]:
    g = mapping(geom)
    return json.loads(json.dumps({"type": g["type"], "coordinates": g["coordinates"]}))


def _fc(features: list[dict[str, Any]], crs: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs is not None:
        data["crs"] = crs
    return data


def _feature(props: dict[str, Any], geom: shapely.Geometry | dict[str, Any] | None) -> dict[str, Any]:
    geometry = geom if isinstance(geom, dict) or geom is None else _geojson(geom)
    return {"type": "Feature", "properties": props, "geometry": geometry}


BUURT_PROPS = {
    "gemeentecode": "GM0307",
    "gemeentenaam": "Amersfoort",
    "wijkcode": "WK030701",
    "wijknaam": "Binnenstad",
    "buurtcode": "BU03070101",
    "buurtnaam": "Kern",
    "jaar": 2024,
}


def test_multipolygon_with_hole_in_rd() -> None:
    features, problems = read_area_features(_fc([_feature(BUURT_PROPS, MULTI_RD)], RD_CRS))
    assert problems == []
    (f,) = features
    assert (f.level, f.code, f.name, f.municipality_code, f.district_code, f.year) == (
        "buurt",
        "BU03070101",
        "Kern",
        "GM0307",
        "WK030701",
        2024,
    )
    assert isinstance(f.geometry, shapely.MultiPolygon)
    assert f.geometry.equals(MULTI_RD)
    assert len(f.geometry.geoms[0].interiors) == 1
    assert f.geometry.area == pytest.approx(1_000_000 - 40_000 + 250_000)


def test_multipolygon_with_hole_in_wgs84() -> None:
    wgs = transform_geometry(MULTI_RD, 28992, 4326)
    features, problems = read_area_features(_fc([_feature(BUURT_PROPS, wgs)]))  # RFC 7946: WGS84
    assert problems == []
    (f,) = features
    assert isinstance(f.geometry, shapely.MultiPolygon)
    assert f.geometry.equals_exact(MULTI_RD, tolerance=0.01)  # vertices back within 1 cm
    # or keep it in WGS84
    features, _ = read_area_features(_fc([_feature(BUURT_PROPS, wgs)]), target_epsg=4326)
    assert features[0].geometry.equals_exact(wgs, tolerance=1e-12)


@pytest.mark.parametrize(
    ("crs", "epsg"),
    [
        (RD_CRS, 28992),
        ({"type": "name", "properties": {"name": "EPSG:28992"}}, 28992),
        ({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG:6.3:28992"}}, 28992),
        ({"type": "EPSG", "properties": {"code": 28992}}, 28992),
        ({"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, 4326),
        ("EPSG:4326", 4326),
        (28992, 28992),
        ("28992", 28992),
        ({"type": "name", "properties": {"name": "no such crs"}}, None),
        ({"type": "link", "properties": {"href": "x"}}, None),
        (None, None),
    ],
)
def test_crs_to_epsg(crs: Any, epsg: int | None) -> None:
    assert crs_to_epsg(crs) == epsg


def test_crs_detection_order() -> None:
    rd = _feature(BUURT_PROPS, PART2)
    # the crs argument is used when the file has no crs member
    features, problems = read_area_features(_fc([rd]), crs=28992)
    assert problems == [] and features[0].geometry.equals(PART2)
    # the file's crs member wins over the argument
    features, problems = read_area_features(_fc([rd], RD_CRS), crs=4326)
    assert problems == [] and features[0].geometry.equals(PART2)
    # RD coordinates read as WGS84: a clear message, nothing imported
    features, problems = read_area_features(_fc([rd]))
    assert features == []
    assert problems[0].code == "BU03070101" and "crs=28992" in problems[0].message
    # an unknown crs member stops the import
    features, problems = read_area_features(_fc([rd], {"type": "name", "properties": {"name": "bogus"}}))
    assert features == [] and problems[0].line_or_index == -1 and "bogus" in problems[0].message


def test_outside_netherlands_reported() -> None:
    paris = shapely.box(2.30, 48.80, 2.40, 48.90)
    features, problems = read_area_features(_fc([_feature(BUURT_PROPS, paris)]))
    assert features == [] and "outside the Netherlands" in problems[0].message
    features, problems = read_area_features(_fc([_feature(BUURT_PROPS, paris)]), bounds=None)
    assert problems == [] and len(features) == 1


BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[155000, 463000], [156000, 464000], [156000, 463000], [155000, 464000], [155000, 463000]]
    ],
}
UNCLOSED = {
    "type": "Polygon",
    "coordinates": [[[155000, 463000], [156000, 463000], [156000, 464000], [155000, 464000]]],
}
TOO_FEW = {"type": "Polygon", "coordinates": [[[155000, 463000], [156000, 463000], [155000, 463000]]]}
HOLE_OUTSIDE = {
    "type": "Polygon",
    "coordinates": [
        _geojson(PART2)["coordinates"][0],
        [[150000, 463000], [150100, 463000], [150100, 463100], [150000, 463000]],
    ],
}


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (BOWTIE, "Self-intersection"),
        (UNCLOSED, "not closed"),
        (TOO_FEW, "too few points"),
        (HOLE_OUTSIDE, "Hole lies outside shell"),
        ({"type": "MultiPolygon", "coordinates": [BOWTIE["coordinates"]]}, "Self-intersection"),
        ({"type": "MultiPolygon", "coordinates": [_geojson(PART2)["coordinates"]] * 2}, "invalid geometry"),
        ({"type": "Point", "coordinates": [155000, 463000]}, "not supported"),
        ({"type": "Polygon", "coordinates": [[[155000, "x"], [1, 2], [3, 4], [155000, "x"]]]}, "numbers"),
        (None, "no geometry"),
    ],
)
def test_invalid_feature_reported_with_code_and_skipped(
    geometry: dict[str, Any] | None, message: str
) -> None:
    good = {**BUURT_PROPS, "buurtcode": "BU03070102"}
    data = _fc([_feature(BUURT_PROPS, geometry), _feature(good, PART2)], RD_CRS)
    features, problems = read_area_features(data)
    assert [f.code for f in features] == ["BU03070102"]
    (problem,) = problems
    assert (problem.line_or_index, problem.code) == (0, "BU03070101")
    assert message in problem.message


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        # CBS wijk- en buurtkaart style
        (
            {
                "GM_CODE": "GM0363",
                "GM_NAAM": "Amsterdam",
                "WK_CODE": "WK036300",
                "BU_CODE": "BU03630000",
                "BU_NAAM": "Kop Zeedijk",
                "JAAR": "2023",
            },
            ("buurt", "BU03630000", "Kop Zeedijk", "GM0363", "WK036300", 2023),
        ),
        (
            {"WK_CODE": "WK036300", "WK_NAAM": "Burgwallen-Oude Zijde", "GM_CODE": "GM0363"},
            ("wijk", "WK036300", "Burgwallen-Oude Zijde", "GM0363", None, None),
        ),
        (
            {"gm_code": "gm0363", "gm_naam": "Amsterdam"},
            ("gemeente", "GM0363", "Amsterdam", "GM0363", None, None),
        ),
        # PDOK gebiedsindelingen style
        (
            {"statcode": "BU03630000", "statnaam": "Kop Zeedijk", "jrstatcode": "2022BU03630000"},
            ("buurt", "BU03630000", "Kop Zeedijk", "GM0363", "WK036300", 2022),
        ),
        (
            {"statcode": "WK036300", "statnaam": "Burgwallen"},
            ("wijk", "WK036300", "Burgwallen", "GM0363", None, None),
        ),
        (
            {"statcode": "GM0363", "statnaam": "Amsterdam"},
            ("gemeente", "GM0363", "Amsterdam", "GM0363", None, None),
        ),
        # bare digits, missing parents and names derived
        (
            {"gemeentecode": "363", "gemeentenaam": "Amsterdam"},
            ("gemeente", "GM0363", "Amsterdam", "GM0363", None, None),
        ),
        ({"buurtcode": "BU03630001"}, ("buurt", "BU03630001", "BU03630001", "GM0363", "WK036300", None)),
    ],
)
def test_property_variants(props: dict[str, Any], expected: tuple[Any, ...]) -> None:
    features, problems = read_area_features(_fc([_feature(props, PART2)], RD_CRS))
    assert problems == []
    f = features[0]
    assert (f.level, f.code, f.name, f.municipality_code, f.district_code, f.year) == expected


@pytest.mark.parametrize(
    ("props", "message", "code"),
    [
        ({"buurtcode": "BU0363000"}, "not valid", "BU0363000"),
        ({"gemeentecode": "GMX363"}, "not valid", "GMX363"),
        ({"buurtcode": "BU03630001", "wijkcode": "WK036301"}, "does not match", "BU03630001"),
        ({"buurtcode": "BU03630001", "gemeentecode": "GM0364"}, "does not match", "BU03630001"),
        ({"wijkcode": "WK036301", "gemeentecode": "GM0364"}, "does not match", "WK036301"),
        ({"statcode": "XX0363"}, "does not start", "XX0363"),
        ({"statcode": "BU03630001", "buurtcode": "BU03630002"}, "contradicts", "BU03630001"),
        ({"naam": "nothing"}, "no area code", None),
    ],
)
def test_bad_codes(props: dict[str, Any], message: str, code: str | None) -> None:
    features, problems = read_area_features(_fc([_feature(props, PART2)], RD_CRS))
    assert features == []
    assert problems[0].code == code and message in problems[0].message


def test_duplicates_and_non_features() -> None:
    data = _fc(
        [_feature(BUURT_PROPS, PART2), _feature(BUURT_PROPS, PART2), {"type": "Point"}, "junk"], RD_CRS
    )
    features, problems = read_area_features(data)
    assert len(features) == 1
    assert [(p.line_or_index, p.code) for p in problems] == [(1, "BU03070101"), (2, None), (3, None)]
    assert "duplicate" in problems[0].message
    assert read_area_features({"type": "Feature"})[1][0].line_or_index == -1  # type: ignore[arg-type]
    assert read_area_features({"type": "FeatureCollection"})[1][0].line_or_index == -1


# ------------------------------------------------------------------------ demo data


@pytest.fixture(scope="module")
def demo_areas() -> dict[str, Any]:
    features, problems = read_area_features(json.loads((DEMO / "areas.geojson").read_text("utf-8")))
    assert problems == []
    return {f.code: f for f in features}


@pytest.fixture(scope="module")
def demo_addresses() -> list[AddressRow]:
    with (DEMO / "addresses.csv").open(encoding="utf-8") as fh:
        items = list(read_address_rows(fh))
    assert [i for i in items if isinstance(i, ParseProblem)] == []
    return items  # type: ignore[return-value]


def test_demo_areas_layout(demo_areas: dict[str, Any]) -> None:
    levels = [f.level for f in demo_areas.values()]
    assert (levels.count("gemeente"), levels.count("wijk"), levels.count("buurt")) == (1, 4, 12)
    assert demo_areas["GM9999"].name == "Demostad"
    assert {f.year for f in demo_areas.values()} == {2026}
    assert all(f.municipality_code == "GM9999" for f in demo_areas.values())
    assert isinstance(demo_areas["BU99990403"].geometry, shapely.MultiPolygon)
    host, enclave = demo_areas["BU99990301"].geometry, demo_areas["BU99990302"].geometry
    assert len(host.interiors) == 1
    assert shapely.Polygon(host.interiors[0]).equals(enclave)


def test_demo_buurten_tile_the_gemeente(demo_areas: dict[str, Any]) -> None:
    gemeente = demo_areas["GM9999"].geometry
    buurten = [f.geometry for f in demo_areas.values() if f.level == "buurt"]
    union = shapely.union_all(buurten)
    assert abs(union.area - gemeente.area) < 1.0
    assert union.symmetric_difference(gemeente).area < 1.0
    assert abs(sum(b.area for b in buurten) - gemeente.area) < 1.0  # no overlaps
    for a in buurten:
        for b in buurten:
            if a is not b:
                assert a.intersection(b).area < 1e-6
    for wk in [c for c, f in demo_areas.items() if f.level == "wijk"]:
        parts = [f.geometry for f in demo_areas.values() if f.level == "buurt" and f.district_code == wk]
        assert len(parts) == 3
        assert shapely.union_all(parts).symmetric_difference(demo_areas[wk].geometry).area < 1.0


def test_demo_addresses_lie_in_exactly_one_buurt(
    demo_areas: dict[str, Any], demo_addresses: list[AddressRow]
) -> None:
    assert 2500 <= len(demo_addresses) <= 3500
    keys = {(a.postcode, a.house_number, a.house_letter, a.addition) for a in demo_addresses}
    assert len(keys) == len(demo_addresses)
    xs = np.array([a.x for a in demo_addresses])
    ys = np.array([a.y for a in demo_addresses])
    hits = np.zeros(len(demo_addresses), dtype=int)
    per_buurt = {}
    for code, f in demo_areas.items():
        if f.level == "buurt":
            inside = shapely.contains_xy(f.geometry, xs, ys)
            hits += inside
            per_buurt[code] = int(inside.sum())
    assert (hits == 1).all()
    assert all(n > 0 for n in per_buurt.values())
    assert 5 <= per_buurt["BU99990302"] <= 30  # a handful on the Eiland enclave
    postcodes = {a.postcode for a in demo_addresses}
    assert 6 <= len(demo_addresses) / len(postcodes) <= 10
    small_part = min(demo_areas["BU99990403"].geometry.geoms, key=lambda p: p.area)
    assert shapely.contains_xy(small_part, xs, ys).sum() > 0


def test_demo_readme_examples(demo_areas: dict[str, Any], demo_addresses: list[AddressRow]) -> None:
    readme = (DEMO / "README.md").read_text("utf-8")
    assert "SYNTHETIC" in readme
    index = {(a.postcode, a.house_number, a.house_letter, a.addition): a for a in demo_addresses}
    rows = re.findall(r"^\| [^|]+ \| (BU\d{8}) \| ([^|]+) \|$", readme, re.MULTILINE)
    assert len(rows) == 12
    for code, examples in rows:
        for example in examples.split("·"):
            m = re.fullmatch(r"(\d{4}) ([A-Z]{2}) (.+)", example.strip())
            assert m, example
            key = (m.group(1) + m.group(2), *normalise_house_number(m.group(3)))
            assert key in index, example
            address = index[key]
            assert demo_areas[code].geometry.contains(shapely.Point(address.x, address.y)), example


def test_demo_generator_is_deterministic() -> None:
    spec = importlib.util.spec_from_file_location("generate_demo", DEMO / "generate_demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _areas, _rows, geojson, csv_text = module.generate()
    assert csv_text == (DEMO / "addresses.csv").read_text("utf-8")
    fresh, _ = read_area_features(json.loads(geojson))
    stored, _ = read_area_features(json.loads((DEMO / "areas.geojson").read_text("utf-8")))
    assert [(f.code, f.name) for f in fresh] == [(f.code, f.name) for f in stored]
    for a, b in zip(fresh, stored, strict=True):
        assert a.geometry.symmetric_difference(b.geometry).area < 0.01
