"""Coordinates and geometry without PostGIS (DESIGN decision 3).

Points and areas are stored in a projected, metric CRS — RD New (EPSG:28992) by
default — in PostgreSQL's native ``point``/``polygon``/``box``/``circle`` types. The
API speaks GeoJSON in WGS84 (EPSG:4326, RFC 7946, ``[lon, lat]``). This module converts
between the two (pyproj, ``always_xy=True`` so every tuple is ``(x, y)`` = ``(lon, lat)``)
and writes PostgreSQL geometric literals.

Accuracy. Without the RDNAPTRANS™ correction grid (``rdtrans2018``, not shipped with
pyproj and not downloaded: the PROJ network is off) pyproj uses the 7-parameter
Helmert transformation Amersfoort → WGS 84, good to about 1 m. That is plenty for
alert circles and address points; the round trip RD → WGS84 → RD is exact to
millimetres.

Distances. RD New is an oblique stereographic projection with scale factor 0.9999079 at
its origin (Amersfoort): lengths are 9.2 cm/km (0.0092 %) too short there, the error
passes zero on a circle ~122 km from Amersfoort, and reaches about +9.6 cm/km
(0.0096 %) at the far corners of the country (Rottumeroog, Zeeuws-Vlaanderen). So a
radius in metres on the ground can be used as a radius in RD units: the error stays
below 0.01 %, i.e. under 10 cm on a 1 km alert circle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.errors import GEOSException
from shapely.geometry import mapping
from shapely.validation import explain_validity

__all__ = [
    "NL_BOUNDS_RD",
    "NL_BOUNDS_WGS84",
    "RD_NEW",
    "WGS84",
    "GeoError",
    "circle_to_projected",
    "geometry_to_geojson",
    "in_bounds",
    "parse_geojson_polygon",
    "pg_box",
    "pg_circle",
    "pg_point",
    "pg_polygon",
    "rd_to_wgs84",
    "transform_geometry",
    "transformer",
    "wgs84_to_rd",
]

RD_NEW = 28992
WGS84 = 4326

#: (min_lon, min_lat, max_lon, max_lat): the Netherlands incl. the territorial sea, loosely.
NL_BOUNDS_WGS84: tuple[float, float, float, float] = (3.0, 50.5, 7.5, 53.8)
#: (min_x, min_y, max_x, max_y) in RD New: the EPSG:28992 area of use.
NL_BOUNDS_RD: tuple[float, float, float, float] = (-7000.0, 289000.0, 300000.0, 629000.0)

Bounds = tuple[float, float, float, float]


class GeoError(ValueError):
    """Geometry input that cannot be used; the message is English and says why."""


# ----------------------------------------------------------------------- transforms


@lru_cache(maxsize=32)
def transformer(src_epsg: int, dst_epsg: int) -> Transformer:
    """A cached pyproj Transformer between two EPSG codes, axis order always (x, y)/(lon, lat)."""
    return Transformer.from_crs(f"EPSG:{int(src_epsg)}", f"EPSG:{int(dst_epsg)}", always_xy=True)


def wgs84_to_rd(lon: float, lat: float) -> tuple[float, float]:
    x, y = transformer(WGS84, RD_NEW).transform(lon, lat)
    return float(x), float(y)


def rd_to_wgs84(x: float, y: float) -> tuple[float, float]:
    """RD New → ``(lon, lat)``."""
    lon, lat = transformer(RD_NEW, WGS84).transform(x, y)
    return float(lon), float(lat)


def transform_geometry(geom: shapely.Geometry, src_epsg: int, dst_epsg: int) -> shapely.Geometry:
    """Transform any shapely geometry; all coordinates go through pyproj in one vectorised call."""
    if src_epsg == dst_epsg:
        return geom
    t = transformer(src_epsg, dst_epsg)

    def _apply(coords: np.ndarray) -> np.ndarray:
        x, y = t.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, _apply)


def in_bounds(x: float, y: float, bounds: Bounds) -> bool:
    return bounds[0] <= x <= bounds[2] and bounds[1] <= y <= bounds[3]


def circle_to_projected(
    lat: float,
    lon: float,
    radius_m: float,
    *,
    epsg: int = RD_NEW,
    bounds: Bounds = NL_BOUNDS_WGS84,
) -> tuple[float, float, float]:
    """A circle target (WGS84 centre, radius in metres) → ``(x, y, r)`` in ``epsg``.

    In RD New the radius in metres is used as is (scale error < 0.01 %, see the module
    docstring). Raises :class:`GeoError` for a centre outside ``bounds`` or a radius
    that is not a positive finite number.
    """
    for name, value in (("lat", lat), ("lon", lon), ("radius_m", radius_m)):
        if not _is_number(value):
            raise GeoError(f"{name} must be a finite number")
    if radius_m <= 0:
        raise GeoError("radius_m must be greater than 0")
    if not in_bounds(lon, lat, bounds):
        raise GeoError(f"circle centre ({lat}, {lon}) lies outside the supported area {_fmt_bounds(bounds)}")
    x, y = transformer(WGS84, epsg).transform(lon, lat)
    return float(x), float(y), float(radius_m)


# ----------------------------------------------------------------- PostgreSQL literals


def _num(v: float) -> str:
    f = float(v)
    if not math.isfinite(f):
        raise GeoError(f"coordinate is not a finite number: {v!r}")
    return repr(f)


def pg_point(x: float, y: float) -> str:
    """``"(x,y)"`` — a PostgreSQL ``point`` literal."""
    return f"({_num(x)},{_num(y)})"


def pg_polygon(ring: Sequence[tuple[float, float]] | shapely.Polygon) -> str:
    """``"((x1,y1),(x2,y2),...)"`` — a PostgreSQL ``polygon`` literal.

    Takes the vertices of one ring (or a shapely Polygon, whose exterior is used;
    PostgreSQL polygons have no holes). A closing vertex equal to the first is dropped.
    """
    if isinstance(ring, shapely.Polygon):
        ring = list(ring.exterior.coords)
    pts = [(float(p[0]), float(p[1])) for p in ring]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        raise GeoError("a polygon needs at least 3 distinct vertices")
    return "(" + ",".join(pg_point(x, y) for x, y in pts) + ")"


def pg_box(bounds: Sequence[float]) -> str:
    """``(minx, miny, maxx, maxy)`` (shapely ``.bounds``) → ``"((xmax,ymax),(xmin,ymin))"``."""
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    return f"({pg_point(maxx, maxy)},{pg_point(minx, miny)})"


def pg_circle(x: float, y: float, r: float) -> str:
    """``"<(x,y),r>"`` — a PostgreSQL ``circle`` literal."""
    if not _is_number(r) or r < 0:
        raise GeoError(f"circle radius must be a non-negative finite number: {r!r}")
    return f"<{pg_point(x, y)},{_num(r)}>"


# ---------------------------------------------------------------------------- GeoJSON


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _fmt_bounds(b: Bounds) -> str:
    return f"(lon {b[0]}..{b[2]}, lat {b[1]}..{b[3]})"


def parse_geojson_polygon(
    coords: Any,
    *,
    max_vertices: int,
    bounds: Bounds | None = NL_BOUNDS_WGS84,
    allow_holes: bool = False,
) -> shapely.Polygon:
    """Validate the ``coordinates`` of a GeoJSON Polygon (WGS84 ``[lon, lat]``) → shapely Polygon.

    Decisions:

    * Rings must be closed (first position == last position), as RFC 7946 §3.1.6
      requires; an unclosed ring is an error rather than silently closed, so what is
      stored is exactly what the client drew (the area import applies the same rule).
    * Each ring needs at least 4 positions (3 distinct vertices + the closing one).
    * ``max_vertices`` counts distinct vertices over all rings (closing positions not
      counted).
    * Holes are refused unless ``allow_holes``: a PostgreSQL ``polygon`` has none.
    * Self-intersections and other invalidity are reported with shapely's
      ``explain_validity``; nothing is repaired.
    * A third ordinate (altitude) is allowed and ignored.
    * ``bounds`` (WGS84 ``(min_lon, min_lat, max_lon, max_lat)``), default the
      Netherlands; ``None`` disables the check.
    """
    if not isinstance(coords, list | tuple) or not coords:
        raise GeoError("polygon coordinates must be a non-empty array of linear rings")
    if len(coords) > 1 and not allow_holes:
        raise GeoError("polygons with holes are not supported: give only the outer ring")
    rings: list[list[tuple[float, float]]] = []
    total = 0
    for r_index, ring in enumerate(coords):
        where = "outer ring" if r_index == 0 else f"hole {r_index}"
        if not isinstance(ring, list | tuple):
            raise GeoError(f"{where}: must be an array of positions")
        pts: list[tuple[float, float]] = []
        for p_index, pos in enumerate(ring):
            if (
                not isinstance(pos, list | tuple)
                or len(pos) not in (2, 3)
                or not all(_is_number(v) for v in pos)
            ):
                raise GeoError(f"{where}, position {p_index}: must be [lon, lat] with finite numbers")
            lon, lat = float(pos[0]), float(pos[1])
            if bounds is not None and not in_bounds(lon, lat, bounds):
                raise GeoError(
                    f"{where}, position {p_index}: [{lon}, {lat}] lies outside the supported area "
                    f"{_fmt_bounds(bounds)}; coordinates are [lon, lat] in WGS84"
                )
            pts.append((lon, lat))
        if len(pts) < 4:
            raise GeoError(
                f"{where}: not enough points ({len(pts)}); a ring needs at least 4 positions, "
                "the last equal to the first"
            )
        if pts[0] != pts[-1]:
            raise GeoError(f"{where}: ring is not closed; the last position must equal the first (RFC 7946)")
        total += len(pts) - 1
        if total > max_vertices:
            raise GeoError(f"too many vertices: more than {max_vertices}")
        rings.append(pts)
    try:
        poly = shapely.Polygon(rings[0], rings[1:])
    except (ValueError, GEOSException) as exc:
        raise GeoError(f"invalid polygon: {exc}") from exc
    if not poly.is_valid:
        raise GeoError(f"invalid polygon: {explain_validity(poly)}")
    if poly.area <= 0:
        raise GeoError("invalid polygon: it has no area")
    return poly


def _round(obj: Any, ndigits: int) -> Any:
    if isinstance(obj, float):
        return round(obj, ndigits)
    if isinstance(obj, list | tuple):
        return [_round(v, ndigits) for v in obj]
    return obj


def geometry_to_geojson(geom: shapely.Geometry, precision: int = 7) -> dict[str, Any]:
    """Shapely geometry → GeoJSON geometry dict, coordinates rounded (7 decimals ≈ 1 cm in WGS84).

    The geometry must already be in WGS84 for RFC 7946 output; use
    :func:`transform_geometry` first. Tuples become lists (JSON-ready).
    """
    out = dict(mapping(geom))
    if "coordinates" in out:
        out["coordinates"] = _round(out["coordinates"], precision)
    if "geometries" in out:
        out["geometries"] = [geometry_to_geojson(g, precision) for g in geom.geoms]
    return out
