"""Alert target types: one class per ``type``, everything about a type in its class.

An operator aims an alert at a ``circle``, a ``polygon``, named CBS ``areas`` or a
``corridor`` (a band around a line: a suspect fleeing along a road). Each class below is

- the **pydantic model** of its API shape (``AlertIn.target`` is the discriminated union
  :data:`Target` built from :data:`TARGETS`, so parsing, the 422s and OpenAPI follow
  from the class, constraints included);
- :meth:`~TargetBase.resolve`: the checks a model cannot make (configured limits, known
  codes, valid geometry) and the projection to RD New (DESIGN decision 3);
- **CAP** in and out: ``cap_element`` (the ``<area>`` child it is read from and written
  as), :meth:`~TargetBase.cap_values` / :meth:`~TargetBase.from_cap` and
  :meth:`~TargetBase.cap_area`; ``burgerwacht.cap`` loops over :data:`TARGETS`;
- :meth:`~TargetBase.area`: the GeoJSON Feature (WGS84) the console draws.

**SQL.** Only store modules execute SQL; a target only says *which rows it matches*.
Every type resolves to one of three stored shapes, a :class:`Match`: ``CIRCLE``
(``point <@ circle``), ``POLYGON`` (``point <@ polygon``) and ``CODES`` (CBS codes,
an indexed equality). A match names the ``alerts`` column that keeps the resolved value
and gives the predicate as a fragment with the table alias and the parameter left open
(``{t}.location <@ {p}::polygon``); ``alerts/store.py`` composes the recipient query
from it (:func:`burgerwacht.alerts.store.recipients_sql`) and binds the value. Reading
an alert back, the one non-NULL target column says which match it is
(:meth:`Resolved.from_row`). A new geometric type resolves to an existing shape — the
corridor is a polygon — so it needs no migration and no store change: adding it here
(and drawing it in the console) is the whole change.

**Corridor.** ``{type: corridor, line: [[lon, lat], …], width_m}``: WGS84 in GeoJSON
LineString order, ``width_m`` the full width. The line is projected to RD New and
buffered by ``width_m / 2`` with **round** caps and joins, so the area is exactly
"within width/2 of the line" (a flat cap would miss someone just past the last point,
where a fleeing suspect is most likely to be), approximated by 8 segments per quarter
circle (the chord lies inside the true arc by at most 0.5 % of the half-width: 25 cm on
a 100 m corridor). A line that loops back so its band encloses a hole is refused (a
PostgreSQL polygon has no holes; filling it would reach people far from the line): draw
a polygon instead. Residents are then matched like a polygon target, scope included.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

import shapely
from asyncpg.types import Circle, Point, Polygon
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from burgerwacht.errors import DomainError
from burgerwacht.geo import (
    NL_BOUNDS_WGS84,
    RD_NEW,
    WGS84,
    GeoError,
    circle_to_projected,
    geometry_to_geojson,
    in_bounds,
    parse_geojson_polygon,
    transform_geometry,
    wgs84_to_rd,
)

if TYPE_CHECKING:
    from burgerwacht.config import AlertSettings

# ------------------------------------------------------------------ stored shapes


@dataclass(frozen=True)
class Match:
    """How a resolved target is stored and matched: its ``alerts`` column and the SQL
    predicate on a row with a ``location`` point and CBS codes (``{t}`` the table alias,
    ``{p}`` the parameter holding the value)."""

    column: str
    condition: str

    def sql(self, table: str, param: str) -> str:
        return self.condition.format(t=table, p=param)


CIRCLE = Match("target_circle", "{t}.location <@ {p}::circle")
POLYGON = Match("target_polygon", "{t}.location <@ {p}::polygon")
CODES = Match(
    "target_codes",
    "({t}.buurt_code = ANY({p}::text[]) OR {t}.wijk_code = ANY({p}::text[]) "
    "OR {t}.municipality_code = ANY({p}::text[]))",
)
MATCHES = (CIRCLE, POLYGON, CODES)


@dataclass(frozen=True)
class Resolved:
    """A target in RD New, ready for the recipient query.

    ``municipalities`` is set when resolving already named them (CBS areas): then every
    one must lie in the operator's scope. Otherwise they are looked up by the match."""

    match: Match
    value: Any  # Circle | Polygon | list[str]
    municipalities: tuple[str, ...] | None = None

    def columns(self) -> dict[str, Any]:
        """The ``alerts`` target columns: the value in its own, NULL in the others."""
        return {m.column: self.value if m is self.match else None for m in MATCHES}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Resolved:
        for m in MATCHES:
            if row[m.column] is not None:
                value = row[m.column]
                return cls(m, list(value) if m is CODES else value)
        raise ValueError("the alert has no target column set")


# Looks up CBS areas by code (``alerts.store.areas_by_code`` bound to a connection):
# rows with ``code``, ``level`` and ``municipality_code``.
AreaLookup = Callable[[list[str]], Awaitable[Sequence[Mapping[str, Any]]]]


@dataclass(frozen=True)
class CapArea:
    """What a target writes into a CAP ``<area>`` (in the schema's order)."""

    description: str
    polygons: tuple[str, ...] = ()
    circles: tuple[str, ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()


def _rd_polygon(poly: shapely.Polygon) -> Polygon:
    return Polygon(*[Point(x, y) for x, y in list(poly.exterior.coords)[:-1]])


def _feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _fmt(value: float) -> str:
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _cap_ring(lonlat: Sequence[Sequence[float]]) -> str:
    ring = [(float(p[0]), float(p[1])) for p in lonlat]
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    return " ".join(f"{_fmt(lat)},{_fmt(lon)}" for lon, lat in ring)


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_PAIR = re.compile(rf"({_NUMBER}),({_NUMBER})")
_CIRCLE = re.compile(rf"\s*({_NUMBER})\s*,\s*({_NUMBER})\s+({_NUMBER})\s*")
_CBS_CODE = re.compile(r"BU\d{8}|WK\d{6}|GM\d{4}", re.ASCII)
CBS_VALUE_NAMES = frozenset({"CBS", "CBS_CODE"})
#: A CAP circle of radius 0 is a point (CAP 1.2 allows it): it is taken as a circle of
#: at least this radius (setting ``cap.min_radius_m``).
DEFAULT_MIN_RADIUS_M = 100


def _coordinate(lat_text: str, lon_text: str) -> tuple[float, float]:
    lat, lon = float(lat_text), float(lon_text)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError(f"{lat_text},{lon_text} is not a WGS 84 'lat,lon' coordinate")
    return lat, lon


# ------------------------------------------------------------------ the types


class TargetBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the CAP ``<area>`` child this type is written as (and read from, if ``cap_import``)
    cap_element: ClassVar[str]
    #: how an import error message names it ("no circle, polygon or … to target")
    cap_label: ClassVar[str]
    #: whether a CAP ``<area>`` child becomes this type (a corridor is exported as a
    #: polygon and comes back as one)
    cap_import: ClassVar[bool] = True

    async def resolve(self, limits: AlertSettings, areas: AreaLookup) -> Resolved:
        """Check against configuration and data, and project; raises DomainError (or
        GeoError, which the service answers as 422 invalid-target)."""
        raise NotImplementedError

    def area(self) -> dict[str, Any]:
        """The targeted area as a GeoJSON Feature in WGS84, for the console map."""
        raise NotImplementedError

    def cap_area(self) -> CapArea:
        """The CAP ``<area>`` content; ValueError when CAP cannot express it."""
        raise NotImplementedError

    @classmethod
    def cap_values(cls, items: list[Any]) -> list[Any]:
        """The values of this type among an alert's ``<area>`` children named
        ``cap_element`` (texts; ``(valueName, value)`` for geocodes)."""
        return items

    @classmethod
    def from_cap(cls, values: list[Any], *, min_radius_m: float = DEFAULT_MIN_RADIUS_M) -> dict[str, Any]:
        """The target body for CAP values; ValueError with the reason. ``min_radius_m``:
        the radius a CAP circle of radius 0 (a point) or less is taken as."""
        raise NotImplementedError


def _only_one(values: list[Any]) -> Any:
    if len(values) > 1:
        raise ValueError("only one circle or polygon is supported")
    return values[0]


class LatLon(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class CircleTarget(TargetBase):
    type: Literal["circle"]
    center: LatLon
    radius_m: float = Field(gt=0, description="Metres; the maximum is configuration (alerts.max_radius_m)")

    cap_element: ClassVar[str] = "circle"
    cap_label: ClassVar[str] = "circle"

    async def resolve(self, limits: AlertSettings, areas: AreaLookup) -> Resolved:
        if self.radius_m > limits.max_radius_m:
            raise DomainError(
                422,
                "radius-too-large",
                f"target.radius_m: {self.radius_m:g} m is more than the maximum of {limits.max_radius_m} m",
                field="target.radius_m",
            )
        x, y, r = circle_to_projected(self.center.lat, self.center.lon, self.radius_m, epsg=RD_NEW)
        return Resolved(CIRCLE, Circle(Point(x, y), r))

    def area(self) -> dict[str, Any]:
        x, y = wgs84_to_rd(self.center.lon, self.center.lat)
        disc = transform_geometry(shapely.Point(x, y).buffer(self.radius_m, quad_segs=16), RD_NEW, WGS84)
        return _feature(geometry_to_geojson(disc), type="circle")

    def cap_area(self) -> CapArea:
        lat, lon, radius_m = self.center.lat, self.center.lon, self.radius_m
        return CapArea(
            f"Cirkel van {radius_m:.0f} m rond {_fmt(lat)}, {_fmt(lon)}",
            circles=(f"{_fmt(lat)},{_fmt(lon)} {radius_m / 1000:.3f}",),
        )

    @classmethod
    def from_cap(cls, values: list[Any], *, min_radius_m: float = DEFAULT_MIN_RADIUS_M) -> dict[str, Any]:
        text = _only_one(values)
        match = _CIRCLE.fullmatch(text)
        if not match:
            raise ValueError(f"expected 'lat,lon radius_km' (got {text!r})")
        lat, lon = _coordinate(match[1], match[2])
        radius_km = float(match[3])
        if not (math.isfinite(radius_km) and radius_km >= 0):
            raise ValueError(f"the radius must be 0 km (a point) or more (got {match[3]})")
        radius_m = round(radius_km * 1000)
        if radius_m < 1:
            # a point (CAP writes it as radius 0; or a radius that rounds to 0 m) reaches
            # nobody: it is taken as a circle of the minimum radius around it
            radius_m = math.ceil(min_radius_m)
        return {"type": "circle", "center": {"lat": lat, "lon": lon}, "radius_m": radius_m}


class PolygonTarget(TargetBase):
    type: Literal["polygon"]
    coordinates: list[list[list[float]]] = Field(
        description="GeoJSON Polygon coordinates, [lon, lat], WGS84; one closed outer ring", min_length=1
    )

    cap_element: ClassVar[str] = "polygon"
    cap_label: ClassVar[str] = "polygon"

    async def resolve(self, limits: AlertSettings, areas: AreaLookup) -> Resolved:
        poly = parse_geojson_polygon(self.coordinates, max_vertices=limits.max_polygon_vertices)
        return Resolved(POLYGON, _rd_polygon(transform_geometry(poly, WGS84, RD_NEW)))

    def area(self) -> dict[str, Any]:
        return _feature({"type": "Polygon", "coordinates": self.coordinates}, type="polygon")

    def cap_area(self) -> CapArea:
        if len(self.coordinates) != 1:
            raise ValueError("a CAP polygon is one ring: polygons with holes cannot be exported")
        return CapArea("Gebied getekend door de meldkamer", polygons=(_cap_ring(self.coordinates[0]),))

    @classmethod
    def from_cap(cls, values: list[Any], *, min_radius_m: float = DEFAULT_MIN_RADIUS_M) -> dict[str, Any]:
        ring: list[list[float]] = []
        for token in _only_one(values).split():
            match = _PAIR.fullmatch(token)
            if not match:
                raise ValueError(f"expected space-separated 'lat,lon' pairs (got {token!r})")
            lat, lon = _coordinate(match[1], match[2])
            ring.append([lon, lat])
        if len(ring) < 4:
            raise ValueError(f"a polygon needs at least 4 'lat,lon' pairs (got {len(ring)})")
        if ring[0] != ring[-1]:
            raise ValueError("the first and last 'lat,lon' pairs must be the same (a closed ring)")
        return {"type": "polygon", "coordinates": [ring]}


class AreasTarget(TargetBase):
    type: Literal["areas"]
    codes: list[Annotated[str, Field(pattern=r"^(BU\d{8}|WK\d{6}|GM\d{4})$")]] = Field(
        min_length=1, max_length=500
    )

    cap_element: ClassVar[str] = "geocode"
    cap_label: ClassVar[str] = "CBS geocode (valueName CBS)"

    @field_validator("codes")
    @classmethod
    def _unique(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if info.context and info.context.get("as_given"):  # an export keeps the order it was given
            return list(dict.fromkeys(v))
        return sorted(set(v))

    async def resolve(self, limits: AlertSettings, areas: AreaLookup) -> Resolved:
        found = {r["code"]: r for r in await areas(self.codes)}
        unknown = [c for c in self.codes if c not in found]
        if unknown:
            raise DomainError(
                422,
                "unknown-area",
                f"target.codes: unknown CBS area code(s): {', '.join(unknown)}",
                field="target.codes",
                unknown=unknown,
            )
        municipalities = tuple(sorted({r["municipality_code"] for r in found.values()}))
        return Resolved(CODES, self.codes, municipalities)

    def area(self) -> dict[str, Any]:
        # the areas' own outlines are what the console already draws: it marks them
        return _feature(None, type="areas", codes=self.codes)

    def cap_area(self) -> CapArea:
        return CapArea(
            "CBS-gebieden " + ", ".join(self.codes), geocodes=tuple(("CBS", c) for c in self.codes)
        )

    @classmethod
    def cap_values(cls, items: list[Any]) -> list[Any]:
        codes: list[str] = []
        for value_name, value in items:
            if value_name not in CBS_VALUE_NAMES:
                continue  # SAME, EMMA_ID, …: other systems' codes
            for code in re.split(r"[\s,;]+", value.strip().upper()):
                if not code:
                    continue
                if not _CBS_CODE.fullmatch(code):
                    raise ValueError(f"expected CBS codes BU00000000, WK000000 or GM0000 (got {code!r})")
                if code not in codes:
                    codes.append(code)
        return codes

    @classmethod
    def from_cap(cls, values: list[Any], *, min_radius_m: float = DEFAULT_MIN_RADIUS_M) -> dict[str, Any]:
        return {"type": "areas", "codes": list(values)}


MAX_CORRIDOR_VERTICES = 500
MAX_CORRIDOR_LENGTH_M = 100_000
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]


class CorridorTarget(TargetBase):
    type: Literal["corridor"]
    line: list[tuple[Lon, Lat]] = Field(
        min_length=2,
        max_length=MAX_CORRIDOR_VERTICES,
        description="The centre line: GeoJSON LineString coordinates, [lon, lat], WGS84; "
        f"at most {MAX_CORRIDOR_LENGTH_M // 1000} km long",
    )
    width_m: float = Field(
        ge=10,
        le=20_000,
        allow_inf_nan=False,
        description="Full width in metres (half of it on each side of the line, round ends); "
        "half of it is at most alerts.max_radius_m",
    )

    cap_element: ClassVar[str] = "polygon"
    cap_label: ClassVar[str] = "corridor"
    cap_import: ClassVar[bool] = False  # exported as its outline; imported as a polygon

    def _band(self) -> shapely.Polygon:
        """The band in RD New; DomainError naming the field when it cannot be used."""
        for i, (lon, lat) in enumerate(self.line):
            if not in_bounds(lon, lat, NL_BOUNDS_WGS84):
                b = NL_BOUNDS_WGS84
                raise DomainError(
                    422,
                    "invalid-target",
                    f"target.line, position {i}: [{lon}, {lat}] lies outside the supported area "
                    f"(lon {b[0]}..{b[2]}, lat {b[1]}..{b[3]}); coordinates are [lon, lat] in WGS84",
                    field="target.line",
                )
        line = transform_geometry(shapely.LineString(self.line), WGS84, RD_NEW)
        if line.length <= 0:
            raise DomainError(
                422, "invalid-target", "target.line: the line has no length", field="target.line"
            )
        if line.length > MAX_CORRIDOR_LENGTH_M:
            raise DomainError(
                422,
                "line-too-long",
                f"target.line: {line.length / 1000:.1f} km is longer than the maximum of "
                f"{MAX_CORRIDOR_LENGTH_M // 1000} km",
                field="target.line",
            )
        band = line.buffer(self.width_m / 2, quad_segs=8, cap_style="round", join_style="round")
        if not isinstance(band, shapely.Polygon) or band.interiors:
            raise DomainError(
                422,
                "invalid-target",
                "target.line: the corridor encloses an area (the line loops back onto itself); "
                "draw a polygon instead",
                field="target.line",
            )
        return band

    async def resolve(self, limits: AlertSettings, areas: AreaLookup) -> Resolved:
        if self.width_m / 2 > limits.max_radius_m:
            raise DomainError(
                422,
                "width-too-large",
                f"target.width_m: {self.width_m:g} m is more than the maximum of {2 * limits.max_radius_m} m",
                field="target.width_m",
            )
        return Resolved(POLYGON, _rd_polygon(self._band()))

    def outline(self) -> shapely.Polygon:
        """The band in WGS84."""
        return transform_geometry(self._band(), RD_NEW, WGS84)

    def area(self) -> dict[str, Any]:
        return _feature(geometry_to_geojson(self.outline()), type="corridor")

    def cap_area(self) -> CapArea:
        ring = list(self.outline().exterior.coords)
        return CapArea(
            f"Strook van {self.width_m:.0f} m breed langs een lijn van {len(self.line)} punten",
            polygons=(_cap_ring(ring),),
        )


#: Every target type by its ``type``, in the order error messages name them. A new
#: type is a class above and one entry here.
TARGETS: dict[str, type[TargetBase]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in (CircleTarget, PolygonTarget, AreasTarget, CorridorTarget)
}

#: ``AlertIn.target``: one of the types, chosen by ``type``.
Target = Annotated[reduce(operator.or_, TARGETS.values()), Field(discriminator="type")]


def stored(target: Mapping[str, Any]) -> TargetBase:
    """A target as stored with an alert (the API shape, already validated once)."""
    cls = TARGETS.get(str(target.get("type")))
    if cls is None:
        raise ValueError(f"unknown target type {target.get('type')!r} ({', '.join(TARGETS)})")
    return cls.model_validate(dict(target))


__all__ = [
    "CIRCLE",
    "CODES",
    "DEFAULT_MIN_RADIUS_M",
    "POLYGON",
    "TARGETS",
    "AreasTarget",
    "CapArea",
    "CircleTarget",
    "CorridorTarget",
    "GeoError",
    "LatLon",
    "Match",
    "PolygonTarget",
    "Resolved",
    "Target",
    "TargetBase",
    "stored",
]
