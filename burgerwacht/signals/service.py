"""Signal intake (API, SMS, Open311), the protected summaries, the gebiedsscan
comparison (informatiepositie) and the stored reports.

Privacy boundary: functions that feed analysts (:func:`summary`,
:func:`informatiepositie`, :func:`build_report`) only ever read the protected cube
(:mod:`burgerwacht.signals.privacy`): counts per area and category, never a signal
row, its text or its point.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import secrets
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import shapely
from asyncpg.types import Point

from burgerwacht import csvsafe
from burgerwacht.audit import store as audit
from burgerwacht.config import Settings
from burgerwacht.geo import RD_NEW, WGS84, geometry_to_geojson, rd_to_wgs84, transform_geometry, wgs84_to_rd
from burgerwacht.residents import store as residents_store
from burgerwacht.residents.address import parse_address_text
from burgerwacht.signals import store
from burgerwacht.signals.periods import Period, containing, time_relations, year_periods
from burgerwacht.signals.privacy import Axis, Protected, protect
from burgerwacht.signals.taxonomy import FALLBACK, TOTAL, Taxonomy, taxonomy

log = logging.getLogger(__name__)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SOURCES = ("interview", "schouw", "sms", "open311", "handhaving")
THEME_PREFIX = "theme:"


def today() -> date:
    return datetime.now(AMSTERDAM).date()


class SignalError(Exception):
    """Input that cannot become a signal; ``field`` names the offending field."""

    def __init__(self, status: int, slug: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug
        self.message = message
        self.field = field


# ------------------------------------------------------------------- locating


@dataclass(frozen=True)
class Place:
    buurt_code: str
    buurt_name: str
    wijk_code: str | None
    municipality_code: str


async def place_of_point(conn: asyncpg.Connection, x: float, y: float) -> Place | None:
    """The buurt containing an RD New point (outlines with holes and parts respected)."""
    point = shapely.Point(x, y)
    for r in await store.buurt_candidates(conn, x, y):
        if shapely.geometry.shape(r["geometry"]).covers(point):
            return Place(r["code"], r["name"], r["district_code"], r["municipality_code"])
    return None


async def place_of_area(conn: asyncpg.Connection, code: str) -> Place:
    row = await store.area(conn, code.strip().upper())
    if row is None:
        raise SignalError(422, "unknown-area", f"area {code} does not exist", "area_code")
    if row["level"] != "buurt":
        raise SignalError(
            422,
            "area-not-buurt",
            f"{code} is a {row['level']}: give a buurt code (BU…) or a point, so the signal can be counted "
            "per buurt",
            "area_code",
        )
    return Place(row["code"], row["name"], row["district_code"], row["municipality_code"])


async def place_of_buurt(conn: asyncpg.Connection, code: str | None) -> Place | None:
    if not code:
        return None
    row = await store.area(conn, code)
    if row is None:
        return None
    return Place(row["code"], row["name"], row["district_code"], row["municipality_code"])


# ------------------------------------------------------------------- intake


def new_public_id() -> str:
    return "bs-" + secrets.token_hex(12)


async def create_signal(
    conn: asyncpg.Connection,
    *,
    place: Place,
    category: str,
    severity: int | None,
    observed_on: date,
    source: str,
    text: str | None,
    location: tuple[float, float] | None,
    created_by: str,
    audit_actor: str | None = None,
) -> asyncpg.Record:
    """Store a signal; with ``audit_actor`` (a staff member's actor name) it is also
    written to the audit log, in the caller's transaction."""
    tax = taxonomy()
    if tax.category(category, place.municipality_code) is None:
        raise SignalError(
            422,
            "unknown-category",
            f"category {category!r} is not in the taxonomy of {place.municipality_code}",
            "category",
        )
    if source not in SOURCES:
        raise SignalError(422, "unknown-source", f"source must be one of {', '.join(SOURCES)}", "source")
    if observed_on > today():
        raise SignalError(422, "future-date", "observed_on lies in the future", "observed_on")
    row = await store.insert_signal(
        conn,
        public_id=new_public_id(),
        municipality_code=place.municipality_code,
        wijk_code=place.wijk_code,
        buurt_code=place.buurt_code,
        category=category,
        severity=severity,
        observed_on=observed_on,
        source=source,
        text=(text or None),
        location=Point(*location) if location else None,
        created_by=created_by,
    )
    if audit_actor is not None:
        await audit.append(
            conn,
            audit_actor,
            "signal.create",
            "signal",
            row["id"],
            {"municipality": place.municipality_code, "category": category, "source": source},
        )
    return row


def _sms_safe(name: str) -> str:
    """Area names in SMS replies: no accents (GSM-7), at most 40 characters."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return plain[:40]


async def sms_signal(conn: asyncpg.Connection, phone: str, body: str) -> str:
    """``SIGNAAL <tekst>`` from a resident. Stores area, category, date, source and the
    text; never the number (so VERWIJDER has nothing to find here)."""
    tax = taxonomy()
    resident = await residents_store.resident_by_phone(conn, phone)
    if resident is None:
        return tax.text("not_enrolled")
    lang = resident["language"]
    body = (body or "").strip()
    if not body:
        return tax.text("usage", lang)
    place: Place | None = None
    query = parse_address_text(body)
    if query is not None:
        address = await residents_store.find_address(
            conn, query.postcode, query.house_number, query.house_letter, query.addition
        )
        if address is None:
            return tax.text("address_unknown", lang, address=query.label)
        place = await place_of_buurt(conn, address["buurt_code"])
    else:
        addresses = await residents_store.resident_addresses(conn, resident["id"])
        home = next((a for a in addresses if a["label"] == "thuis"), addresses[0] if addresses else None)
        place = await place_of_buurt(conn, home["buurt_code"] if home else None)
    if place is None:
        return tax.text("no_area", lang)
    category = tax.classify(body, place.municipality_code)
    await create_signal(
        conn,
        place=place,
        category=category,
        severity=None,
        observed_on=today(),
        source="sms",
        text=body[:4000],
        location=None,
        created_by="resident",
    )
    cat = tax.categories[category]
    reply = tax.text("received", lang, category=cat.name.lower(), area=_sms_safe(place.buurt_name))
    if len(reply) > 160:
        reply = tax.text(
            "received", lang, category=cat.name.lower()[:30], area=_sms_safe(place.buurt_name)[:15]
        )
    return reply


# ------------------------------------------------------------------- views


def signal_view(row: asyncpg.Record, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A signal as fieldworkers/operators of its municipality see it (text, point)."""
    tax = taxonomy()
    cat = tax.categories.get(row["category"])
    point = None
    if row["location"] is not None:
        lon, lat = rd_to_wgs84(row["location"].x, row["location"].y)
        point = {"lat": round(lat, 7), "lon": round(lon, 7)}
    return {
        "id": row["id"],
        "service_request_id": row["public_id"],
        "municipality_code": row["municipality_code"],
        "wijk_code": row["wijk_code"],
        "buurt_code": row["buurt_code"],
        "buurt_name": (names or {}).get(row["buurt_code"]),
        "category": row["category"],
        "group": cat.group if cat else None,
        "severity": row["severity"],
        "observed_on": row["observed_on"],
        "source": row["source"],
        "text": row["text"],
        "point": point,
        "status": row["status"],
        "status_notes": row["status_notes"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def point_to_rd(lat: float, lon: float) -> tuple[float, float]:
    return wgs84_to_rd(lon, lat)


# ------------------------------------------------------------------- the cube


@dataclass
class Cube:
    """A municipality's protected cube for one calendar year."""

    municipality: str
    year: int
    areas: Axis
    nodes: Axis
    periods: Axis
    area_level: dict[str, str]
    area_name: dict[str, str]
    protected: Protected

    def value(self, area: str, node: str, period: Period) -> tuple[int | None, float | None]:
        a = self.areas.index.get(area)
        c = self.nodes.index.get(node)
        if a is None or c is None or period.year != self.year:
            return None, None
        t = self.periods.index[period.label]
        n = int(self.protected.count[a, c, t])
        if n < 0:
            return None, None
        mean = float(self.protected.mean_severity[a, c, t])
        return n, (None if np.isnan(mean) else mean)

    def block(
        self, areas: list[str], nodes: list[str], period: Period
    ) -> tuple[list[list[int | None]], list[list[float | None]]]:
        """:meth:`value` for every area × node of one period at once (lists of rows)."""
        n_out: list[list[int | None]] = [[None] * len(nodes) for _ in areas]
        m_out: list[list[float | None]] = [[None] * len(nodes) for _ in areas]
        if period.year != self.year:
            return n_out, m_out
        t = self.periods.index[period.label]
        rows = [(i, self.areas.index[a]) for i, a in enumerate(areas) if a in self.areas.index]
        cols = [(j, self.nodes.index[c]) for j, c in enumerate(nodes) if c in self.nodes.index]
        if not rows or not cols:
            return n_out, m_out
        sel = np.ix_([a for _, a in rows], [c for _, c in cols])
        counts = self.protected.count[:, :, t][sel].tolist()
        means = self.protected.mean_severity[:, :, t][sel].tolist()
        for (i, _), n_row, m_row in zip(rows, counts, means, strict=True):
            out_n, out_m = n_out[i], m_out[i]
            for (j, _), n, m in zip(cols, n_row, m_row, strict=True):
                if n >= 0:
                    out_n[j] = n
                    out_m[j] = None if m != m else m  # nan: not published
        return n_out, m_out


# Axes are immutable once built and cheap to key: building them took ~1.5 ms of a live
# summary's ~6 ms in Python (bench/bench_signals.py), so each is built once per content.
_AXES: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _axis_cached(key: tuple[Any, ...], build: Any) -> Any:
    hit = _AXES.get(key)
    if hit is None:
        hit = _AXES[key] = build()
        while len(_AXES) > 4 * _CACHE_SIZE:
            _AXES.popitem(last=False)
    return hit


def _area_axis(
    municipality: str, rows: list[asyncpg.Record], extra_buurten: list[str]
) -> tuple[Axis, dict, dict]:
    key = ("areas", municipality, tuple(tuple(r.items()) for r in rows), tuple(extra_buurten))
    return _axis_cached(key, lambda: _build_area_axis(municipality, rows, extra_buurten))


def _build_area_axis(
    municipality: str, rows: list[asyncpg.Record], extra_buurten: list[str]
) -> tuple[Axis, dict, dict]:
    buurten = [r for r in rows if r["level"] == "buurt"]
    wijken = [r for r in rows if r["level"] == "wijk"]
    labels = (
        [r["code"] for r in buurten] + sorted(extra_buurten) + [r["code"] for r in wijken] + [municipality]
    )
    names = {r["code"]: r["name"] for r in rows}
    for code in extra_buurten:
        names[code] = f"{code} (niet meer in de gebiedsindeling)"
    names.setdefault(municipality, municipality)
    levels = {code: "buurt" for code in labels[: len(buurten) + len(extra_buurten)]}
    levels.update({r["code"]: "wijk" for r in wijken})
    levels[municipality] = "gemeente"
    index = {code: i for i, code in enumerate(labels)}
    wijk_codes = {r["code"] for r in wijken}
    relations: list[tuple[int, list[int]]] = []
    orphans: list[int] = []
    children: dict[str, list[int]] = {w: [] for w in wijk_codes}
    for r in buurten:
        if r["district_code"] in children:
            children[r["district_code"]].append(index[r["code"]])
        else:
            orphans.append(index[r["code"]])
    orphans += [index[c] for c in sorted(extra_buurten)]
    for w in (r["code"] for r in wijken):
        relations.append((index[w], children[w]))
    relations.append((index[municipality], [index[w] for w in (r["code"] for r in wijken)] + orphans))
    axis = Axis(labels, len(buurten) + len(extra_buurten), relations)
    return axis, levels, names


def _node_axis(tax: Taxonomy, municipality: str) -> Axis:
    # the entry keeps its taxonomy alive, so the id in the key cannot be reused meanwhile
    held, axis = _axis_cached(
        ("nodes", id(tax), municipality), lambda: (tax, _build_node_axis(tax, municipality))
    )
    assert held is tax
    return axis


def _period_axis(year: int) -> Axis:
    return _axis_cached(
        ("periods", year), lambda: Axis([p.label for p in year_periods(year)], 12, time_relations())
    )


def _build_node_axis(tax: Taxonomy, municipality: str) -> Axis:
    cats = [c.code for c in tax.categories_for(municipality)]
    groups = [g.code for g in tax.groups_for(municipality)]
    themes = [
        t for t in tax.themes.values() if all(tax.category(c, municipality) is not None for c in t.categories)
    ]
    labels = cats + groups + [TOTAL] + [THEME_PREFIX + t.code for t in themes]
    index = {code: i for i, code in enumerate(labels)}
    relations = [(index[g], [index[c] for c in cats if tax.categories[c].group == g]) for g in groups]
    relations.append((index[TOTAL], [index[g] for g in groups]))
    relations += [(index[THEME_PREFIX + t.code], [index[c] for c in t.categories]) for t in themes]
    return Axis(labels, len(cats), relations)


_CACHE: OrderedDict[tuple[Any, ...], Cube] = OrderedDict()
_CACHE_SIZE = 64
# stored cubes (built by the rollup job) by their random token
_STORED: OrderedDict[str, Cube] = OrderedDict()
# protections running in this process, by content (concurrent requests share one)
_BUILDING: dict[tuple[Any, ...], asyncio.Future[Cube]] = {}


def _remember(cache: OrderedDict, key: Any, value: Cube) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


_PARAMS: dict[tuple[int, str, int, int], tuple[Taxonomy, str]] = {}


def cube_params(settings: Settings, municipality: str) -> str:
    """What a protected cube depends on besides the counts and the areas: k, rounding,
    the protection margin and the municipality's category tree (configuration)."""
    tax = taxonomy()
    key = (id(tax), municipality, settings.privacy.k, settings.privacy.round_to)
    known = _PARAMS.get(key)
    if known is not None and known[0] is tax:
        return known[1]
    nodes = _node_axis(tax, municipality)
    tree = hashlib.sha256(repr((nodes.labels, nodes.leaves, nodes.relations)).encode()).hexdigest()[:16]
    params = f"k={settings.privacy.k};r={settings.privacy.round_to};p={tax.protection};nodes={tree}"
    _PARAMS[key] = (tax, params)
    return params


def _cells_used(counts: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Positions (in ``counts["cells"]``) of each count row's cell, and the buurt codes
    of the cells that have counts."""
    ids = np.asarray(counts["cells"]["id"], dtype=np.int64)
    cell = np.asarray(counts["cell"], dtype=np.int64)
    pos = np.searchsorted(ids, cell)
    if len(cell) and not np.array_equal(ids[np.minimum(pos, len(ids) - 1)], cell):
        raise RuntimeError("counts name a cell the municipality does not have")  # one snapshot: cannot happen
    buurten = counts["cells"]["buurt_code"]
    used = np.flatnonzero(np.bincount(pos, minlength=len(ids)))
    return pos, sorted({buurten[i] for i in used.tolist()})


def _leaf_arrays(
    counts: dict[str, Any], pos: np.ndarray, areas: Axis, nodes: Axis
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact counts per buurt × category × month (categories unknown here count as the
    fallback category). Rows come by cell (``pos``: from :func:`_cells_used`): each of
    the municipality's ~1,000 cells is placed once, the rows by array lookups."""
    shape = (areas.leaves, nodes.leaves, 12)
    fallback = nodes.index[FALLBACK]
    cells = counts["cells"]
    cell_area = np.fromiter(
        (areas.index.get(b, -1) for b in cells["buurt_code"]), dtype=np.int64, count=len(cells["buurt_code"])
    )

    def node_of(x: str) -> int:
        i = nodes.index.get(x)
        return i if i is not None and i < nodes.leaves else fallback

    cell_node = np.fromiter(map(node_of, cells["category"]), dtype=np.int64, count=len(cells["category"]))
    a, c = cell_area[pos], cell_node[pos]
    t = np.asarray(counts["month"], dtype=np.int64) - 1
    flat = np.ravel_multi_index((a, c, t), shape)
    size = shape[0] * shape[1] * shape[2]
    out = []
    for name in ("n", "n_rated", "severity_sum"):
        # bincount sums rows that land in one cell (unknown categories → the fallback);
        # float64 weights are exact far beyond any count here (2**53)
        summed = np.bincount(flat, weights=np.asarray(counts[name], dtype=np.float64), minlength=size)
        out.append(summed.astype(np.int64).reshape(shape))
    return out[0], out[1], out[2]


async def _build(
    settings: Settings,
    municipality: str,
    year: int,
    area_rows: list[asyncpg.Record],
    counts: dict[str, list[Any]],
) -> Cube:
    """Protect a year's cube from its exact counts (cached by content). The protection
    runs in a thread, so the event loop keeps serving meanwhile."""
    tax = taxonomy()
    k, rnd = settings.privacy.k, settings.privacy.round_to
    known = {r["code"] for r in area_rows if r["level"] == "buurt"}
    pos, used_buurten = _cells_used(counts)
    extra = [b for b in used_buurten if b not in known]
    areas, levels, names = _area_axis(municipality, area_rows, extra)
    nodes = _node_axis(tax, municipality)
    periods = _period_axis(year)
    leaf_n, leaf_rated, leaf_sev = _leaf_arrays(counts, pos, areas, nodes)
    digest = hashlib.sha256()
    for part in (areas.labels, nodes.labels, [str(x) for x in (k, rnd, tax.protection)]):
        digest.update("\x1f".join(part).encode())
    digest.update(repr((areas.relations, sorted(names.items()), nodes.relations)).encode())
    for arr in (leaf_n, leaf_rated, leaf_sev):
        digest.update(arr.tobytes())
    key = (municipality, year, digest.hexdigest())
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    task = _BUILDING.get(key)
    if task is None:  # else the same counts are being protected already: share that

        async def run() -> Cube:
            protected = await asyncio.to_thread(
                protect,
                leaf_n,
                [areas, nodes, periods],
                k=k,
                round_to=rnd,
                protection=tax.protection,
                leaf_rated=leaf_rated,
                leaf_severity=leaf_sev,
            )
            result = Cube(municipality, year, areas, nodes, periods, levels, names, protected)
            _remember(_CACHE, key, result)
            return result

        task = asyncio.ensure_future(run())
        _BUILDING[key] = task
        task.add_done_callback(lambda _: _BUILDING.pop(key, None))
    # a request that goes away does not cancel the protection others wait for
    return await asyncio.shield(task)


# Beyond this many dirty days in a year a cube counts live (see :func:`cube`): the
# crossover measured at 1M signals (50 buurten, ~1,400 signals a day) lies near 40 days.
LIVE_AFTER_DIRTY_DAYS = 31


async def cube(
    conn: asyncpg.Connection, settings: Settings, municipality: str, year: int, *, live: bool = False
) -> Cube:
    """The protected cube of ``municipality`` for ``year``, always equal to the
    committed data of the caller's snapshot.

    1. No day of the year dirty and a stored cube of the year's current generation and
       areas (built by the rollup job): that cube (one small query; no count query).
    2. Otherwise (signals changed since the last rollup, or no stored cube yet): counts
       from the rollups plus the dirty days read live, protected here, cached per
       process by a cheap version check and by content.
    3. More than :data:`LIVE_AFTER_DIRTY_DAYS` days of the year dirty (before the first
       rollup, after a bulk import, with the rollup job stopped): counts read live from
       ``signals`` (one index-only scan, ~40 ms for a year at 1M signals), cached by
       content. Reading that many dirty days through the rollups and checking their
       version costs ~1 ms per day (~400 ms for a whole year at 1M signals).
    ``live=True`` counts from the signals table and protects (for checks).
    """
    tax = taxonomy()
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    version_key: tuple[Any, ...] | None = None
    if not live:
        params = cube_params(settings, municipality)
        state = await store.stored_cube_state(conn, municipality, year, params)
        token = state["token"]
        if not state["dirty_days"] and token is not None:
            hit = _STORED.get(token)
            if hit is not None:
                _STORED.move_to_end(token)
                return hit
            payload = await store.stored_cube_payload(conn, token)
            if payload is not None:
                loaded = cube_from_payload(payload)
                _remember(_STORED, token, loaded)
                return loaded
        if state["dirty_days"] > LIVE_AFTER_DIRTY_DAYS:
            live = True
        else:
            version = await store.cube_version(conn, municipality, start, end)
            version_key = ("v", municipality, year, params, tax.protection, version)
            hit = _CACHE.get(version_key)
            if hit is not None:
                _CACHE.move_to_end(version_key)
                return hit
    area_rows = await store.municipality_areas(conn, municipality)
    counts = await store.month_count_columns(conn, municipality, start, end, live=live)
    result = await _build(settings, municipality, year, area_rows, counts)
    if version_key is not None:
        _remember(_CACHE, version_key, result)
    return result


# ----------------------------------------------------- stored cubes (rollup job)


def _axis_json(axis: Axis) -> dict[str, Any]:
    return {
        "labels": axis.labels,
        "leaves": axis.leaves,
        "relations": [[p, list(c)] for p, c in axis.relations],
    }


def _axis_from(d: dict[str, Any]) -> Axis:
    return Axis(
        list(d["labels"]), int(d["leaves"]), [(int(p), [int(x) for x in c]) for p, c in d["relations"]]
    )


def cube_to_payload(c: Cube) -> bytes:
    """numpy arrays plus JSON (never pickle: the payload comes from the database)."""
    meta = {
        "municipality": c.municipality,
        "year": c.year,
        "areas": _axis_json(c.areas),
        "nodes": _axis_json(c.nodes),
        "periods": _axis_json(c.periods),
        "area_level": c.area_level,
        "area_name": c.area_name,
        "secondary_cells": c.protected.secondary_cells,
        "audit_rounds": c.protected.audit_rounds,
    }
    out = io.BytesIO()
    p = c.protected
    np.savez(
        out,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        count=p.count,
        hidden=p.hidden,
        primary=p.primary,
        mean_severity=p.mean_severity,
        true=p.true,
    )
    return out.getvalue()


def cube_from_payload(payload: bytes) -> Cube:
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        protected = Protected(
            count=z["count"],
            hidden=z["hidden"],
            primary=z["primary"],
            mean_severity=z["mean_severity"],
            true=z["true"],
            secondary_cells=int(meta["secondary_cells"]),
            audit_rounds=int(meta["audit_rounds"]),
        )
    return Cube(
        meta["municipality"],
        int(meta["year"]),
        _axis_from(meta["areas"]),
        _axis_from(meta["nodes"]),
        _axis_from(meta["periods"]),
        meta["area_level"],
        meta["area_name"],
        protected,
    )


async def build_stored_cube(
    conn: asyncpg.Connection, settings: Settings, municipality: str, year: int
) -> bool:
    """Build and store the protected cube of a municipality's year from one snapshot;
    the protection runs outside any transaction (it takes a while)."""
    params = cube_params(settings, municipality)
    generation, areas_version, area_rows, counts = await store.cube_build_input(conn, municipality, year)
    if generation is None:
        return False
    t0 = time.perf_counter()
    built = await _build(settings, municipality, year, area_rows, counts)
    token = secrets.token_hex(16)
    saved = await store.save_cube(
        conn,
        municipality=municipality,
        year=year,
        params=params,
        generation=generation,
        areas_version=areas_version,
        token=token,
        build_ms=round((time.perf_counter() - t0) * 1000),
        payload=cube_to_payload(built),
    )
    if saved:
        _remember(_STORED, token, built)
    return saved


async def prebuild_cubes(conn: asyncpg.Connection, settings: Settings, *, budget_s: float = 50.0) -> int:
    """The rollup job's second half: (re)build every stored cube whose year has a new
    generation or whose areas changed, so no request pays for the protection. Newest
    years first; after ``budget_s`` seconds the rest waits for the next run (a first run
    over many municipalities and years would otherwise hold the job for long)."""
    built = 0
    deadline = time.monotonic() + budget_s
    for row in await store.cube_years_to_build(conn):
        if time.monotonic() > deadline:
            log.info("protected cubes: time budget used, the rest in the next run")
            break
        municipality = row["municipality_code"]
        have = row["stored"].get(cube_params(settings, municipality))  # cube_params caches
        if have is not None and have[0] == row["generation"] and have[1] == row["areas_version"]:
            continue
        try:
            if await build_stored_cube(conn, settings, municipality, row["year"]):
                built += 1
        except Exception:
            log.exception("protected cube for %s %s not built", municipality, row["year"])
    return built


# ------------------------------------------------------------------- summary


@dataclass(frozen=True)
class SummaryRequest:
    municipality: str
    level: str
    period: Period
    category: str | None = None
    group: str | None = None
    compare: bool = True


def _nodes_for(req: SummaryRequest, c: Cube) -> list[str]:
    tax = taxonomy()
    if req.category:
        if req.category not in c.nodes.index or c.nodes.index[req.category] >= c.nodes.leaves:
            raise SignalError(422, "unknown-category", f"unknown category {req.category!r}", "category")
        return [req.category]
    if req.group:
        if req.group != TOTAL and req.group not in tax.groups:
            raise SignalError(422, "unknown-group", f"unknown group {req.group!r}", "group")
        if req.group not in c.nodes.index:
            raise SignalError(422, "unknown-group", f"group {req.group!r} has no categories here", "group")
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
        "privacy": {
            "k": settings.privacy.k,
            "round_to": settings.privacy.round_to,
            "protection": taxonomy().protection,
        },
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
        raise SignalError(422, "unknown-area", f"{code} is not an area of {municipality}", "area")
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
        "privacy": {
            "k": settings.privacy.k,
            "round_to": settings.privacy.round_to,
            "protection": taxonomy().protection,
        },
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


# ------------------------------------------------------------------- gebiedsscan

GEBIEDSSCAN_COLUMNS = ("area_code", "theme", "period_start", "period_end", "registered_count")
MAX_LINES = 100_000


@dataclass
class LineError:
    line: int
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        loc = f"line {self.line}" + (f": {self.column}" if self.column else "")
        return {
            "line": self.line,
            "column": self.column,
            "loc": loc,
            "msg": self.message,
            "type": "value_error",
        }


def _parse_date(text: str) -> date:
    t = text.strip()
    for fmt in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{t!r} is not a date (YYYY-MM-DD)")


def parse_gebiedsscan(text: str) -> tuple[list[dict[str, Any]], list[LineError]]:
    """CSV (``,`` or ``;``) with a header naming the columns; rows and per-line errors."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].strip():
        return [], [LineError(1, None, f"empty file; expected a header: {','.join(GEBIEDSSCAN_COLUMNS)}")]
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in GEBIEDSSCAN_COLUMNS if c not in header]
    if missing:
        return [], [
            LineError(1, None, f"header lacks {', '.join(missing)}; expected {','.join(GEBIEDSSCAN_COLUMNS)}")
        ]
    col = {name: header.index(name) for name in GEBIEDSSCAN_COLUMNS}
    rows: list[dict[str, Any]] = []
    errors: list[LineError] = []
    tax = taxonomy()
    for line_no, fields in enumerate(reader, start=2):
        if line_no > MAX_LINES:
            errors.append(LineError(line_no, None, f"more than {MAX_LINES} lines"))
            break
        if not any(f.strip() for f in fields):
            continue
        if len(fields) < len(header):
            errors.append(LineError(line_no, None, f"expected {len(header)} fields, found {len(fields)}"))
            continue
        row: dict[str, Any] = {"line": line_no}
        bad = False
        code = fields[col["area_code"]].strip().upper()
        if not code:
            errors.append(LineError(line_no, "area_code", "area_code is empty"))
            bad = True
        row["area_code"] = code
        theme = fields[col["theme"]].strip().lower()
        if theme not in tax.themes:
            errors.append(
                LineError(
                    line_no, "theme", f"unknown theme {theme!r}; known: {', '.join(sorted(tax.themes))}"
                )
            )
            bad = True
        row["theme"] = theme
        for name in ("period_start", "period_end"):
            try:
                row[name] = _parse_date(fields[col[name]])
            except ValueError as exc:
                errors.append(LineError(line_no, name, str(exc)))
                bad = True
        if "period_start" in row and "period_end" in row and row["period_end"] < row["period_start"]:
            errors.append(LineError(line_no, "period_end", "period_end is before period_start"))
            bad = True
        raw = fields[col["registered_count"]].strip()
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
            errors.append(LineError(line_no, "registered_count", f"{raw!r} is not a whole number >= 0"))
            bad = True
        else:
            row["registered_count"] = int(raw)
        if not bad:
            rows.append(row)
    return rows, errors


async def import_gebiedsscan(
    conn: asyncpg.Connection, text: str, *, actor: str, can_access: Any
) -> tuple[dict[str, Any], list[LineError]]:
    """Validate every line (area exists, in scope, no duplicates), then store all rows
    in one transaction, or nothing when any line is wrong."""
    rows, errors = parse_gebiedsscan(text)
    codes = sorted({r["area_code"] for r in rows})
    known = {r["code"]: r for r in await store.areas_by_codes(conn, codes)}
    seen: dict[tuple[Any, ...], int] = {}
    good: list[tuple[Any, ...]] = []
    for r in rows:
        area = known.get(r["area_code"])
        if area is None:
            errors.append(LineError(r["line"], "area_code", f"unknown area {r['area_code']}"))
            continue
        if not can_access(area["municipality_code"]):
            errors.append(LineError(r["line"], "area_code", f"{r['area_code']} is outside your scope"))
            continue
        key = (r["area_code"], r["theme"], r["period_start"], r["period_end"])
        if key in seen:
            errors.append(LineError(r["line"], None, f"duplicate of line {seen[key]}"))
            continue
        seen[key] = r["line"]
        good.append((area["municipality_code"], *key, r["registered_count"]))
    errors.sort(key=lambda e: e.line)
    if errors:
        return {}, errors
    if not good:
        return {}, [LineError(2, None, "the file has no data lines")]
    async with conn.transaction():
        inserted = await store.upsert_registrations(conn, good, actor)
    return {
        "rows": len(good),
        "inserted": inserted,
        "updated": len(good) - inserted,
        "municipalities": sorted({g[0] for g in good}),
    }, []


# ------------------------------------------------------------------- informatiepositie


def _mismatch(s_share: float, r_share: float, signals_hidden: bool, registered: int) -> str:
    if s_share == 0 and r_share == 0:
        return "no_signals_or_registrations"
    ratio = (s_share + 0.02) / (r_share + 0.02)
    if ratio >= 2 and not signals_hidden:
        return "possible_underreporting"
    if ratio <= 0.5 and registered > 0:
        return "not_bothered_or_not_reached"
    return "in_line"


REASONS = {
    "possible_underreporting": "veel signalen, weinig registraties: mogelijk onderrapportage bij de politie",
    "not_bothered_or_not_reached": "veel registraties, weinig signalen: bewoners ervaren weinig hinder of worden niet bereikt",
    "in_line": "signalen en registraties wijzen dezelfde kant op",
    "no_signals_or_registrations": "geen signalen en geen registraties",
}


async def informatiepositie(
    conn: asyncpg.Connection, settings: Settings, municipality: str, period: Period, *, limit: int = 20
) -> dict[str, Any]:
    tax = taxonomy()
    c = await cube(conn, settings, municipality, period.year)
    regs = await store.registrations(conn, municipality, period.start, period.end)
    themes = sorted({r["theme"] for r in regs if r["theme"] in tax.themes})
    registered: dict[tuple[str, str], int] = {(r["area_code"], r["theme"]): r["registered"] for r in regs}
    levels = sorted(
        {c.area_level[r["area_code"]] for r in regs if r["area_code"] in c.area_level},
        key=["buurt", "wijk", "gemeente"].index,
    )
    items: list[dict[str, Any]] = []
    for level in levels:
        areas = [a for a in c.areas.labels if c.area_level[a] == level]
        for theme in themes:
            node = THEME_PREFIX + theme
            if node not in c.nodes.index:
                continue
            values = {a: c.value(a, node, period)[0] for a in areas}
            regs_here = {a: registered.get((a, theme), 0) for a in areas}
            s_sum = sum(v for v in values.values() if v is not None)
            r_sum = sum(regs_here.values())
            for a in areas:
                s = values[a]
                r = regs_here[a]
                s_share = (s or 0) / s_sum if s_sum else 0.0
                r_share = r / r_sum if r_sum else 0.0
                mismatch = _mismatch(s_share, r_share, s is None, r)
                weight = tax.themes[theme].weight
                score = round(weight * 100 * (s_share + r_share) / 2, 2)
                items.append(
                    {
                        "area_code": a,
                        "area_name": c.area_name.get(a, a),
                        "level": level,
                        "theme": theme,
                        "theme_name": tax.themes[theme].name,
                        "categories": list(tax.themes[theme].categories),
                        "signals": s,
                        "signals_suppressed": s is None,
                        "registered": r,
                        "signal_share": round(s_share, 3),
                        "registered_share": round(r_share, 3),
                        "mismatch": mismatch,
                        "score": score,
                    }
                )
    ranked = sorted(
        (i for i in items if i["level"] != "gemeente" and i["score"] > 0),
        key=lambda i: (-i["score"], i["area_code"], i["theme"]),
    )[:limit]
    priorities = [
        {
            "rank": n + 1,
            "area_code": i["area_code"],
            "area_name": i["area_name"],
            "level": i["level"],
            "theme": i["theme"],
            "score": i["score"],
            "mismatch": i["mismatch"],
            "reason": REASONS[i["mismatch"]],
        }
        for n, i in enumerate(ranked)
    ]
    return {
        "municipality": municipality,
        "period": period.as_dict(),
        "privacy": {"k": settings.privacy.k, "round_to": settings.privacy.round_to},
        "items": items,
        "priorities": priorities,
        "next": None,
    }


# ------------------------------------------------------------------- reports


def last_complete_month(now: date) -> Period:
    first = now.replace(day=1)
    return containing(first - timedelta(days=1), "month")


async def build_report(
    conn: asyncpg.Connection, settings: Settings, municipality: str, now: datetime | None = None
) -> asyncpg.Record:
    """The weekly report: the last complete month per buurt, wijk and gemeente and
    category, against the month before; stored and written as CSV."""
    now = now or datetime.now(UTC)
    local = now.astimezone(AMSTERDAM).date()
    period = last_complete_month(local)
    items: list[dict[str, Any]] = []
    for level in ("gemeente", "wijk", "buurt"):
        doc = await summary(conn, settings, SummaryRequest(municipality, level, period))
        items.extend(doc["items"])
    iso = local.isocalendar()
    label = f"{iso.year}-W{iso.week:02d}"
    csv_text = rows_to_csv(items)
    directory = Path(settings.signals.export_dir) / municipality
    path = directory / f"buurtsignaal-{municipality}-{label}-{period.label}.csv"
    written: str | None = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".csv.tmp")
        tmp.write_text(csv_text, encoding="utf-8")
        tmp.replace(path)
        written = str(path)
    except OSError as exc:
        log.warning("report CSV not written to %s: %s", directory, exc)
    content = {
        "municipality": municipality,
        "period": period.as_dict(),
        "previous_period": period.previous().as_dict(),
        "generated_at": now.isoformat(),
        "privacy": {"k": settings.privacy.k, "round_to": settings.privacy.round_to},
        "items": items,
    }
    return await store.save_report(
        conn,
        municipality_code=municipality,
        kind="weekly",
        period_label=label,
        period_start=period.start,
        period_end=period.end,
        rows=len(items),
        content=content,
        csv_path=written,
    )


def report_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "municipality": row["municipality_code"],
        "kind": row["kind"],
        "label": row["period_label"],
        "period": {"from": row["period_start"].isoformat(), "to": row["period_end"].isoformat()},
        "created_at": row["created_at"],
        "rows": row["rows"],
        "csv_file": Path(row["csv_path"]).name if row["csv_path"] else None,
    }
