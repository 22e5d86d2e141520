"""What analysts read: the protected summary per area and category (JSON, CSV,
GeoJSON) and one area's monthly trend.

It exists so the published figures have one home: both read only protected cubes
(:mod:`burgerwacht.signals.cube`), counts per area and category, never a signal row,
its text or its point. The weekly report (:mod:`burgerwacht.signals.reports`) is a set
of these summaries.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import shapely

from burgerwacht import csvsafe
from burgerwacht.config import Settings
from burgerwacht.errors import DomainError
from burgerwacht.geo import RD_NEW, WGS84, geometry_to_geojson, transform_geometry
from burgerwacht.signals import store
from burgerwacht.signals.cube import Cube, cube, noise_of
from burgerwacht.signals.periods import (
    Period,
    PeriodError,
    from_dates,
    last_complete_month,
    parse_period,
    today,
)
from burgerwacht.signals.taxonomy import TOTAL, taxonomy


def invalid_period(message: str, loc: str) -> DomainError:
    """422 for a period the request names wrongly (``loc``: the query parameter)."""
    return DomainError(
        422, "invalid-period", message, errors=[{"loc": loc, "msg": message, "type": "value_error"}]
    )


def requested_period(
    period: str | None, start: date | None, end: date | None, loc: str = "query.period"
) -> Period:
    """The period a request asks for: ``period`` (2025-03, 2025-Q1, 2025), else
    ``start``..``end`` when both are given (a whole month, quarter or year), else the
    last complete month."""
    try:
        if period:
            return parse_period(period)
        if start is not None and end is not None:
            return from_dates(start, end)
    except PeriodError as exc:
        raise invalid_period(str(exc), loc) from None
    return last_complete_month(today())


def privacy_info(settings: Settings) -> dict[str, Any]:
    """The published rules: k, rounding, the audit's margin and the noise's size (the
    p-table itself is configuration, not a secret; the record keys are)."""
    noise = noise_of(settings)
    return {
        "k": settings.privacy.k,
        "round_to": settings.privacy.round_to,
        "protection": taxonomy().protection,
        "noise": {"max": noise.max, "variance": round(noise.variance, 3)},
    }


@dataclass(frozen=True)
class SummaryRequest:
    municipality: str
    level: str
    period: Period
    category: str | None = None
    group: str | None = None
    compare: bool = True


def _nodes_for(req: SummaryRequest, c: Cube) -> list[str]:
    # Errors here and in trend() name no field: the answers have never carried an
    # ``errors`` entry for these query parameters.
    tax = taxonomy()
    if req.category:
        if req.category not in c.nodes.index or c.nodes.index[req.category] >= c.nodes.leaves:
            raise DomainError(422, "unknown-category", f"unknown category {req.category!r}")
        return [req.category]
    if req.group:
        if req.group != TOTAL and req.group not in tax.groups:
            raise DomainError(422, "unknown-group", f"unknown group {req.group!r}")
        if req.group not in c.nodes.index:
            raise DomainError(422, "unknown-group", f"group {req.group!r} has no categories here")
        return [req.group]
    return c.nodes.labels[: c.nodes.leaves]


def _node_group(node: str) -> str | None:
    cat = taxonomy().categories.get(node)
    return cat.group if cat else None


async def summary(
    conn: asyncpg.Connection, settings: Settings, req: SummaryRequest, *, live: bool = False
) -> dict[str, Any]:
    current = await cube(conn, settings, req.municipality, req.period.year, live=live)
    prev_period = req.period.previous() if req.compare else None
    previous = None
    if prev_period is not None:
        previous = (
            current
            if prev_period.year == req.period.year
            else await cube(conn, settings, req.municipality, prev_period.year, live=live)
        )
    nodes = _nodes_for(req, current)
    areas = [code for code in current.areas.labels if current.area_level[code] == req.level]
    counts, means = current.block(areas, nodes, req.period)
    totals = current.block([req.municipality], nodes, req.period)[0][0]
    if previous is not None and prev_period is not None:
        prevs = previous.block(areas, nodes, prev_period)[0]
    else:
        prevs = [[None] * len(nodes) for _ in areas]
    groups = [_node_group(node) for node in nodes]
    label = req.period.label
    items = []
    for area, n_row, m_row, p_row in zip(areas, counts, means, prevs, strict=True):
        name = current.area_name.get(area, area)
        for node, group, n, mean, prev, total in zip(nodes, groups, n_row, m_row, p_row, totals, strict=True):
            change = n - prev if n is not None and prev is not None else None
            items.append(
                {
                    "area_code": area,
                    "area_name": name,
                    "level": req.level,
                    "category": node,
                    "group": group,
                    "period": label,
                    "count": n,
                    "suppressed": n is None,
                    "previous_count": prev,
                    "change": change,
                    "change_pct": round(100.0 * change / prev, 1) if change is not None and prev else None,
                    "share": round(n / total, 3) if n is not None and total else None,
                    "mean_severity": mean,
                }
            )
    return {
        "municipality": req.municipality,
        "level": req.level,
        "period": req.period.as_dict(),
        "previous_period": prev_period.as_dict() if prev_period else None,
        "privacy": privacy_info(settings),
        "items": items,
        "next": None,
    }


async def trend(
    conn: asyncpg.Connection,
    settings: Settings,
    municipality: str,
    *,
    area: str | None,
    category: str | None,
    group: str | None,
    last: Period,
    months: int,
) -> dict[str, Any]:
    """Monthly published counts of one area and category node, ``months`` months up to
    and including ``last``: read from the same protected year cubes as :func:`summary`,
    so every point equals that month's summary row."""
    periods = [last]
    while len(periods) < months:
        periods.append(periods[-1].previous())
    periods.reverse()
    cubes: dict[int, Cube] = {}
    for p in periods:
        if p.year not in cubes:
            cubes[p.year] = await cube(conn, settings, municipality, p.year)
    wanted = SummaryRequest(municipality, "gemeente", last, category=category, group=group or TOTAL)
    node = _nodes_for(wanted, cubes[last.year])[0]
    code = area or municipality
    # every cube has today's areas; a buurt no longer in them appears in the years it
    # has signals (its months elsewhere are not published: null)
    named = [c for c in reversed(cubes.values()) if code in c.areas.index]
    if not named:
        raise DomainError(422, "unknown-area", f"{code} is not an area of {municipality}")
    latest = named[0]
    points = []
    for p in periods:
        n, mean = cubes[p.year].value(code, node, p)
        points.append({"period": p.label, "count": n, "suppressed": n is None, "mean_severity": mean})
    return {
        "municipality": municipality,
        "area_code": code,
        "area_name": latest.area_name.get(code, code),
        "level": latest.area_level[code],
        "category": node,
        "group": _node_group(node),
        "privacy": privacy_info(settings),
        "points": points,
    }


SUMMARY_CSV_COLUMNS = (
    "area_code",
    "area_name",
    "level",
    "category",
    "group",
    "period",
    "count",
    "suppressed",
    "previous_count",
    "change",
    "change_pct",
    "share",
    "mean_severity",
)


def rows_to_csv(items: list[dict[str, Any]], columns: tuple[str, ...] = SUMMARY_CSV_COLUMNS) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow(["" if item.get(c) is None else _csv_value(item.get(c)) for c in columns])
    return out.getvalue()


def _csv_value(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


async def summary_geojson(conn: asyncpg.Connection, doc: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection (WGS84, RFC 7946): one feature per summary row."""
    codes = sorted({i["area_code"] for i in doc["items"]})
    geoms = await store.area_geometries(conn, codes)
    converted: dict[str, Any] = {}
    for code, g in geoms.items():
        converted[code] = geometry_to_geojson(
            transform_geometry(shapely.geometry.shape(g), RD_NEW, WGS84), precision=6
        )
    features = [
        {
            "type": "Feature",
            "id": f"{i['area_code']}:{i['category']}",
            "geometry": converted.get(i["area_code"]),
            "properties": i,
        }
        for i in doc["items"]
    ]
    return {
        "type": "FeatureCollection",
        "name": f"buurtsignaal_{doc['municipality']}_{doc['period']['label']}_{doc['level']}",
        "features": features,
    }
