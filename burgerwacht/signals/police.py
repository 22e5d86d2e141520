"""Police registrations (gebiedsscan) under the same disclosure control as the signals:
a protected cube per municipality, year and theme, built by
:func:`burgerwacht.signals.privacy.protect` (k rule, rounding, complementary
suppression, audit against an attacker who sees every level and period).

It exists apart from the signal cube because police data comes at its own grain: a
gebiedsscan row covers one calendar month, quarter or year of one buurt, wijk or the
gemeente. Per theme and year the cube's leaves are the coarsest grain any row of that
theme uses (a quarterly wijk row makes that theme's leaves wijk × quarter); finer rows
are summed into those leaves, and where a coarser area has its own row, the rows of
its parts are not added to it. A figure is therefore one of:

* ``published``: the protected (rounded) count;
* ``suppressed``: hidden by the k rule or complementary suppression;
* ``coarser_period``: the period asked for is finer than the data (a month of
  quarterly data): ``granularity`` names the data's period kind;
* ``coarser_area``: the area is finer than the data (a buurt of wijk data);
* ``not_delivered``: no row covers (part of) the period.

Within a period that the theme's rows cover, an area without a row counts 0 (a police
export lists the areas with registrations). Nothing here touches SQL: the rows come
from :func:`burgerwacht.signals.store.registrations_of_year`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
import numpy as np

from burgerwacht.config import Settings
from burgerwacht.signals import store
from burgerwacht.signals.cube import noise_of
from burgerwacht.signals.periods import Period, PeriodError, from_dates, time_relations, year_periods
from burgerwacht.signals.privacy import KEY_MODULUS, NO_NOISE, Axis, Noise, Protected, protect
from burgerwacht.signals.taxonomy import taxonomy

PERIOD_KINDS = ("month", "quarter", "year")
LEVELS = ("buurt", "wijk", "gemeente")


@dataclass(frozen=True)
class Figure:
    """One published police figure (or why there is none)."""

    value: int | None
    status: str  # published | suppressed | coarser_period | coarser_area | not_delivered
    granularity: str | None = None  # the data's period kind (month, quarter, year)
    area_granularity: str | None = None  # the data's area level (buurt, wijk, gemeente)


NONE = Figure(None, "not_delivered")


@dataclass
class ThemeCube:
    theme: str
    grain: str  # month | quarter | year
    area_grain: str  # buurt | wijk | gemeente
    areas: Axis
    periods: Axis
    covered: frozenset[str]  # labels of the periods the rows cover completely
    protected: Protected


@dataclass
class PoliceCube:
    municipality: str
    year: int
    themes: dict[str, ThemeCube] = field(default_factory=dict)
    area_level: dict[str, str] = field(default_factory=dict)

    def figure(self, area: str, theme: str, period: Period) -> Figure:
        t = self.themes.get(theme)
        if t is None or area not in self.area_level or period.year != self.year:
            return NONE
        a = t.areas.index.get(area)
        if a is None:  # finer than the data (a buurt of wijk-grained data)
            return Figure(None, "coarser_area", t.grain, t.area_grain)
        if PERIOD_KINDS.index(period.kind) < PERIOD_KINDS.index(t.grain):
            return Figure(None, "coarser_period", t.grain, t.area_grain)
        if period.label not in t.covered:
            return Figure(None, "not_delivered", t.grain, t.area_grain)
        n = int(t.protected.count[a, 0, t.periods.index[period.label]])
        if n < 0:
            return Figure(None, "suppressed", t.grain, t.area_grain)
        return Figure(n, "published", t.grain, t.area_grain)

    def sum_of(self, area: str, theme: str, parts: Sequence[Period]) -> int | None:
        """The sum of published figures (None when any part is not published)."""
        total = 0
        for p in parts:
            f = self.figure(area, theme, p)
            if f.value is None:
                return None
            total += f.value
        return total if parts else None


# --------------------------------------------------------------------- building


def _period_axis(grain: str, year: int) -> Axis:
    if grain == "month":
        return Axis([p.label for p in year_periods(year)], 12, time_relations())
    if grain == "quarter":
        return Axis([f"{year}-Q{q}" for q in range(1, 5)] + [str(year)], 4, [(4, [0, 1, 2, 3])])
    return Axis([str(year)], 1, [])


def _area_axis(grain: str, municipality: str, areas: list[Any]) -> tuple[Axis, dict[str, str]]:
    """The area tree cut at ``grain``; also each finer area's leaf (its ancestor)."""
    buurten = [r for r in areas if r["level"] == "buurt"]
    wijken = [r["code"] for r in areas if r["level"] == "wijk"]
    wijk_set = set(wijken)
    orphans = [r["code"] for r in buurten if r["district_code"] not in wijk_set]
    up: dict[str, str] = {}
    if grain == "buurt":
        leaves = [r["code"] for r in buurten]
        labels = [*leaves, *wijken, municipality]
        index = {c: i for i, c in enumerate(labels)}
        children: dict[str, list[int]] = {w: [] for w in wijken}
        for r in buurten:
            if r["district_code"] in wijk_set:
                children[r["district_code"]].append(index[r["code"]])
        relations = [(index[w], children[w]) for w in wijken]
        relations.append((index[municipality], [index[w] for w in wijken] + [index[o] for o in orphans]))
        return Axis(labels, len(leaves), relations), up
    if grain == "wijk":
        leaves = [*wijken, *orphans]
        for r in buurten:
            if r["district_code"] in wijk_set:
                up[r["code"]] = r["district_code"]
        labels = [*leaves, municipality]
        return Axis(labels, len(leaves), [(len(leaves), list(range(len(leaves))))]), up
    for r in areas:
        up[r["code"]] = municipality
    return Axis([municipality], 1, []), up


def _theme_cube(
    theme: str, rows: list[tuple[str, str, Period, int]], municipality: str, areas: list[Any], year: int
) -> tuple[str, str, Axis, Axis, np.ndarray, frozenset[str]]:
    """rows: (area_code, level, period, count), already free of overlaps."""
    grain = max((p.kind for _, _, p, _ in rows), key=PERIOD_KINDS.index)
    area_grain = max((lvl for _, lvl, _, _ in rows), key=LEVELS.index)
    area_axis, up = _area_axis(area_grain, municipality, areas)
    period_axis = _period_axis(grain, year)
    # which leaf periods the rows cover, by month
    months = np.zeros(13, dtype=bool)
    for _, _, p, _ in rows:
        months[p.start.month : p.end.month + 1] = True
    covered = frozenset(
        p.label
        for p in year_periods(year)
        if p.label in period_axis.index and months[p.start.month : p.end.month + 1].all()
    )
    # contributions per (leaf area, leaf period), by the level of the row's own area:
    # where an area has its own row, rows of its parts are not added to it
    contrib: dict[tuple[int, int], dict[int, int]] = {}
    for code, level, p, n in rows:
        own = area_axis.index.get(code)
        leaf_area = code if own is not None and own < area_axis.leaves else up.get(code)
        a = area_axis.index.get(leaf_area) if leaf_area else None
        if a is None or a >= area_axis.leaves:
            continue
        leaf_period = p if p.kind == grain else _containing(p, grain)
        t = period_axis.index[leaf_period.label]
        by_level = contrib.setdefault((a, t), {})
        rank = LEVELS.index(level)
        by_level[rank] = by_level.get(rank, 0) + n
    leaf = np.zeros((area_axis.leaves, 1, period_axis.leaves), dtype=np.int64)
    for (a, t), by_level in contrib.items():
        leaf[a, 0, t] = by_level[max(by_level)]
    return grain, area_grain, area_axis, period_axis, leaf, covered


def _containing(p: Period, kind: str) -> Period:
    if kind == "quarter":
        return Period(p.year, "quarter", (p.start.month + 2) // 3)
    return Period(p.year, "year", 1)


def usable_rows(records: list[Any]) -> dict[str, list[tuple[str, str, Period, int]]]:
    """Rows per theme as (area, level, period, count): rows that are not one calendar
    month, quarter or year (stored before that rule) are left out, and of rows of one
    area and theme that overlap (stored before overlaps were refused) the newest import
    wins (records come newest first)."""
    out: dict[str, list[tuple[str, str, Period, int]]] = {}
    taken: dict[tuple[str, str], list[tuple[date, date]]] = {}
    for r in records:
        try:
            p = from_dates(r["period_start"], r["period_end"])
        except PeriodError:
            continue
        spans = taken.setdefault((r["area_code"], r["theme"]), [])
        if any(s <= r["period_end"] and r["period_start"] <= e for s, e in spans):
            continue
        spans.append((r["period_start"], r["period_end"]))
        out.setdefault(r["theme"], []).append((r["area_code"], r["level"], p, int(r["registered_count"])))
    return out


def leaf_keys(
    secret: bytes, municipality: str, theme: str, area_axis: Axis, period_axis: Axis, leaf: np.ndarray
) -> np.ndarray:
    """The cell key of every leaf: a keyed hash (the service's secret) of the leaf's
    identity and count. Police rows carry no records to key, so a leaf's key stands for
    its records': the same count always gets the same key (re-importing a value cannot
    be averaged away), a changed count is a fresh draw for every cell above it (an
    analyst replacing a neighbour's row step by step sees noise, not exact rounding)."""
    keys = np.zeros_like(leaf)
    for a in range(area_axis.leaves):
        for t in range(period_axis.leaves):
            msg = f"{municipality}|{theme}|{area_axis.labels[a]}|{period_axis.labels[t]}|{int(leaf[a, 0, t])}"
            digest = hmac.new(secret, msg.encode(), hashlib.sha256).digest()
            keys[a, 0, t] = int.from_bytes(digest[:8], "big") % KEY_MODULUS
    return keys


def build(
    municipality: str,
    year: int,
    areas: list[Any],
    records: list[Any],
    *,
    k: int,
    round_to: int,
    protection: int,
    noise: Noise = NO_NOISE,
    secret: bytes = b"",
) -> PoliceCube:
    """Protect every theme's cube of a year (CPU only; callers run it in a thread).
    With ``noise`` (and the service's ``secret`` keying it) every figure carries the
    same cell-key noise as the signal figures."""
    cube = PoliceCube(municipality, year)
    cube.area_level = {r["code"]: r["level"] for r in areas}
    cube.area_level[municipality] = "gemeente"
    for theme, rows in sorted(usable_rows(records).items()):
        grain, area_grain, area_axis, period_axis, leaf, covered = _theme_cube(
            theme, rows, municipality, areas, year
        )
        protected = protect(
            leaf,
            [area_axis, Axis([theme], 1, []), period_axis],
            k=k,
            round_to=round_to,
            protection=protection,
            leaf_keys=leaf_keys(secret, municipality, theme, area_axis, period_axis, leaf),
            noise=noise,
        )
        cube.themes[theme] = ThemeCube(theme, grain, area_grain, area_axis, period_axis, covered, protected)
    return cube


_CACHE: OrderedDict[tuple[Any, ...], PoliceCube] = OrderedDict()
_CACHE_SIZE = 32


async def police_cube(
    conn: asyncpg.Connection, settings: Settings, municipality: str, year: int
) -> PoliceCube:
    """The protected police cube of a municipality's year (cached per process by
    content: the same rows and areas always give the same published figures)."""
    areas = [dict(r) for r in await store.municipality_areas(conn, municipality)]
    records = [dict(r) for r in await store.registrations_of_year(conn, municipality, year)]
    k, r = settings.privacy.k, settings.privacy.round_to
    protection = taxonomy().protection
    noise = noise_of(settings)
    secret = settings.security.secret_key.encode()
    digest = hashlib.sha256(
        repr((areas, records, k, r, protection, noise.probabilities)).encode()
    ).hexdigest()
    key = (municipality, year, digest)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    if not records:
        result = build(municipality, year, areas, [], k=k, round_to=r, protection=protection)
    else:
        result = await asyncio.to_thread(
            build,
            municipality,
            year,
            areas,
            records,
            k=k,
            round_to=r,
            protection=protection,
            noise=noise,
            secret=secret,
        )
    _CACHE[key] = result
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def year_to_date_parts(year: int, last_month: int) -> list[Period]:
    """Jan..``last_month`` of ``year`` as the fewest calendar periods (the year, whole
    quarters, then months): the published figures a year-to-date sum is made of."""
    if last_month >= 12:
        return [Period(year, "year", 1)]
    quarters = last_month // 3
    return [Period(year, "quarter", q) for q in range(1, quarters + 1)] + [
        Period(year, "month", m) for m in range(3 * quarters + 1, last_month + 1)
    ]
