"""Pure parsing for the area and address imports (no database).

Areas: a GeoJSON FeatureCollection of CBS gemeenten, wijken and buurten
(:func:`read_area_features`). Property names are read case-insensitively, as CBS and
PDOK publish them:

=============  ==========================================================
meaning        accepted property names
=============  ==========================================================
gemeente code  ``gemeentecode``, ``GM_CODE``; ``statcode`` starting with GM
gemeente name  ``gemeentenaam``, ``GM_NAAM``; ``statnaam``
wijk code      ``wijkcode``, ``WK_CODE``; ``statcode`` starting with WK
wijk name      ``wijknaam``, ``WK_NAAM``; ``statnaam``
buurt code     ``buurtcode``, ``BU_CODE``; ``statcode`` starting with BU
buurt name     ``buurtnaam``, ``BU_NAAM``; ``statnaam``
year           ``jaar``, ``JAAR``, or the first four digits of ``jrstatcode``
=============  ==========================================================

The level is the most specific code present. Codes must match ``GM\\d{4}``,
``WK\\d{6}``, ``BU\\d{8}`` (bare digits such as ``0363`` get their prefix); missing
parent codes are derived from the child (BU03630001 → WK036300, GM0363) and parent
codes that contradict the child are an error. Features with an invalid geometry
(self-intersection, unclosed ring, too few points, not a (Multi)Polygon) are reported
as a :class:`ParseProblem` with shapely's ``explain_validity`` text and skipped — never
repaired. ``ParseProblem.line_or_index`` is the 0-based index in ``features``, or -1
for a problem with the file as a whole.

CRS: the legacy GeoJSON ``crs`` member when present (``urn:ogc:def:crs:EPSG::28992``,
``EPSG:28992``, ``…CRS84``), else the ``crs`` argument, else WGS84 as RFC 7946 says.
Coordinates are always read as x/east, y/north (lon, lat), as GDAL writes them.

Addresses: a CSV shaped like a BAG extract (:func:`read_address_chunks`, the fast
path, and :func:`read_address_rows`). ``ParseProblem.line_or_index`` is the 1-based
line in the file. Duplicate addresses are not detected here (the store upserts).
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.errors import GEOSException
from shapely.validation import explain_validity

from burgerwacht.geo import (
    NL_BOUNDS_RD,
    NL_BOUNDS_WGS84,
    RD_NEW,
    WGS84,
    Bounds,
    transform_geometry,
    transformer,
)
from burgerwacht.residents.address import AddressError, normalise_house_number, normalise_postcode

__all__ = [
    "AddressRow",
    "AreaFeature",
    "ParseProblem",
    "Simplified",
    "crs_to_epsg",
    "limit_vertices",
    "read_address_chunks",
    "read_address_rows",
    "read_area_features",
]

Level = Literal["gemeente", "wijk", "buurt"]

GM_RE = re.compile(r"GM\d{4}", re.ASCII)
WK_RE = re.compile(r"WK\d{6}", re.ASCII)
BU_RE = re.compile(r"BU\d{8}", re.ASCII)


@dataclass
class AreaFeature:
    level: Level
    code: str
    name: str
    municipality_code: str
    district_code: str | None  # the wijk of a buurt; None for wijken and gemeenten
    geometry: shapely.Polygon | shapely.MultiPolygon  # in the target CRS
    year: int | None
    index: int = -1  # in the file's features


@dataclass
class ParseProblem:
    line_or_index: int
    code: str | None
    message: str


# ------------------------------------------------------------------------------ CRS

_EPSG_IN_NAME = re.compile(r"EPSG:+(?:[\d.]*:+)?(\d+)\s*$", re.IGNORECASE)


def crs_to_epsg(value: Any) -> int | None:
    """EPSG code from a GeoJSON ``crs`` member, a CRS name (``"EPSG:28992"``, an OGC URN) or an int.

    ``CRS84`` is 4326 (lon/lat). Returns None when it cannot be understood.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        props = value.get("properties") or {}
        if not isinstance(props, dict):
            return None
        if value.get("type") == "EPSG" and "code" in props:  # GeoJSON 2008 draft form
            return crs_to_epsg(props["code"])
        return crs_to_epsg(props.get("name"))
    if not isinstance(value, str) or not value.strip():
        return None
    name = value.strip()
    if name.isascii() and name.isdigit() and len(name) <= 9:
        return int(name)
    if name.upper().endswith("CRS84"):
        return WGS84
    m = _EPSG_IN_NAME.search(name)
    if m:
        return int(m.group(1))
    try:
        return CRS.from_user_input(name).to_epsg()
    except CRSError:
        return None


# ---------------------------------------------------------------------------- areas


def _text(props: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = props.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _code(value: str | None, prefix: str, digits: int) -> str | None:
    if value is None:
        return None
    v = value.strip().upper()
    if v.isdigit() and len(v) <= digits:
        v = prefix + v.zfill(digits)
    return v


def _year(props: dict[str, Any]) -> int | None:
    raw = _text(props, "jaar")
    if raw is None:
        jr = _text(props, "jrstatcode")
        raw = jr[:4] if jr else None
    if raw is None:
        return None
    try:
        year = int(float(raw))
    except ValueError:
        return None
    return year if 1800 <= year <= 2200 else None


class _Skip(Exception):
    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _ring(coords: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(coords, dtype=float)
    except (TypeError, ValueError) as exc:
        raise _Skip(f"{where}: positions must be arrays of numbers") from exc
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise _Skip(f"{where}: positions must be [x, y]")
    if not np.isfinite(arr).all():
        raise _Skip(f"{where}: coordinates must be finite numbers")
    if len(arr) < 4:
        raise _Skip(f"{where}: too few points ({len(arr)}); a ring needs at least 4 positions")
    if not (arr[0, :2] == arr[-1, :2]).all():
        raise _Skip(f"{where}: ring is not closed (the last position must equal the first)")
    return arr[:, :2]


def _polygon(coords: Any, where: str) -> shapely.Polygon:
    if not isinstance(coords, list) or not coords:
        raise _Skip(f"{where}: a polygon needs at least one ring")
    rings = [_ring(r, f"{where}, ring {i}") for i, r in enumerate(coords)]
    try:
        return shapely.Polygon(rings[0], rings[1:])
    except (ValueError, GEOSException) as exc:
        raise _Skip(f"{where}: {exc}") from exc


def _geometry(geom: Any) -> shapely.Polygon | shapely.MultiPolygon:
    if not isinstance(geom, dict):
        raise _Skip("feature has no geometry")
    gtype = geom.get("type")
    coords = geom.get("coordinates")
    if gtype == "Polygon":
        shape: shapely.Polygon | shapely.MultiPolygon = _polygon(coords, "polygon")
    elif gtype == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise _Skip("multipolygon has no polygons")
        shape = shapely.MultiPolygon([_polygon(c, f"polygon {i}") for i, c in enumerate(coords)])
    else:
        raise _Skip(f"geometry type {gtype!r} is not supported; expected Polygon or MultiPolygon")
    if not shape.is_valid:
        raise _Skip(f"invalid geometry: {explain_validity(shape)}")
    if shape.is_empty or shape.area <= 0:
        raise _Skip("invalid geometry: it has no area")
    return shape


def _check_bounds(shape: shapely.Geometry, src: int, bounds: Bounds) -> None:
    minx, miny, maxx, maxy = shape.bounds
    if src == WGS84:
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise _Skip(
                "coordinates are not WGS84 longitude/latitude; for RD New add a 'crs' member "
                "(urn:ogc:def:crs:EPSG::28992) or import with crs=28992"
            )
        xs, ys = np.array([minx, maxx, minx, maxx]), np.array([miny, miny, maxy, maxy])
    else:
        xs, ys = transformer(src, WGS84).transform(
            np.array([minx, maxx, minx, maxx]), np.array([miny, miny, maxy, maxy])
        )
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise _Skip(f"coordinates cannot be transformed from EPSG:{src}")
    if xs.min() < bounds[0] or xs.max() > bounds[2] or ys.min() < bounds[1] or ys.max() > bounds[3]:
        raise _Skip(
            f"geometry lies outside the Netherlands (read as EPSG:{src}, bounding box "
            f"lon {xs.min():.4f}..{xs.max():.4f}, lat {ys.min():.4f}..{ys.max():.4f})"
        )


def read_area_features(
    data: dict[str, Any],
    *,
    crs: int | None = None,
    target_epsg: int = RD_NEW,
    bounds: Bounds | None = NL_BOUNDS_WGS84,
) -> tuple[list[AreaFeature], list[ParseProblem]]:
    """Parse a CBS area FeatureCollection into features in ``target_epsg`` plus the problems found."""
    problems: list[ParseProblem] = []
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        return [], [ParseProblem(-1, None, "expected a GeoJSON FeatureCollection")]
    raw_features = data.get("features")
    if not isinstance(raw_features, list):
        return [], [ParseProblem(-1, None, "the FeatureCollection has no 'features' array")]
    if data.get("crs") is not None:
        src = crs_to_epsg(data["crs"])
        if src is None:
            return [], [ParseProblem(-1, None, f"unknown coordinate reference system {data['crs']!r}")]
    else:
        src = int(crs) if crs is not None else WGS84
    try:
        transformer(src, target_epsg)
    except CRSError as exc:
        return [], [ParseProblem(-1, None, f"cannot transform EPSG:{src} to EPSG:{target_epsg}: {exc}")]

    features: list[AreaFeature] = []
    seen: dict[str, int] = {}
    for index, feat in enumerate(raw_features):
        code: str | None = None
        try:
            if not isinstance(feat, dict) or feat.get("type") != "Feature":
                raise _Skip("not a GeoJSON Feature")
            raw_props = feat.get("properties") or {}
            if not isinstance(raw_props, dict):
                raise _Skip("properties must be an object")
            props = {str(k).lower(): v for k, v in raw_props.items()}
            level, code, gm, wk = _codes(props)
            if code in seen:
                raise _Skip(f"duplicate code; already in feature {seen[code]}")
            name = _name(props, level) or code
            shape = _geometry(feat.get("geometry"))
            if bounds is not None:
                _check_bounds(shape, src, bounds)
            if src != target_epsg:
                shape = transform_geometry(shape, src, target_epsg)
                if not shape.is_valid:
                    raise _Skip(
                        f"invalid geometry after transformation to EPSG:{target_epsg}: "
                        f"{explain_validity(shape)}"
                    )
        except _Skip as skip:
            problems.append(ParseProblem(index, code or skip.code, skip.message))
            continue
        seen[code] = index
        features.append(
            AreaFeature(
                level=level,
                code=code,
                name=name,
                municipality_code=gm,
                district_code=wk if level == "buurt" else None,
                geometry=shape,
                year=_year(props),
                index=index,
            )
        )
    return features, problems


@dataclass
class Simplified:
    code: str
    vertices_before: int
    vertices_after: int


def limit_vertices(
    features: list[AreaFeature], max_vertices: int, tolerance: float
) -> tuple[list[AreaFeature], list[Simplified], list[tuple[AreaFeature, str]]]:
    """Keep every outline within ``max_vertices`` (all rings and parts counted).

    A larger outline is simplified (Douglas-Peucker, topology preserved) by at most
    ``tolerance`` units of its CRS (metres in RD New); one that is still larger, or
    would become invalid, is refused. Returns ``(kept, simplified, refused)`` where
    ``refused`` pairs each feature with the reason."""
    kept: list[AreaFeature] = []
    simplified: list[Simplified] = []
    refused: list[tuple[AreaFeature, str]] = []
    for f in features:
        before = int(shapely.get_num_coordinates(f.geometry))
        if before <= max_vertices:
            kept.append(f)
            continue
        after = before
        if tolerance > 0:
            shape = shapely.simplify(f.geometry, tolerance, preserve_topology=True)
            after = int(shapely.get_num_coordinates(shape))
            if after <= max_vertices and shape.is_valid and not shape.is_empty and shape.area > 0:
                f.geometry = shape
                kept.append(f)
                simplified.append(Simplified(f.code, before, after))
                continue
        how = f"{after} after simplifying within {tolerance:g} m" if tolerance > 0 else "simplifying is off"
        refused.append(
            (
                f,
                f"too many vertices: {before} ({how}); the limit is {max_vertices} "
                f"(areas.max_vertices, areas.simplify_tolerance_m)",
            )
        )
    return kept, simplified, refused


def _codes(props: dict[str, Any]) -> tuple[Level, str, str, str | None]:
    gm = _code(_text(props, "gemeentecode", "gm_code"), "GM", 4)
    wk = _code(_text(props, "wijkcode", "wk_code"), "WK", 6)
    bu = _code(_text(props, "buurtcode", "bu_code"), "BU", 8)
    stat = _text(props, "statcode")
    if stat:
        stat = stat.upper()
        for prefix, current in (("BU", bu), ("WK", wk), ("GM", gm)):
            if stat.startswith(prefix):
                if current is not None and current != stat:
                    raise _Skip(f"statcode {stat} contradicts {prefix.lower()} code {current}", stat)
                if prefix == "BU":
                    bu = stat
                elif prefix == "WK":
                    wk = stat
                else:
                    gm = stat
                break
        else:
            raise _Skip(f"statcode {stat!r} does not start with GM, WK or BU", stat)
    for value, regex, label in (
        (bu, BU_RE, "buurtcode"),
        (wk, WK_RE, "wijkcode"),
        (gm, GM_RE, "gemeentecode"),
    ):
        if value is not None and not regex.fullmatch(value):
            raise _Skip(f"{label} {value!r} is not valid (expected {regex.pattern})", bu or wk or gm)
    if bu is not None:
        level: Level = "buurt"
        code = bu
        expected_wk, expected_gm = "WK" + bu[2:8], "GM" + bu[2:6]
    elif wk is not None:
        level, code = "wijk", wk
        expected_wk, expected_gm = None, "GM" + wk[2:6]
    elif gm is not None:
        return "gemeente", gm, gm, None
    else:
        raise _Skip("no area code (gemeentecode, wijkcode, buurtcode or statcode)")
    if expected_wk is not None and wk is not None and wk != expected_wk:
        raise _Skip(f"wijkcode {wk} does not match {code}", code)
    if gm is not None and gm != expected_gm:
        raise _Skip(f"gemeentecode {gm} does not match {code}", code)
    return level, code, expected_gm, expected_wk


def _name(props: dict[str, Any], level: Level) -> str | None:
    if level == "buurt":
        return _text(props, "buurtnaam", "bu_naam", "statnaam")
    if level == "wijk":
        return _text(props, "wijknaam", "wk_naam", "statnaam")
    return _text(props, "gemeentenaam", "gm_naam", "statnaam")


# ------------------------------------------------------------------------ addresses


@dataclass(slots=True)
class AddressRow:
    line: int
    postcode: str
    house_number: int
    house_letter: str | None
    addition: str | None
    x: float  # in the target CRS (RD New by default)
    y: float


_COLUMNS = {
    "postcode": ("postcode",),
    "number": ("huisnummer", "house_number"),
    "letter": ("huisletter", "house_letter"),
    "addition": ("huisnummertoevoeging", "toevoeging", "addition"),
    "x": ("x",),
    "y": ("y",),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "longitude"),
}
_PC_FAST = re.compile(r"([1-9]\d{3}) ?([A-Z]{2})", re.ASCII)
_NEVER_ISSUED = ("SA", "SD", "SS")


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def read_address_chunks(
    lines: Iterable[str], chunk_size: int = 10000, *, target_epsg: int = RD_NEW
) -> Iterator[tuple[list[AddressRow], list[ParseProblem]]]:
    """Parse an address CSV in chunks of ``chunk_size`` data lines: ``(rows, problems)`` per chunk.

    Columns (header, case-insensitive, ``,``/``;``/tab sniffed from the header):
    ``postcode``, ``huisnummer``, optional ``huisletter`` and ``huisnummertoevoeging``
    (or ``toevoeging``), and either ``x``, ``y`` in RD New or ``lat``, ``lon`` in WGS84
    (``x``/``y`` win when both are present). A decimal comma is accepted in coordinates.
    Coordinates are transformed per chunk with one vectorised pyproj call.
    """
    it = iter(lines)
    offset = 0
    header_line = None
    for raw in it:
        offset += 1
        if raw.strip():
            header_line = raw.lstrip("\ufeff")
            break
    if header_line is None:
        return
    offset -= 1  # reader.line_num counts the header as line 1
    delimiter = _sniff_delimiter(header_line)
    reader = csv.reader(itertools.chain([header_line], it), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    col = {key: _find(header, names) for key, names in _COLUMNS.items()}
    missing = [_COLUMNS[n][0] for n in ("postcode", "number") if col[n] is None]
    if col["x"] is not None and col["y"] is not None:
        src, ia, ib, check_bounds = RD_NEW, col["x"], col["y"], NL_BOUNDS_RD
    elif col["lat"] is not None and col["lon"] is not None:
        src, ia, ib, check_bounds = WGS84, col["lon"], col["lat"], NL_BOUNDS_WGS84
    else:
        missing.append("x and y (RD New) or lat and lon (WGS84)")
        src, ia, ib, check_bounds = RD_NEW, 0, 0, NL_BOUNDS_RD
    if missing:
        yield [], [ParseProblem(1 + offset, None, "missing column(s): " + ", ".join(missing))]
        return
    ipc, inum, ilet, iadd = col["postcode"], col["number"], col["letter"], col["addition"]
    assert ipc is not None and inum is not None and ia is not None and ib is not None
    width = max(i for i in (ipc, inum, ilet, iadd, ia, ib) if i is not None) + 1
    minx, miny, maxx, maxy = check_bounds
    t = transformer(src, target_epsg) if src != target_epsg else None

    pending: list[tuple[int, str, int, str | None, str | None]] = []
    xs: list[float] = []
    ys: list[float] = []
    problems: list[ParseProblem] = []

    def flush() -> tuple[list[AddressRow], list[ParseProblem]]:
        if t is not None and xs:
            ox, oy = t.transform(np.asarray(xs), np.asarray(ys))
            ox, oy = ox.tolist(), oy.tolist()
        else:
            ox, oy = xs, ys
        rows = [
            AddressRow(line, pc, num, let, add, x, y)
            for (line, pc, num, let, add), x, y in zip(pending, ox, oy, strict=True)
        ]
        return rows, problems

    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a stray newline or quote; report and go on
            problems.append(ParseProblem(reader.line_num + offset, None, f"unreadable line: {exc}"))
            continue
        line = reader.line_num + offset
        if not row or not any(c.strip() for c in row):
            continue
        try:
            if len(row) < width:
                raise ValueError(f"too few columns ({len(row)}, expected {width})")
            pc_raw = row[ipc].strip()
            m = _PC_FAST.fullmatch(pc_raw)
            if m and m.group(2) not in _NEVER_ISSUED:
                postcode = m.group(1) + m.group(2)
            else:
                try:
                    postcode = normalise_postcode(pc_raw)
                except AddressError as exc:
                    raise ValueError(f"bad postcode {pc_raw!r}: {exc.message_en}") from None
            num_raw = row[inum].strip()
            letter = (row[ilet].strip().upper() or None) if ilet is not None else None
            addition = (row[iadd].strip().upper() or None) if iadd is not None else None
            if num_raw.isascii() and num_raw.isdigit() and len(num_raw) <= 5:
                number = int(num_raw)
                if number < 1:
                    raise ValueError(f"bad house number {num_raw!r}")
            else:  # "12a" in the number column: split it, unless the other columns are filled too
                try:
                    number, let2, add2 = normalise_house_number(num_raw)
                except AddressError:
                    raise ValueError(f"bad house number {num_raw!r}") from None
                if (let2 and letter) or (add2 and addition):
                    raise ValueError(f"bad house number {num_raw!r}")
                letter, addition = letter or let2, addition or add2
            if letter is not None and not (len(letter) == 1 and letter.isascii() and letter.isalpha()):
                raise ValueError(f"bad huisletter {letter!r} (one letter)")
            if addition is not None and not (
                len(addition) <= 4 and addition.isascii() and addition.isalnum()
            ):
                raise ValueError(f"bad huisnummertoevoeging {addition!r} (1-4 letters or digits)")
            a_raw, b_raw = row[ia].strip(), row[ib].strip()
            if not a_raw or not b_raw:
                raise ValueError("missing coordinate")
            try:
                a = float(a_raw.replace(",", "."))
                b = float(b_raw.replace(",", "."))
            except ValueError:
                raise ValueError(f"bad coordinate ({a_raw!r}, {b_raw!r})") from None
            if not (math.isfinite(a) and math.isfinite(b)):
                raise ValueError(f"bad coordinate ({a_raw!r}, {b_raw!r})")
            if not (minx <= a <= maxx and miny <= b <= maxy):
                what = "x, y" if src == RD_NEW else "lon, lat"
                raise ValueError(f"coordinate outside the Netherlands ({what} = {a}, {b})")
        except ValueError as exc:
            problems.append(ParseProblem(line, None, str(exc)))
        else:
            pending.append((line, postcode, number, letter, addition))
            xs.append(a)
            ys.append(b)
        if len(pending) + len(problems) >= chunk_size:
            yield flush()
            pending, xs, ys, problems = [], [], [], []
    if pending or problems:
        yield flush()


def read_address_rows(
    lines: Iterable[str], *, target_epsg: int = RD_NEW
) -> Iterator[AddressRow | ParseProblem]:
    """Every row or problem of an address CSV, in file order (see :func:`read_address_chunks`)."""
    for rows, problems in read_address_chunks(lines, target_epsg=target_epsg):
        if not problems:
            yield from rows
            continue
        merged: list[AddressRow | ParseProblem] = [*rows, *problems]
        merged.sort(key=lambda item: item.line if isinstance(item, AddressRow) else item.line_or_index)
        yield from merged
