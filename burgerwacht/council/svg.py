"""Maps as inline SVG: area outlines from the areas store (RD New metres), simplified,
shaded by a published count. No tiles, no external files: the page prints as it is.

Only published figures go in (a hidden count is drawn hatched and says so); the class
limits in the legend are published figures too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import shapely
import shapely.errors
import shapely.geometry

log = logging.getLogger(__name__)

WIDTH = 1000.0
COLOURS = ("#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c")


@dataclass(frozen=True)
class MapArea:
    code: str
    name: str
    geometry: dict[str, Any]  # GeoJSON in RD New (as stored)
    value: int | None  # published count; None = hidden


def _rings(geom: Any) -> list[Any]:
    polys = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    out = []
    for p in polys:
        if p.is_empty or p.geom_type != "Polygon":
            continue
        out.append(p.exterior)
        out.extend(p.interiors)
    return out


def _breaks(values: Sequence[int], classes: int = len(COLOURS)) -> list[int]:
    """Upper limits of up to ``classes`` classes (quantiles of the published values)."""
    vs = sorted(set(values))
    if not vs:
        return []
    if len(vs) <= classes:
        return vs
    return sorted({vs[min(len(vs) - 1, round((i + 1) * len(vs) / classes) - 1)] for i in range(classes)})


def choropleth(areas: Sequence[MapArea], *, title: str, unit: str = "signalen") -> str:
    shapes = []
    for a in areas:
        try:
            g = shapely.geometry.shape(a.geometry)
        except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.ShapelyError):
            log.warning("area %s: outline not drawable; left out of the map", a.code)
            continue
        if not g.is_empty:
            shapes.append((a, g))
    if not shapes:
        return ""
    minx, miny, maxx, maxy = shapely.total_bounds([g for _, g in shapes]).tolist()
    span = max(maxx - minx, maxy - miny) or 1.0
    scale = WIDTH / span
    height = (maxy - miny) * scale
    tolerance = span / 500  # about two pixels of a printed map
    breaks = _breaks([a.value for a, _ in shapes if a.value is not None])

    def colour(v: int) -> str:
        for i, b in enumerate(breaks):
            if v <= b:
                return COLOURS[min(i + len(COLOURS) - len(breaks), len(COLOURS) - 1)]
        return COLOURS[-1]

    legend_h = 30.0
    out = [
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:.0f} {height + legend_h + 10:.0f}" '
        f'role="img" aria-label="{escape(title)}">',
        '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="8" height="8" fill="#f4f4f4"/>'
        '<line x1="0" y1="0" x2="0" y2="8" stroke="#bbb" stroke-width="3"/></pattern></defs>',
    ]
    for a, g in shapes:
        simple = g.simplify(tolerance, preserve_topology=True)
        d = []
        for ring in _rings(simple):
            pts = [f"{(x - minx) * scale:.1f},{(maxy - y) * scale:.1f}" for x, y in ring.coords[:-1]]
            if len(pts) >= 3:
                d.append("M" + "L".join(pts) + "Z")
        if not d:
            continue
        if a.value is None:
            fill, label, data = "url(#hatch)", f"{a.name}: afgeschermd", ' data-hidden="1"'
        else:
            fill = colour(a.value)
            label = f"{a.name}: {a.value} {unit}"
            data = f' data-count="{a.value}"'
        out.append(
            f'<path d="{"".join(d)}" fill="{fill}" fill-rule="evenodd" stroke="#fff" stroke-width="1.5"'
            f' data-area="{escape(a.code)}"{data}><title>{escape(label)}</title></path>'
        )
    # legend: the classes (upper limits are published figures) and the hatch
    y = height + 10
    x = 0.0
    low = None
    offset = len(COLOURS) - len(breaks)
    for i, b in enumerate(breaks):
        text = f"t/m {b}" if low is None else f"{low + 1}–{b}" if b > low + 1 else f"{b}"
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="18" height="18" fill="{COLOURS[i + offset]}"/>')
        out.append(f'<text x="{x + 24:.0f}" y="{y + 14:.0f}" font-size="16">{escape(text)}</text>')
        x += 130
        low = b
    out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="18" height="18" fill="url(#hatch)"/>')
    out.append(f'<text x="{x + 24:.0f}" y="{y + 14:.0f}" font-size="16">afgeschermd</text>')
    out.append(f"</svg><figcaption>{escape(title)}</figcaption></figure>")
    return "".join(out)
