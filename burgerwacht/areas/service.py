"""Importing CBS areas and BAG-shaped address points; placing addresses in buurten.

Each address is assigned its buurt (and so wijk and gemeente) when stored, with a
shapely STRtree over the buurt outlines (holes and multipolygons included), so that
targeting an area later is an indexed equality on ``addresses.buurt_code``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import numpy as np
import shapely
from asyncpg.types import Box, Point

from burgerwacht.areas import store
from burgerwacht.areas.parse import AreaFeature, ParseProblem, read_address_chunks, read_area_features
from burgerwacht.geo import RD_NEW, WGS84, geometry_to_geojson, transform_geometry

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0
    problems: list[ParseProblem] = field(default_factory=list)
    removed: int = 0
    reassigned: int = 0
    unplaced: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "skipped": self.skipped,
            "removed": self.removed,
            "reassigned": self.reassigned,
            "unplaced": self.unplaced,
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

    def locate(self, xs: np.ndarray, ys: np.ndarray) -> list[int | None]:
        """Index into ``codes`` of the buurt containing each point (None outside all)."""
        out: list[int | None] = [None] * len(xs)
        if self.tree is None or len(xs) == 0:
            return out
        points = shapely.points(xs, ys)
        pairs = self.tree.query(points, predicate="within")
        for point_i, buurt_i in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
            out[point_i] = buurt_i
        return out

    def areas(
        self, xs: np.ndarray, ys: np.ndarray
    ) -> tuple[list[str | None], list[str | None], list[str | None]]:
        hits = self.locate(xs, ys)
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
) -> ImportReport:
    """Upsert the file's areas; drop areas of the same municipalities and levels that the
    new map no longer has (``replace``); re-place every address. One transaction."""
    features, problems = read_area_features(data, crs=crs, target_epsg=RD_NEW)
    report = ImportReport(
        imported=len(features),
        skipped=len({p.line_or_index for p in problems if p.line_or_index >= 0}),
        problems=problems,
    )
    conn = pool_or_conn
    async with conn.transaction():
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


async def reassign_addresses(conn: asyncpg.Connection, progress: Progress | None = None) -> tuple[int, int]:
    """Put every address in the buurt that now contains it. Returns (changed, unplaced)."""
    index = await BuurtIndex.load(conn)
    changed = unplaced = 0
    async for batch in store.address_points(conn):
        xs = np.fromiter((r["location"].x for r in batch), float, len(batch))
        ys = np.fromiter((r["location"].y for r in batch), float, len(batch))
        b, w, g = index.areas(xs, ys)
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


def load_geojson(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


async def area_collection(conn: asyncpg.Connection, municipality: str, level: str | None) -> dict[str, Any]:
    """GeoJSON FeatureCollection of a municipality's areas in WGS84 (RFC 7946)."""
    features = []
    for r in await store.areas_of(conn, municipality, level):
        geom = transform_geometry(shapely.geometry.shape(r["geometry"]), RD_NEW, WGS84)
        features.append(
            {
                "type": "Feature",
                "id": r["code"],
                "geometry": geometry_to_geojson(geom, precision=7),
                "properties": {
                    "code": r["code"],
                    "level": r["level"],
                    "name": r["name"],
                    "municipality_code": r["municipality_code"],
                    "district_code": r["district_code"],
                    "year": r["year"],
                    "addresses": r["addresses"],
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
