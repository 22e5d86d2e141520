"""Generate the SYNTHETIC demo data for the fictional municipality GM9999 "Demostad".

    python burgerwacht/defaults/demo/generate_demo.py          # (re)writes areas.geojson and addresses.csv
    python burgerwacht/defaults/demo/generate_demo.py --check  # exits 1 when the files differ from a fresh run

Everything is fictional: the municipality, its wijken and buurten, the streets-without-
names and the addresses. The output is deterministic (fixed seed, coordinates rounded).

Layout: a 8 x 6 grid of 750 m cells whose corner nodes are jittered, in RD New
(EPSG:28992) on the Veluwe between Ede and Arnhem (x 180000-186000, y 449000-453500).
Every buurt is a union of whole cells, every wijk a union of buurten and the gemeente
the union of all, so shared edges have identical vertices and the buurten tile the
gemeente exactly. BU99990403 "Oosterpolder" is a MultiPolygon (a detached cell), and
BU99990301 "Havenkom" has a hole filled exactly by the enclave buurt BU99990302 "Eiland".
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
import sys
from pathlib import Path

import shapely
from shapely.geometry import mapping
from shapely.geometry.polygon import orient
from shapely.ops import unary_union

HERE = Path(__file__).resolve().parent
SEED = 20260101
YEAR = 2026
ORIGIN = (180000.0, 449000.0)  # RD New, south-west corner of the grid
CELL = 750.0
JITTER = 90.0
COLS, ROWS = 8, 6

GEMEENTE = ("GM9999", "Demostad")
WIJKEN = {
    "WK999901": "Centrum",
    "WK999902": "Noord",
    "WK999903": "Havenkwartier",
    "WK999904": "Oost",
}
# code: (name, number of addresses)
BUURTEN = {
    "BU99990101": ("Binnenstad", 420),
    "BU99990102": ("Stationsbuurt", 340),
    "BU99990103": ("Marktkwartier", 300),
    "BU99990201": ("Molenwijk", 340),
    "BU99990202": ("Vogelbuurt", 360),
    "BU99990203": ("Noorderpark", 40),
    "BU99990301": ("Havenkom", 240),
    "BU99990302": ("Eiland", 16),
    "BU99990303": ("Kadewijk", 340),
    "BU99990401": ("Bloemenbuurt", 360),
    "BU99990402": ("Sportpark", 48),
    "BU99990403": ("Oosterpolder", 160),
}
# PC4 per wijk: real-format postcodes assigned to a fictional place (see README.md)
PC4 = {"WK999901": "9991", "WK999902": "9992", "WK999903": "9993", "WK999904": "9994"}

# buurt of each grid cell; rows from north (top, row 5) to south (row 0), last two digits
CELL_MAP = """
0201 0201 0202 0202 0202 0203 0203 0203
0201 0201 0202 0101 0101 0203 0203 0203
0301 0301 0101 0101 0102 0401 0401 0401
0301 0303 0103 0103 0102 0401 0402 0402
0303 0303 0103 0102 0102 0403 0402 0402
0303 0303 0103 0403 0403 0403 0402 0403
"""
ENCLAVE = "BU99990302"  # lies inside cell (0, 3), cut out of its host
ENCLAVE_HOST = "BU99990301"
ENCLAVE_CELL = (0, 3)


def _cells_by_buurt() -> dict[str, list[tuple[int, int]]]:
    rows = [line.split() for line in CELL_MAP.strip().splitlines()]
    assert len(rows) == ROWS and all(len(r) == COLS for r in rows)
    out: dict[str, list[tuple[int, int]]] = {}
    for r, line in enumerate(rows):
        j = ROWS - 1 - r
        for i, suffix in enumerate(line):
            out.setdefault(f"BU9999{suffix}", []).append((i, j))
    return out


def _lattice(rng: random.Random) -> dict[tuple[int, int], tuple[float, float]]:
    nodes = {}
    for j in range(ROWS + 1):
        for i in range(COLS + 1):
            x = ORIGIN[0] + i * CELL + rng.uniform(-JITTER, JITTER)
            y = ORIGIN[1] + j * CELL + rng.uniform(-JITTER, JITTER)
            nodes[(i, j)] = (round(x, 1), round(y, 1))
    return nodes


def _cell(nodes, i: int, j: int) -> shapely.Polygon:
    return shapely.Polygon([nodes[(i, j)], nodes[(i + 1, j)], nodes[(i + 1, j + 1)], nodes[(i, j + 1)]])


def _enclave(rng: random.Random, cell: shapely.Polygon) -> shapely.Polygon:
    cx, cy = cell.centroid.x, cell.centroid.y
    pts = []
    for k in range(9):
        angle = 2 * math.pi * k / 9
        radius = rng.uniform(130, 190)
        pts.append((round(cx + radius * math.cos(angle), 1), round(cy + radius * math.sin(angle), 1)))
    return shapely.Polygon(pts)


def build_areas(rng: random.Random) -> list[dict]:
    """One dict per area: level, code, name, wijk code, geometry (shapely, RD New)."""
    nodes = _lattice(rng)
    cells = _cells_by_buurt()
    assert set(cells) == set(BUURTEN) - {ENCLAVE}, sorted(cells)
    enclave = _enclave(rng, _cell(nodes, *ENCLAVE_CELL))
    assert _cell(nodes, *ENCLAVE_CELL).buffer(-20).contains(enclave)

    buurt_geoms: dict[str, shapely.Geometry] = {}
    for code, cs in cells.items():
        geom = unary_union([_cell(nodes, i, j) for i, j in cs])
        if code == ENCLAVE_HOST:
            geom = shapely.Polygon(geom.exterior.coords, [enclave.exterior.coords])
        buurt_geoms[code] = geom
    buurt_geoms[ENCLAVE] = enclave

    all_cells = [_cell(nodes, i, j) for i in range(COLS) for j in range(ROWS)]
    areas = [
        {"level": "gemeente", "code": GEMEENTE[0], "name": GEMEENTE[1], "geometry": unary_union(all_cells)}
    ]
    for wk, name in WIJKEN.items():
        parts = [_cell(nodes, i, j) for bu, cs in cells.items() if bu[2:8] == wk[2:] for i, j in cs]
        areas.append({"level": "wijk", "code": wk, "name": name, "geometry": unary_union(parts)})
    for bu, (name, _) in BUURTEN.items():
        areas.append({"level": "buurt", "code": bu, "name": name, "geometry": buurt_geoms[bu]})
    for area in areas:
        geom = area["geometry"]
        assert geom.is_valid, (area["code"], shapely.validation.explain_validity(geom))
        if isinstance(geom, shapely.MultiPolygon):
            area["geometry"] = shapely.MultiPolygon([orient(p) for p in geom.geoms])
        else:
            area["geometry"] = orient(geom)
    assert isinstance(buurt_geoms["BU99990403"], shapely.MultiPolygon)
    return areas


def _postcode_letters():
    letters = "ABCDEFGHJKLMNPRTVWXZ"  # skips letters easily misread; SA/SD/SS never come up
    for a in letters:
        for b in letters:
            yield a + b


def build_addresses(rng: random.Random, areas: list[dict]) -> list[dict]:
    """About eight addresses per postcode along a short straight 'street' inside a buurt."""
    by_code = {a["code"]: a for a in areas}
    letter_iters = {wk: _postcode_letters() for wk in PC4}
    rows: list[dict] = []
    for bu, (_name, wanted) in BUURTEN.items():
        wk = "WK" + bu[2:8]
        inner = by_code[bu]["geometry"].buffer(-12)
        shapely.prepare(inner)
        minx, miny, maxx, maxy = inner.bounds
        made = 0
        while made < wanted:
            size = min(wanted - made, rng.choice((6, 7, 8, 8, 9, 10)))
            kind = rng.choices(("street", "letters", "flat"), weights=(70, 15, 15))[0]
            if bu == ENCLAVE:
                kind = "street"
            angle = rng.uniform(0, math.pi)
            step = 9.0 if kind != "flat" else 0.8
            for _attempt in range(1000):
                x0, y0 = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
                pts = [
                    (x0 + k * step * math.cos(angle), y0 + k * step * math.sin(angle)) for k in range(size)
                ]
                if all(inner.contains(shapely.Point(p)) for p in pts):
                    break
            else:  # pragma: no cover - the buurten are far larger than a street
                raise RuntimeError(f"no room for a street in {bu}")
            postcode = PC4[wk] + next(letter_iters[wk])
            start = rng.randint(1, 120)
            if kind == "street":
                numbers = [(start + k, "", "") for k in range(size)]
            elif kind == "letters":
                numbers = []
                n = start
                while len(numbers) < size:
                    numbers.extend([(n, "", ""), (n, "A", ""), (n, "B", "")])
                    n += 1
                numbers = numbers[:size]
            else:
                extras = ["H", *[str(k) for k in range(1, size)]]
                numbers = [(start, "", extras[k]) for k in range(size)]
            for (number, letter, addition), (x, y) in zip(numbers, pts, strict=True):
                rows.append(
                    {
                        "postcode": postcode,
                        "huisnummer": number,
                        "huisletter": letter,
                        "huisnummertoevoeging": addition,
                        "x": f"{x:.2f}",
                        "y": f"{y:.2f}",
                        "buurtcode": bu,
                    }
                )
            made += size
    return rows


def _coords(obj):
    if isinstance(obj, list | tuple):
        if obj and isinstance(obj[0], float | int):
            return [round(float(v), 2) for v in obj]
        return [_coords(v) for v in obj]
    return obj


def render_geojson(areas: list[dict]) -> str:
    features = []
    for a in areas:
        props = {"gemeentecode": GEMEENTE[0], "gemeentenaam": GEMEENTE[1]}
        if a["level"] in ("wijk", "buurt"):
            wk = "WK" + a["code"][2:8]
            props |= {"wijkcode": wk, "wijknaam": WIJKEN[wk]}
        if a["level"] == "buurt":
            props |= {"buurtcode": a["code"], "buurtnaam": a["name"]}
        props["jaar"] = YEAR
        geom = mapping(a["geometry"])
        geom = {"type": geom["type"], "coordinates": _coords(geom["coordinates"])}
        features.append({"type": "Feature", "properties": props, "geometry": geom})
    head = {
        "type": "FeatureCollection",
        "name": "demostad_gebiedsindeling_SYNTHETIC",
        "description": "SYNTHETIC demo data: fictional municipality GM9999 Demostad. Not CBS data.",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::28992"}},
    }
    text = json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n'
    text += ",\n".join(json.dumps(f, ensure_ascii=False) for f in features)
    return text + "\n]}\n"


CSV_COLUMNS = ["postcode", "huisnummer", "huisletter", "huisnummertoevoeging", "x", "y"]


def render_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([r[c] for c in CSV_COLUMNS])
    return out.getvalue()


def generate() -> tuple[list[dict], list[dict], str, str]:
    """Build everything in memory: (areas, addresses, geojson text, csv text)."""
    rng = random.Random(SEED)
    areas = build_areas(rng)
    rows = build_addresses(rng, areas)
    return areas, rows, render_geojson(areas), render_csv(rows)


def examples(rows: list[dict], per_buurt: int = 3) -> str:
    """A Markdown table of example addresses per buurt (for README.md)."""
    lines = ["| buurt | code | example addresses |", "|---|---|---|"]
    for bu, (name, _) in BUURTEN.items():
        seen: list[str] = []
        for r in rows:
            if r["buurtcode"] != bu:
                continue
            if any(s.startswith(r["postcode"][:4] + " " + r["postcode"][4:]) for s in seen):
                continue
            label = f"{r['postcode'][:4]} {r['postcode'][4:]} {r['huisnummer']}"
            label += r["huisletter"] + (f"-{r['huisnummertoevoeging']}" if r["huisnummertoevoeging"] else "")
            seen.append(label)
            if len(seen) == per_buurt:
                break
        lines.append(f"| {name} | {bu} | " + " · ".join(seen) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing")
    parser.add_argument("--examples", action="store_true", help="print example addresses per buurt")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = parser.parse_args(argv)
    _areas, rows, geojson, csv_text = generate()
    targets = {args.out / "areas.geojson": geojson, args.out / "addresses.csv": csv_text}
    if args.examples:
        print(examples(rows))
        return 0
    if args.check:
        stale = [p.name for p, text in targets.items() if not p.exists() or p.read_text("utf-8") != text]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    for path, text in targets.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
