"""The protected cube: a municipality's signal counts for one calendar year, per area
(buurt, wijk, gemeente) × category node (category, group, total, theme) × period
(month, quarter, year), protected once by :func:`burgerwacht.signals.privacy.protect`.

It exists apart from the summaries because every published figure (summary, trend,
informatiepositie, reports) is read from such a cube and from nothing else: this module
is the privacy boundary's only way in. It holds how a cube is found (stored by the
rollup job, cached per process, or counted and protected here) and how the rollup job
builds and stores it; BENCHMARKS.md ("Figures once quoted in code") has the timings
behind its choices.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import numpy as np

from burgerwacht.config import Settings
from burgerwacht.signals import store
from burgerwacht.signals.periods import Period, time_relations, year_periods
from burgerwacht.signals.privacy import KEY_MODULUS, Axis, Noise, Protected, protect
from burgerwacht.signals.taxonomy import FALLBACK, TOTAL, Taxonomy, taxonomy

log = logging.getLogger(__name__)

THEME_PREFIX = "theme:"


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


# Axes are immutable once built and cheap to key, while building them was a sizeable
# part of a live summary's Python time (bench/bench_signals.py; BENCHMARKS.md), so each
# is built once per content.
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


_PARAMS: dict[tuple[Any, ...], tuple[Taxonomy, str]] = {}


def noise_of(settings: Settings) -> Noise:
    """The configured p-table (``privacy.noise``)."""
    return Noise(tuple(settings.privacy.noise))


def cube_params(settings: Settings, municipality: str) -> str:
    """What a protected cube depends on besides the counts and the areas: k, rounding,
    the noise's p-table, the protection margin and the municipality's category tree
    (configuration)."""
    tax = taxonomy()
    noise = tuple(settings.privacy.noise)
    key = (id(tax), municipality, settings.privacy.k, settings.privacy.round_to, noise)
    known = _PARAMS.get(key)
    if known is not None and known[0] is tax:
        return known[1]
    nodes = _node_axis(tax, municipality)
    tree = hashlib.sha256(repr((nodes.labels, nodes.leaves, nodes.relations)).encode()).hexdigest()[:16]
    params = (
        f"k={settings.privacy.k};r={settings.privacy.round_to};p={tax.protection};"
        f"noise={','.join(repr(float(x)) for x in noise)};nodes={tree}"
    )
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact counts per buurt × category × month (categories unknown here count as the
    fallback category), and the sum of their records' keys (mod KEY_MODULUS). Rows come
    by cell (``pos``: from :func:`_cells_used`): each of the municipality's ~1,000 cells
    is placed once, the rows by array lookups."""
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
    # key sums are below 2**31 per row and few rows share a leaf (categories unknown
    # here): exact in int64 with add.at, reduced mod KEY_MODULUS afterwards
    keys = np.zeros(size, dtype=np.int64)
    np.add.at(keys, flat, np.asarray(counts.get("key_sum", [0] * len(flat)), dtype=np.int64))
    out.append(np.mod(keys, KEY_MODULUS).reshape(shape))
    return out[0], out[1], out[2], out[3]


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
    leaf_n, leaf_rated, leaf_sev, leaf_keys = _leaf_arrays(counts, pos, areas, nodes)
    noise = noise_of(settings)
    digest = hashlib.sha256()
    for part in (
        areas.labels,
        nodes.labels,
        [str(x) for x in (k, rnd, tax.protection, *noise.probabilities)],
    ):
        digest.update("\x1f".join(part).encode())
    digest.update(repr((areas.relations, sorted(names.items()), nodes.relations)).encode())
    for arr in (leaf_n, leaf_rated, leaf_sev, leaf_keys):
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
                leaf_keys=leaf_keys,
                noise=noise,
            )
            result = Cube(municipality, year, areas, nodes, periods, levels, names, protected)
            _remember(_CACHE, key, result)
            return result

        task = asyncio.ensure_future(run())
        _BUILDING[key] = task
        task.add_done_callback(lambda _: _BUILDING.pop(key, None))
    # a request that goes away does not cancel the protection others wait for
    return await asyncio.shield(task)


# Beyond this many dirty days in a year a cube counts live (see :func:`cube`): reading
# dirty days through the rollups costs per day, counting live costs per year, and the
# crossover measured in bench/bench_signals.py lies above a month (BENCHMARKS.md).
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
       ``signals`` (one index-only scan of the year), cached by content. Reading that
       many dirty days through the rollups and checking their version costs more than
       that scan (a cost per day; BENCHMARKS.md has the figures).
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
