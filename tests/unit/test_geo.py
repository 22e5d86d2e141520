"""RD New ↔ WGS84, GeoJSON polygon validation and PostgreSQL literals (pure)."""

from __future__ import annotations

import math

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from burgerwacht.geo import (
    NL_BOUNDS_WGS84,
    GeoError,
    circle_to_projected,
    geometry_to_geojson,
    parse_geojson_polygon,
    pg_box,
    pg_circle,
    pg_point,
    pg_polygon,
    rd_to_wgs84,
    transform_geometry,
    transformer,
    wgs84_to_rd,
)


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Small distances on the sphere, good enough for a tolerance check."""
    dy = (lat2 - lat1) * 111_320
    dx = (lon2 - lon1) * 111_320 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


def test_amersfoort_reference_point() -> None:
    lon, lat = rd_to_wgs84(155000, 463000)
    assert _metres(lon, lat, 5.38721, 52.15517) < 1.0
    x, y = wgs84_to_rd(5.38721, 52.15517)
    assert math.hypot(x - 155000, y - 463000) < 1.0


def test_transformer_is_cached() -> None:
    assert transformer(4326, 28992) is transformer(4326, 28992)


@settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(min_value=3.3, max_value=7.2, allow_nan=False),
    lat=st.floats(min_value=50.75, max_value=53.6, allow_nan=False),
)
def test_round_trip_within_one_metre(lon: float, lat: float) -> None:
    x, y = wgs84_to_rd(lon, lat)
    lon2, lat2 = rd_to_wgs84(x, y)
    assert _metres(lon, lat, lon2, lat2) < 1.0
    x2, y2 = wgs84_to_rd(lon2, lat2)
    assert math.hypot(x - x2, y - y2) < 1.0


def test_transform_geometry_round_trip() -> None:
    square = shapely.box(155000, 463000, 156000, 464000)
    wgs = transform_geometry(square, 28992, 4326)
    assert 5.3 < wgs.bounds[0] < 5.5 and 52.1 < wgs.bounds[1] < 52.2
    back = transform_geometry(wgs, 4326, 28992)
    assert back.equals_exact(square, tolerance=0.001)
    assert abs(back.area - 1_000_000) < 1
    assert transform_geometry(square, 28992, 28992) is square


def _ring(*pts: tuple[float, float]) -> list[list[float]]:
    return [list(p) for p in pts]


SQUARE = _ring((5.38, 52.15), (5.40, 52.15), (5.40, 52.16), (5.38, 52.16), (5.38, 52.15))


def test_parse_polygon_ok() -> None:
    poly = parse_geojson_polygon([SQUARE], max_vertices=100)
    assert isinstance(poly, shapely.Polygon)
    assert poly.bounds == (5.38, 52.15, 5.40, 52.16)
    with_altitude = [[[*p, 0.0] for p in SQUARE]]
    assert parse_geojson_polygon(with_altitude, max_vertices=100).equals(poly)


@pytest.mark.parametrize(
    ("coords", "message"),
    [
        ([SQUARE[:3]], "not enough points"),
        ([SQUARE[:4]], "not closed"),
        (
            [_ring((5.38, 52.15), (5.40, 52.16), (5.40, 52.15), (5.38, 52.16), (5.38, 52.15))],
            "Self-intersection",
        ),
        ([_ring((0.5, 52.15), (5.40, 52.15), (5.40, 52.16), (0.5, 52.15))], "outside the supported area"),
        ([_ring((52.15, 5.38), (52.15, 5.40), (52.16, 5.40), (52.15, 5.38))], "outside the supported area"),
        ([[[5.38, "52.15"], *SQUARE[1:]]], "finite numbers"),
        ([[[5.38, True], *SQUARE[1:]]], "finite numbers"),
        ([[[5.38, float("nan")], *SQUARE[1:]]], "finite numbers"),
        ([], "non-empty"),
        ("nope", "non-empty"),
        ([SQUARE, SQUARE], "holes are not supported"),
        ([_ring((5.38, 52.15), (5.39, 52.15), (5.40, 52.15), (5.38, 52.15))], "invalid polygon"),
    ],
)
def test_parse_polygon_errors(coords: object, message: str) -> None:
    with pytest.raises(GeoError, match=message):
        parse_geojson_polygon(coords, max_vertices=100)


def test_parse_polygon_vertex_limit() -> None:
    ring = [[5.38 + 0.02 * math.cos(a / 10), 52.15 + 0.01 * math.sin(a / 10)] for a in range(60)]
    ring.append(ring[0])
    assert len(parse_geojson_polygon([ring], max_vertices=60).exterior.coords) == 61
    with pytest.raises(GeoError, match="too many vertices"):
        parse_geojson_polygon([ring], max_vertices=59)


def test_parse_polygon_holes_when_allowed() -> None:
    hole = _ring((5.385, 52.152), (5.386, 52.152), (5.386, 52.153), (5.385, 52.152))
    poly = parse_geojson_polygon([SQUARE, hole], max_vertices=100, allow_holes=True)
    assert len(poly.interiors) == 1
    outside = _ring((5.5, 52.152), (5.6, 52.152), (5.6, 52.153), (5.5, 52.152))
    with pytest.raises(GeoError, match="Hole lies outside shell"):
        parse_geojson_polygon([SQUARE, outside], max_vertices=100, allow_holes=True)


def test_parse_polygon_custom_bounds() -> None:
    far = _ring((10.0, 10.0), (10.1, 10.0), (10.1, 10.1), (10.0, 10.0))
    assert parse_geojson_polygon([far], max_vertices=10, bounds=None).area > 0
    with pytest.raises(GeoError):
        parse_geojson_polygon([far], max_vertices=10)
    assert NL_BOUNDS_WGS84 == (3.0, 50.5, 7.5, 53.8)


def test_pg_literals() -> None:
    assert pg_point(155000, 463000.5) == "(155000.0,463000.5)"
    assert pg_polygon([(0, 0), (1, 0), (1, 1), (0, 0)]) == "((0.0,0.0),(1.0,0.0),(1.0,1.0))"
    assert pg_polygon([(0, 0), (1, 0), (1, 1)]) == "((0.0,0.0),(1.0,0.0),(1.0,1.0))"
    assert pg_polygon(shapely.box(0, 0, 2, 1)).count("),(") == 3
    assert pg_box((1, 2, 3, 4)) == "((3.0,4.0),(1.0,2.0))"
    assert pg_box(shapely.box(1, 2, 3, 4).bounds) == "((3.0,4.0),(1.0,2.0))"
    assert pg_circle(155000, 463000, 1500) == "<(155000.0,463000.0),1500.0>"
    with pytest.raises(GeoError):
        pg_point(float("nan"), 1)
    with pytest.raises(GeoError):
        pg_polygon([(0, 0), (1, 1), (0, 0)])
    with pytest.raises(GeoError):
        pg_circle(0, 0, -1)


def test_circle_to_projected() -> None:
    x, y, r = circle_to_projected(52.15517, 5.38721, 1500)
    assert math.hypot(x - 155000, y - 463000) < 1 and r == 1500
    with pytest.raises(GeoError, match="outside"):
        circle_to_projected(48.85, 2.35, 1000)
    with pytest.raises(GeoError, match="greater than 0"):
        circle_to_projected(52.1, 5.3, 0)
    with pytest.raises(GeoError, match="finite"):
        circle_to_projected(52.1, float("inf"), 10)


def test_geometry_to_geojson_rounds() -> None:
    poly = shapely.Polygon([(5.123456789, 52.1), (5.2, 52.1), (5.2, 52.2000000004)])
    gj = geometry_to_geojson(poly)
    assert gj["type"] == "Polygon"
    assert gj["coordinates"][0][0] == [5.1234568, 52.1]
    assert gj["coordinates"][0][2] == [5.2, 52.2]
    multi = geometry_to_geojson(shapely.MultiPolygon([poly, shapely.box(6, 52, 6.1, 52.1)]))
    assert multi["type"] == "MultiPolygon" and len(multi["coordinates"]) == 2
    assert geometry_to_geojson(shapely.Point(5.123456789, 52.0)) == {
        "type": "Point",
        "coordinates": [5.1234568, 52.0],
    }
