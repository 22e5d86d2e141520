"""Police figures (gebiedsscan) attacked like the signal counts: an attacker sees every
figure the informatiepositie can publish for a municipality's year (every area level,
every month, quarter and year), knows the algorithm, k and round_to, and tries to pin
down a suppressed registration count (1..k-1).

The attacker here is independent of privacy.py: interval propagation over the leaf
cells of each theme with every published figure as a sum constraint and every
difference of two nested figures (wijk minus buurt, quarter minus month, year minus
quarter), once told which hidden cells are below k and once assuming all are.
Rows come at mixed grains (monthly buurt rows, quarterly wijk rows, a yearly gemeente
row), as real gebiedsscan files do.
"""

from __future__ import annotations

import itertools
import os
from datetime import date

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from burgerwacht.signals.periods import Period, year_periods
from burgerwacht.signals.police import build, usable_rows
from burgerwacht.signals.privacy import published_bounds

K, R = 5, 5
YEAR = 2025
GM = "GM9999"
AREAS = [
    {"code": "BU1", "level": "buurt", "district_code": "WK1", "name": "b1"},
    {"code": "BU2", "level": "buurt", "district_code": "WK1", "name": "b2"},
    {"code": "BU3", "level": "buurt", "district_code": "WK2", "name": "b3"},
    {"code": "BU4", "level": "buurt", "district_code": "WK2", "name": "b4"},
    {"code": "WK1", "level": "wijk", "district_code": None, "name": "w1"},
    {"code": "WK2", "level": "wijk", "district_code": None, "name": "w2"},
]
LEVEL = {a["code"]: a["level"] for a in AREAS} | {GM: "gemeente"}


def row(area: str, theme: str, p: Period, n: int) -> dict:
    return {
        "area_code": area,
        "level": LEVEL[area],
        "district_code": None,
        "theme": theme,
        "period_start": p.start,
        "period_end": p.end,
        "registered_count": n,
    }


def months(n: int) -> list[Period]:
    return [Period(YEAR, "month", m) for m in range(1, n + 1)]


def quarters() -> list[Period]:
    return [Period(YEAR, "quarter", q) for q in range(1, 5)]


def propagate(cons, n_leaves: int, big: float = 1e9, passes: int = 200):
    """Leaf bounds from sum constraints (leaf set, lo, hi) and every difference of two
    nested ones; the range of each base constraint's sum afterwards (None: the
    attacker's premise is contradicted)."""
    base = list(cons)
    derived = []
    for (s1, lo1, hi1), (s2, lo2, hi2) in itertools.permutations(base, 2):
        if s1 < s2:
            derived.append((s2 - s1, max(0, lo2 - hi1), hi2 - lo1))
    every = base + derived
    m = np.zeros((len(every), n_leaves), dtype=bool)
    for i, (leaves, _, _) in enumerate(every):
        m[i, list(leaves)] = True
    lo = np.array([c[1] for c in every], dtype=float)
    hi = np.array([min(c[2], big) for c in every], dtype=float)
    lb, ub = np.zeros(n_leaves), np.full(n_leaves, big)
    for _ in range(passes):
        s_lb, s_ub = m @ lb, m @ ub
        new_ub = np.minimum(ub, np.where(m, (hi - s_lb)[:, None] + lb[None, :], np.inf).min(axis=0))
        new_lb = np.maximum(lb, np.where(m, (lo - s_ub)[:, None] + ub[None, :], -np.inf).max(axis=0))
        if (new_ub == ub).all() and (new_lb == lb).all():
            break
        lb, ub = new_lb, new_ub
    if (lb > ub).any():
        return None
    out = []
    for i, (_, c_lo, c_hi) in enumerate(base):
        out.append((max(m[i] @ lb, c_lo), min(m[i] @ ub, c_hi)))
    return out


def attack(cube) -> list[tuple[str, str, str, int, float, float]]:
    """Every suppressed figure with a true count 1..k-1 that an attacker pins exactly."""
    pinned = []
    for theme, t in cube.themes.items():
        a_m, t_m = t.areas.members, t.periods.members
        n_t = t.periods.leaves
        cells = []
        for area in [*LEVEL]:
            for p in year_periods(YEAR):
                f = cube.figure(area, theme, p)
                if f.status not in ("published", "suppressed"):
                    continue
                a, c = t.areas.index[area], t.periods.index[p.label]
                leaves = frozenset(
                    int(i * n_t + j) for i in np.flatnonzero(a_m[a]) for j in np.flatnonzero(t_m[c])
                )
                cells.append((area, p.label, a, c, f, leaves))
        n_leaves = t.areas.leaves * n_t
        for premise in ("primary", "hidden"):
            cons = []
            for _, _, a, c, f, leaves in cells:
                if f.value is not None:
                    lo, hi = published_bounds(np.array([f.value]), K, R)
                    cons.append((leaves, int(lo[0]), int(hi[0])))
                else:
                    small = premise == "hidden" or t.protected.primary[a, 0, c]
                    cons.append((leaves, 0, K - 1 if small else 10**9))
            ranges = propagate(cons, n_leaves)
            if ranges is None:
                continue
            for (area, label, a, c, f, _), (lo, hi) in zip(cells, ranges, strict=True):
                truth = int(t.protected.true[a, 0, c])
                if f.status == "suppressed" and 1 <= truth < K and lo == hi == truth:
                    pinned.append((theme, area, label, truth, lo, hi))
    return pinned


GRAINS = st.sampled_from(["buurt-month", "buurt-quarter", "wijk-quarter", "buurt-year", "mixed"])


@settings(
    max_examples=int(os.environ.get("SIGNALS_PRIVACY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(GRAINS, st.lists(st.integers(0, 9), min_size=48, max_size=48))
def test_propagating_attacker_pins_no_suppressed_police_count(grain, counts):
    it = iter(counts)
    rows = []
    buurten = ["BU1", "BU2", "BU3", "BU4"]
    if grain == "buurt-month":
        rows = [row(b, "inbraak", p, next(it)) for b in buurten for p in months(6)]
    elif grain == "buurt-quarter":
        rows = [row(b, "inbraak", p, next(it)) for b in buurten for p in quarters()]
    elif grain == "wijk-quarter":
        rows = [row(w, "inbraak", p, next(it)) for w in ("WK1", "WK2") for p in quarters()]
    elif grain == "buurt-year":
        rows = [row(b, "inbraak", Period(YEAR, "year", 1), next(it)) for b in buurten]
    else:  # monthly rows in one wijk, a quarterly row for the other, a second theme yearly
        rows = [row(b, "inbraak", p, next(it)) for b in ("BU1", "BU2") for p in months(3)]
        rows.append(row("WK2", "inbraak", Period(YEAR, "quarter", 1), next(it)))
        rows += [row(b, "drugs", Period(YEAR, "year", 1), next(it)) for b in buurten]
    cube = build(GM, YEAR, AREAS, rows, k=K, round_to=R, protection=2)
    assert attack(cube) == []
    # and nothing published is below k or off the rounding grid
    for theme, t in cube.themes.items():
        shown = t.protected.count[t.protected.count >= 0]
        assert (shown >= K).all() and (shown % R == 0).all(), theme


def test_the_classic_police_attack_fails():
    """A wijk published next to all but one of its buurten: wijk minus buurten."""
    q1 = Period(YEAR, "quarter", 1)
    rows = [row("BU1", "inbraak", q1, 3), row("BU2", "inbraak", q1, 21)]
    rows += [row("BU3", "inbraak", q1, 12), row("BU4", "inbraak", q1, 14)]
    cube = build(GM, YEAR, AREAS, rows, k=K, round_to=R, protection=2)
    assert cube.figure("BU1", "inbraak", q1).status == "suppressed"
    wijk, other = cube.figure("WK1", "inbraak", q1), cube.figure("BU2", "inbraak", q1)
    if wijk.value is not None and other.value is not None:
        lo_w, hi_w = published_bounds(np.array([wijk.value]), K, R)
        lo_b, hi_b = published_bounds(np.array([other.value]), K, R)
        assert (hi_w[0] - lo_b[0]) - (lo_w[0] - hi_b[0]) >= 2
    assert attack(cube) == []


def test_overlapping_stored_rows_count_once_newest_first():
    """Rows stored before overlaps were refused: the newest import wins, a row that is
    not a calendar period is left out, nothing is counted twice."""
    march = Period(YEAR, "month", 3)
    q1 = Period(YEAR, "quarter", 1)
    odd = row("BU1", "inbraak", q1, 50) | {"period_start": date(YEAR, 1, 5)}
    records = [row("BU1", "inbraak", march, 7), row("BU1", "inbraak", q1, 40), odd]
    kept = usable_rows(records)["inbraak"]
    assert [(p.label, n) for _, _, p, n in kept] == [("2025-03", 7)]


def test_the_attacker_is_not_toothless():
    """Two buurten of 4 under a published wijk of 10 (true 8) pin each other at 4 unless
    the audit hides more: without it (protection 0) the attacker wins."""
    q1 = Period(YEAR, "quarter", 1)
    rows = [row("BU1", "inbraak", q1, 4), row("BU2", "inbraak", q1, 4)]
    rows += [row("BU3", "inbraak", q1, 30), row("BU4", "inbraak", q1, 25)]
    weak = build(GM, YEAR, AREAS, rows, k=K, round_to=R, protection=0)
    assert weak.figure("WK1", "inbraak", q1).value == 10
    assert {(area, truth) for _, area, _, truth, _, _ in attack(weak)} >= {("BU1", 4), ("BU2", 4)}
    strong = build(GM, YEAR, AREAS, rows, k=K, round_to=R, protection=2)
    assert attack(strong) == []
    assert strong.figure("WK1", "inbraak", q1).value is None
