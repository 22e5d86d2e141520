"""Importing CBS areas and BAG-shaped address points; placing addresses in buurten.

Each address is assigned its buurt (and so wijk and gemeente) when stored, with a
shapely STRtree over the buurt outlines (holes and multipolygons included), so that
targeting an area later is an indexed equality on ``addresses.buurt_code``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np
import shapely
from asyncpg.types import Box, Point

from burgerwacht.areas import store
from burgerwacht.areas.parse import (
    AreaFeature,
    ParseProblem,
    Simplified,
    limit_vertices,
    read_address_chunks,
    read_area_features,
)
from burgerwacht.config import AreaSettings
from burgerwacht.geo import RD_NEW, WGS84, geometry_to_geojson, transform_geometry

Progress = Callable[[int], None]


@dataclass
class Overlap:
    """A buurt of the import overlapping a buurt of another municipality."""

    code: str
    municipality_code: str
    other_code: str
    other_municipality_code: str
    area_m2: float


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0
    problems: list[ParseProblem] = field(default_factory=list)
    removed: int = 0
    reassigned: int = 0
    unplaced: int = 0
    simplified: list[Simplified] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)
    refused: bool = False  # nothing was stored (file limits, or overlaps not allowed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "skipped": self.skipped,
            "removed": self.removed,
            "reassigned": self.reassigned,
            "unplaced": self.unplaced,
            "refused": self.refused,
            "simplified": [
                {"code": s.code, "vertices_before": s.vertices_before, "vertices_after": s.vertices_after}
                for s in self.simplified
            ],
            "overlaps": [
                {
                    "code": o.code,
                    "municipality_code": o.municipality_code,
                    "other_code": o.other_code,
                    "other_municipality_code": o.other_municipality_code,
                    "area_m2": round(o.area_m2, 1),
                }
                for o in self.overlaps
            ],
            "problems": [
                {"line": p.line_or_index, "code": p.code, "message": p.message} for p in self.problems
            ],
        }


class BuurtIndex:
    """Point-in-buurt lookups for many points at once."""

    def __init__(self, rows: Iterable[tuple[str, str, str | None, shapely.Geometry]]) -> None:
        rows = list(rows)
        self.codes = [r[0] for r in rows]
        self.gm = [r[1] for r in rows]
        self.wk = [r[2] for r in rows]
        self.tree = shapely.STRtree([r[3] for r in rows]) if rows else None

    @classmethod
    async def load(cls, conn: asyncpg.Connection) -> BuurtIndex:
        rows = await store.buurten(conn)
        return cls(
            (r["code"], r["municipality_code"], r["district_code"], shapely.geometry.shape(r["geometry"]))
            for r in rows
        )

    def locate(
        self, xs: np.ndarray, ys: np.ndarray, current: list[str | None] | None = None
    ) -> list[int | None]:
        """Index into ``codes`` of the buurt containing each point (None outside all).

        Where buurten overlap (an import with --allow-overlap) a point keeps its
        ``current`` buurt while that still contains it, else takes the first by code."""
        out: list[int | None] = [None] * len(xs)
        if self.tree is None or len(xs) == 0:
            return out
        points = shapely.points(xs, ys)
        pairs = self.tree.query(points, predicate="within")
        for point_i, buurt_i in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
            had = out[point_i]
            now = current[point_i] if current is not None else None
            if had is None or (self.codes[had] != now and (self.codes[buurt_i] == now or buurt_i < had)):
                out[point_i] = buurt_i
        return out

    def areas(
        self, xs: np.ndarray, ys: np.ndarray, current: list[str | None] | None = None
    ) -> tuple[list[str | None], list[str | None], list[str | None]]:
        hits = self.locate(xs, ys, current)
        b = [self.codes[h] if h is not None else None for h in hits]
        w = [self.wk[h] if h is not None else None for h in hits]
        g = [self.gm[h] if h is not None else None for h in hits]
        return b, w, g


def _area_row(f: AreaFeature) -> tuple[Any, ...]:
    geometry = geometry_to_geojson(f.geometry, precision=3)  # RD metres: millimetres are plenty
    xmin, ymin, xmax, ymax = f.geometry.bounds
    return (
        f.code,
        f.level,
        f.name,
        f.municipality_code,
        f.district_code,
        f.year,
        geometry,
        Box(Point(xmax, ymax), Point(xmin, ymin)),
    )


async def import_areas(
    pool_or_conn: asyncpg.Connection,
    data: dict[str, Any],
    *,
    crs: int | None = None,
    replace: bool = True,
    progress: Progress | None = None,
    limits: AreaSettings | None = None,
    allow_overlap: bool = False,
) -> ImportReport:
    """Upsert the file's areas; drop areas of the same municipalities and levels that the
    new map no longer has (``replace``); re-place every address. One transaction.

    ``limits`` (default: the defaults of ``[areas]``): more features than
    ``max_features`` refuses the file; an outline above ``max_vertices`` is simplified
    within ``simplify_tolerance_m`` or skipped; a buurt overlapping another
    municipality's buurt (stored, or in the same file) by more than
    ``overlap_tolerance_m2`` refuses the whole import unless ``allow_overlap``
    (the overlaps are reported either way). A refused import stores nothing."""
    limits = limits or AreaSettings()
    raw = data.get("features") if isinstance(data, dict) else None
    if isinstance(raw, list) and len(raw) > limits.max_features:
        message = f"the file has {len(raw)} features; the limit is {limits.max_features} (areas.max_features)"
        return ImportReport(problems=[ParseProblem(-1, None, message)], refused=True)
    features, problems = read_area_features(data, crs=crs, target_epsg=RD_NEW)
    features, simplified, too_big = limit_vertices(features, limits.max_vertices, limits.simplify_tolerance_m)
    problems.extend(ParseProblem(f.index, f.code, message) for f, message in too_big)
    problems.sort(key=lambda p: p.line_or_index)
    report = ImportReport(
        imported=len(features),
        skipped=len({p.line_or_index for p in problems if p.line_or_index >= 0}),
        problems=problems,
        simplified=simplified,
    )
    conn = pool_or_conn
    async with conn.transaction():
        if any(f.level == "buurt" for f in features):
            report.overlaps = await find_overlaps(conn, features, replace, limits.overlap_tolerance_m2)
            if report.overlaps and not allow_overlap:
                report.refused = True
                report.imported = 0
                return report
        await store.upsert_areas(conn, [_area_row(f) for f in features])
        if replace and features:
            municipalities = sorted({f.municipality_code for f in features})
            levels = sorted({f.level for f in features})
            report.removed = await store.delete_areas_not_in(
                conn, municipalities, levels, [f.code for f in features]
            )
        if any(f.level == "buurt" for f in features):
            report.reassigned, report.unplaced = await reassign_addresses(conn, progress)
    return report


async def find_overlaps(
    conn: asyncpg.Connection, features: list[AreaFeature], replace: bool, tolerance_m2: float
) -> list[Overlap]:
    """Buurten of ``features`` that overlap a buurt of another municipality by more than
    ``tolerance_m2``, in the map as it will be after the import: the stored buurten the
    import keeps (not re-imported, not removed by ``replace``) and the file's own."""
    new = [f for f in features if f.level == "buurt"]
    codes = {f.code for f in features}
    replaced = {f.municipality_code for f in features} if replace else set()
    kept = [
        r
        for r in await store.buurten(conn)
        if r["code"] not in codes and r["municipality_code"] not in replaced
    ]
    others = [(f.code, f.municipality_code, f.geometry) for f in new] + [
        (r["code"], r["municipality_code"], shapely.geometry.shape(r["geometry"])) for r in kept
    ]
    tree = shapely.STRtree([g for _, _, g in others])
    pairs = tree.query([f.geometry for f in new], predicate="intersects")
    found: list[Overlap] = []
    for i, j in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
        a, (code, gm, geom) = new[i], others[j]
        if gm == a.municipality_code or (j < len(new) and j < i):  # same town, or a file pair seen
            continue
        area = float(shapely.intersection(a.geometry, geom).area)
        if area > tolerance_m2:
            found.append(Overlap(a.code, a.municipality_code, code, gm, area))
    found.sort(key=lambda o: (o.code, o.other_code))
    return found


async def reassign_addresses(conn: asyncpg.Connection, progress: Progress | None = None) -> tuple[int, int]:
    """Put every address in the buurt that now contains it. Returns (changed, unplaced)."""
    index = await BuurtIndex.load(conn)
    changed = unplaced = 0
    async for batch in store.address_points(conn):
        xs = np.fromiter((r["location"].x for r in batch), float, len(batch))
        ys = np.fromiter((r["location"].y for r in batch), float, len(batch))
        b, w, g = index.areas(xs, ys, [r["buurt_code"] for r in batch])
        unplaced += sum(1 for code in b if code is None)
        changed += await store.set_address_areas(conn, [r["id"] for r in batch], b, w, g)
        if progress:
            progress(len(batch))
    return changed, unplaced


async def import_addresses(
    conn: asyncpg.Connection,
    lines: Iterable[str],
    *,
    chunk_size: int = 20000,
    progress: Progress | None = None,
) -> ImportReport:
    """COPY address points into a staging table, then upsert: one transaction, so a
    failed import leaves the table as it was."""
    report = ImportReport()
    async with conn.transaction():
        index = await BuurtIndex.load(conn)
        await store.create_address_staging(conn)
        for rows, problems in read_address_chunks(lines, chunk_size=chunk_size):
            report.problems.extend(problems)
            report.skipped += len(problems)
            if rows:
                xs = np.fromiter((r.x for r in rows), float, len(rows))
                ys = np.fromiter((r.y for r in rows), float, len(rows))
                b, w, g = index.areas(xs, ys)
                report.unplaced += sum(1 for code in b if code is None)
                await store.copy_addresses(
                    conn,
                    [
                        (
                            r.line,
                            r.postcode,
                            r.house_number,
                            r.house_letter or "",
                            r.addition or "",
                            Point(r.x, r.y),
                            b[i],
                            w[i],
                            g[i],
                        )
                        for i, r in enumerate(rows)
                    ],
                )
            if progress:
                progress(len(rows) + len(problems))
        report.imported = await store.merge_staged_addresses(conn)
    return report


class FileTooLarge(ValueError):
    pass


def load_geojson(path: str, max_bytes: int | None = None) -> dict[str, Any]:
    """Read a GeoJSON file; a file over ``max_bytes`` raises :class:`FileTooLarge` unread."""
    with open(path, encoding="utf-8") as fh:
        if max_bytes is not None:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise FileTooLarge(
                    f"{path} has {size} bytes; the limit is {max_bytes} (areas.max_file_bytes)"
                )
        return json.load(fh)


class OutlineCache:
    """WGS84 GeoJSON outlines (JSON text) per area code, for ``GET /api/v1/areas``.

    An entry is valid for the area's ``updated_at``: an import that changes an area
    changes it, so a stale outline is never served (in any process). Least recently
    used entries go once the texts exceed ``max_bytes``. Used from the event loop only."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, tuple[datetime, str]] = OrderedDict()

    def get(self, code: str, stamp: datetime) -> str | None:
        entry = self._entries.get(code)
        if entry is None or entry[0] != stamp:
            return None
        self._entries.move_to_end(code)
        return entry[1]

    def put(self, code: str, stamp: datetime, text: str) -> None:
        old = self._entries.pop(code, None)
        if old is not None:
            self.size -= len(old[1])
        if len(text) > self.max_bytes:
            return
        self._entries[code] = (stamp, text)
        self.size += len(text)
        while self.size > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= len(dropped)


def outline_to_wgs84_text(rd_geojson: str) -> str:
    """A stored outline (GeoJSON text, RD New) → WGS84 GeoJSON text (RFC 7946, 7 decimals,
    ≈ 1 cm). GEOS reads and writes the text (releasing the GIL, so a thread doing this
    does not stall the event loop as json.loads/dumps of a large outline would)."""
    geom = transform_geometry(shapely.from_geojson(rd_geojson), RD_NEW, WGS84)
    return shapely.to_geojson(shapely.transform(geom, lambda xy: np.round(xy, 7)))


def _collection_body(rows: list[tuple[str, dict[str, Any]]], outlines: dict[str, str]) -> bytes:
    features = ",".join(
        f'{{"type":"Feature","id":{json.dumps(code)},"geometry":{outlines[code]},'
        f'"properties":{json.dumps(props, ensure_ascii=False)}}}'
        for code, props in rows
    )
    return f'{{"type":"FeatureCollection","features":[{features}]}}'.encode()


async def area_collection(
    conn: asyncpg.Connection, municipality: str, level: str | None, cache: OutlineCache
) -> bytes:
    """GeoJSON FeatureCollection (UTF-8 JSON) of a municipality's areas in WGS84 (RFC 7946).

    Outlines are converted from RD New once per area version and cached; the
    conversion and the assembly of the body run in the default executor, never on the
    event loop, so a large map does not hold up other requests."""
    rows = await store.areas_of(conn, municipality, level)
    outlines: dict[str, str] = {}
    for r in rows:
        text = cache.get(r["code"], r["updated_at"])
        if text is not None:
            outlines[r["code"]] = text
    missing = [r["code"] for r in rows if r["code"] not in outlines]
    loop = asyncio.get_running_loop()
    if missing:
        stored = await store.outlines_text(conn, missing)
        texts = await loop.run_in_executor(
            None, lambda: [outline_to_wgs84_text(g["geometry"]) for g in stored]
        )
        for g, text in zip(stored, texts, strict=True):
            cache.put(g["code"], g["updated_at"], text)
            outlines[g["code"]] = text
    props = [
        (
            r["code"],
            {
                "code": r["code"],
                "level": r["level"],
                "name": r["name"],
                "municipality_code": r["municipality_code"],
                "district_code": r["district_code"],
                "year": r["year"],
                "addresses": r["addresses"],
            },
        )
        for r in rows
        if r["code"] in outlines  # an area deleted between the two queries is left out
    ]
    return await loop.run_in_executor(None, _collection_body, props, outlines)
