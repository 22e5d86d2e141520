"""Disclosure control of signal summaries, attacked.

The attackers see every published figure of a cube (all levels, all groupings, every
period) and know the algorithm, k and round_to. They try to pin down the true count
(1..k-1) of a hidden cell exactly:

* an *exact* attacker (tiny cubes): enumerates every dataset consistent with all
  outputs and checks whether a hidden cell takes a single value in all of them;
* a *propagating* attacker (larger cubes): an implementation independent of
  privacy.py, working on the base cells (buurt × category × month) with every
  published figure as a sum constraint, plus every pairwise difference of nested
  figures (parent minus child, group minus category, quarter minus month).

Both attack twice: once told which hidden cells are primary (below k), once assuming
every hidden cell is below k. A suppressed count must never be pinned to its true value.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from burgerwacht.signals.privacy import Axis, attacker_bounds, protect, published_bounds, round_count

K, R = 5, 5


def tiny_axes() -> list[Axis]:
    # 2 buurten in 1 wijk; 2 categories in 1 group; 2 months in 1 quarter
    return [
        Axis(["b1", "b2", "w"], 2, [(2, [0, 1])]),
        Axis(["c1", "c2", "g"], 2, [(2, [0, 1])]),
        Axis(["m1", "m2", "q"], 2, [(2, [0, 1])]),
    ]


def small_axes() -> list[Axis]:
    # 2 wijken x 2 buurten + gemeente; 2 groups x 2 categories + total + a theme across
    # groups; 2 months + quarter
    areas = Axis(["b1", "b2", "b3", "b4", "w1", "w2", "gm"], 4, [(4, [0, 1]), (5, [2, 3]), (6, [4, 5])])
    nodes = Axis(
        ["c1", "c2", "c3", "c4", "g1", "g2", "all", "theme"],
        4,
        [(4, [0, 1]), (5, [2, 3]), (6, [4, 5]), (7, [1, 2])],
    )
    periods = Axis(["m1", "m2", "q"], 2, [(2, [0, 1])])
    return [areas, nodes, periods]


def constraints(axes: list[Axis], count: np.ndarray, hidden: np.ndarray, small: np.ndarray):
    """(leaf index set, lo, hi) for every cell an attacker learns something about."""
    out = []
    a_m, c_m, t_m = (ax.members for ax in axes)
    shape = tuple(ax.leaves for ax in axes)
    for a, c, t in itertools.product(*(range(len(ax.labels)) for ax in axes)):
        leaves = frozenset(
            int(np.ravel_multi_index((i, j, m), shape))
            for i in np.flatnonzero(a_m[a])
            for j in np.flatnonzero(c_m[c])
            for m in np.flatnonzero(t_m[t])
        )
        if hidden[a, c, t]:
            out.append((leaves, 0, K - 1 if small[a, c, t] else 10**9))
        else:
            lo, hi = published_bounds(np.array([count[a, c, t]]), K, R)
            out.append((leaves, int(lo[0]), int(hi[0])))
    return out


def exact_ranges(cons, n_leaves: int, cap: int) -> list[set[int]] | None:
    """Every value each constraint's sum takes over all consistent integer datasets
    (leaves 0..cap); None when no dataset is consistent."""
    values: list[set[int]] = [set() for _ in cons]
    by_last: dict[int, list[int]] = {}
    for idx, (leaves, _, _) in enumerate(cons):
        by_last.setdefault(max(leaves), []).append(idx)
    x = [0] * n_leaves
    found = False

    def ok_partial(i: int) -> bool:
        for idx in by_last.get(i, []):
            leaves, lo, hi = cons[idx]
            s = sum(x[j] for j in leaves)
            if not lo <= s <= hi:
                return False
        # prune: partial sums already above hi
        for leaves, _, hi in cons:
            if sum(x[j] for j in leaves if j <= i) > hi:
                return False
        return True

    def rec(i: int) -> None:
        nonlocal found
        if i == n_leaves:
            found = True
            for idx, (leaves, _, _) in enumerate(cons):
                values[idx].add(sum(x[j] for j in leaves))
            return
        for v in range(cap + 1):
            x[i] = v
            if ok_partial(i):
                rec(i + 1)
        x[i] = 0

    rec(0)
    return values if found else None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 7), min_size=8, max_size=8))
def test_exact_attacker_cannot_pin_a_suppressed_count(data):
    axes = tiny_axes()
    leaf = np.array(data, dtype=np.int64).reshape(2, 2, 2)
    p = protect(leaf, axes, k=K, round_to=R, protection=2)
    sensitive = p.hidden & (p.true >= 1) & (p.true < K)
    if not sensitive.any():
        return
    for small in (p.primary, p.hidden):
        cons = constraints(axes, p.count, p.hidden, small)
        ranges = exact_ranges(cons, 8, cap=14)
        if ranges is None:  # the assumption "every hidden cell is small" was false
            continue
        cells = list(itertools.product(*(range(len(ax.labels)) for ax in axes)))
        for idx, cell in enumerate(cells):
            if sensitive[cell]:
                assert ranges[idx] != {int(p.true[cell])}, (cell, data, ranges[idx])


def propagate(cons, n_leaves: int, big: float = 1e9, passes: int = 100):
    """Leaf bounds from every sum constraint plus the difference of every pair of
    nested constraints (vectorised interval propagation); the range of each
    constraint's sum afterwards."""
    base = list(cons)
    derived = []
    for (s1, lo1, hi1), (s2, lo2, hi2) in itertools.permutations(base, 2):
        if s1 < s2:  # s2 minus s1 sums to [lo2 - hi1, hi2 - lo1]
            derived.append((s2 - s1, max(0, lo2 - hi1), hi2 - lo1))
    every = base + derived
    m = np.zeros((len(every), n_leaves), dtype=bool)
    for i, (leaves, _, _) in enumerate(every):
        m[i, list(leaves)] = True
    lo = np.array([c[1] for c in every], dtype=float)
    hi = np.array([min(c[2], big) for c in every], dtype=float)
    lb = np.zeros(n_leaves)
    ub = np.full(n_leaves, big)
    for _ in range(passes):
        s_lb = m @ lb
        s_ub = m @ ub
        cand_ub = np.where(m, (hi - s_lb)[:, None] + lb[None, :], np.inf).min(axis=0)
        cand_lb = np.where(m, (lo - s_ub)[:, None] + ub[None, :], -np.inf).max(axis=0)
        new_ub = np.minimum(ub, cand_ub)
        new_lb = np.maximum(lb, cand_lb)
        if (new_ub == ub).all() and (new_lb == lb).all():
            break
        lb, ub = new_lb, new_ub
    if (lb > ub).any():
        return None  # contradiction: the attacker's assumption was false
    tight: dict[bytes, tuple[float, float]] = {}
    for j in range(len(every)):
        key = m[j].tobytes()
        t_lo, t_hi = tight.get(key, (-np.inf, np.inf))
        tight[key] = (max(t_lo, lo[j]), min(t_hi, hi[j]))
    s_lb, s_ub = m[: len(base)] @ lb, m[: len(base)] @ ub
    ranges = []
    for i in range(len(base)):
        t_lo, t_hi = tight[m[i].tobytes()]
        ranges.append((max(s_lb[i], t_lo), min(s_ub[i], t_hi)))
    return ranges


@settings(
    max_examples=int(os.environ.get("SIGNALS_PRIVACY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.integers(0, 9), min_size=32, max_size=32))
def test_propagating_attacker_with_every_level_grouping_and_period(data):
    protection = 2  # the configured default: a margin over the audit's own attacker
    axes = small_axes()
    leaf = np.array(data, dtype=np.int64).reshape(4, 4, 2)
    p = protect(leaf, axes, k=K, round_to=R, protection=protection)
    sensitive = p.hidden & (p.true >= 1) & (p.true < K)
    cells = list(itertools.product(*(range(len(ax.labels)) for ax in axes)))
    for small in (p.primary, p.hidden):
        # two sound methods, combined: leaf-level propagation with every nested
        # difference (this file), and relation-level propagation (privacy.py); a
        # contradiction found by either refutes the attacker's premise
        cell_lb, cell_ub = attacker_bounds(p.hidden, small, round_count(p.true, R), axes, K, R)
        if (cell_lb > cell_ub).any():
            continue
        ranges = propagate(constraints(axes, p.count, p.hidden, small), 32)
        if ranges is None or any(lo > hi for lo, hi in ranges):
            continue
        for idx, cell in enumerate(cells):
            if sensitive[cell]:
                lo = max(ranges[idx][0], cell_lb[cell])
                hi = min(ranges[idx][1], cell_ub[cell])
                truth = int(p.true[cell])
                assert not lo == hi == truth, (cell, truth, lo, hi, data)


def test_the_classic_attacks_fail():
    """Parent minus visible children, and two groupings of the same cells."""
    axes = small_axes()
    leaf = np.zeros((4, 4, 2), dtype=np.int64)
    leaf[:, :, 0] = [[3, 12, 9, 8], [11, 10, 7, 14], [4, 4, 9, 6], [13, 8, 12, 10]]
    p = protect(leaf, axes, k=K, round_to=R, protection=2)
    a, c, t = (ax.index for ax in axes)
    # b1/c1 = 3 is hidden; wijk w1 and the other buurt are published in that column...
    assert p.hidden[a["b1"], c["c1"], t["m1"]]
    # ...so the attacker's wijk-minus-buurt interval must be wide (or a sibling hidden)
    w = p.count[a["w1"], c["c1"], t["m1"]]
    b2 = p.count[a["b2"], c["c1"], t["m1"]]
    if w >= 0 and b2 >= 0:
        lo_w, hi_w = published_bounds(np.array([w]), K, R)
        lo_b, hi_b = published_bounds(np.array([b2]), K, R)
        assert (hi_w[0] - lo_b[0]) - (lo_w[0] - hi_b[0]) >= 2
    # b3/c1 and b3/c2 (4 and 4) hidden, their group cell 8 would pin both at 4
    g = p.count[a["b3"], c["g1"], t["m1"]]
    assert p.hidden[a["b3"], c["c1"], t["m1"]] and p.hidden[a["b3"], c["c2"], t["m1"]]
    assert g < 0, "a published 10 over two hidden cells <= 4 each would reveal 4 + 4"


def test_rounding_and_thresholds():
    assert round_count(np.array([5, 6, 7, 8, 12, 13, 17, 18, 1234]), 5).tolist() == [
        5,
        5,
        5,
        10,
        10,
        15,
        15,
        20,
        1235,
    ]
    assert round_count(np.array([15, 14, 25]), 10).tolist() == [20, 10, 30]
    lo, hi = published_bounds(np.array([5, 10, 15]), 5, 5)
    assert lo.tolist() == [5, 8, 13] and hi.tolist() == [7, 12, 17]
    axes = tiny_axes()
    leaf = np.full((2, 2, 2), 6, dtype=np.int64)
    leaf[0, 0, 0] = 4
    p = protect(leaf, axes, k=K, round_to=R, protection=1)
    assert p.count[0, 0, 0] == -1
    published = p.count[p.count >= 0]
    assert (published % R == 0).all() and (published >= R).all()
    # a published count never differs from the truth by more than half a rounding step
    assert (np.abs(p.count - p.true)[p.count >= 0] <= R // 2).all()


def test_identical_cells_share_their_status():
    # a wijk with one buurt: the wijk cell is the buurt cell
    areas = Axis(["b1", "b2", "w1", "w2", "gm"], 2, [(2, [0]), (3, [1]), (4, [2, 3])])
    nodes = Axis(["c1", "c2", "g"], 2, [(2, [0, 1])])
    periods = Axis(["m1", "m2", "q"], 2, [(2, [0, 1])])
    leaf = np.array([[[3, 9], [8, 9]], [[9, 9], [9, 9]]], dtype=np.int64)
    p = protect(leaf, [areas, nodes, periods], k=K, round_to=R, protection=2)
    assert (p.hidden[0] == p.hidden[2]).all() and (p.hidden[1] == p.hidden[3]).all()
