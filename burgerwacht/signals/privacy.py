"""Statistical disclosure control for signal summaries: a protected cube.

Every figure an analyst can ever see for a municipality and year is a cell of one
three-dimensional table (the *cube*): area (buurten, wijken, gemeente) × category node
(categories, groups, every category, gebiedsscan themes) × period (12 months, 4
quarters, the year). The cube is computed from the exact counts per buurt × category
× month and protected as a whole, so whichever slice a query asks for, a cell is
always published or hidden the same way (the protection is query-independent).

Rules, applied in this order (docs/signals.md explains why):

0. **Cell-key noise**: every record carries a fixed random key; a cell's key is the sum
   of its records' keys modulo :data:`KEY_MODULUS`, and its noise a fixed function of
   that key (a p-table: :class:`Noise`). The same cell always gets the same noise; one
   record more or less is a fresh draw (see :func:`perturb`).
1. **Primary suppression**: a cell is published only when its count plus noise is at
   least ``k + D`` (D: the largest noise), which implies a true count of at least ``k``;
   every other cell is hidden (zero included, so "hidden" never tells "at least one").
   The step from hidden to published thus happens anywhere between true counts ``k``
   and ``k + 2D``, not exactly at ``k`` (docs/signals.md argues the margin).
2. **Rounding**: a published count is its true count plus noise, rounded to the nearest
   multiple of ``round_to`` (halves up), and never shown below ``round_to``.
3. **Complementary suppression**: in every relation parent = Σ children (along any of
   the three axes) whose parent is published, a lone hidden child gets company: the
   smallest published sibling is hidden too. Repeated until stable.
4. **Audit**: two attackers who know the algorithm, ``k``, ``round_to`` and D derive
   bounds for every cell from every published figure, by interval propagation over
   all relations until nothing changes. One is told which hidden cells are primary
   (so those are below k + 2D); the other assumes that *every* hidden cell is (what a
   real attacker would guess). A published value tells them its rounding interval
   widened by D either way. Every hidden cell with a true count 1..k-1 must keep
   at least ``protection`` + 1 possible values for both, unless the attacker's range
   is wrong (excludes the true count). Otherwise the smallest published cell next to
   it is hidden too and the audit runs again. It terminates: with nothing published
   no lower bound above 0 exists.
5. Cells with identical contents (a wijk with one buurt, a theme with one category)
   always share one status.

Nothing here touches the database; the arrays come from the rollups.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

BIG = 1e12  # "unbounded" in the attacker's bounds (exact in float64 arithmetic)

#: Record keys are integers in [0, KEY_MODULUS) (signals.ckey, sql/0015); a cell's key
#: is the sum of its records' keys modulo KEY_MODULUS, so it is uniform whatever the
#: number of records, and one record more or less moves it to a fresh random position.
KEY_MODULUS = 2**31


@dataclass(frozen=True)
class Noise:
    """A p-table: the probabilities of the noise offsets ``-D..D`` (odd length,
    symmetric, so the mean is zero). A cell key is mapped to its offset by cutting the
    key range into consecutive intervals of these sizes (integer thresholds: the same
    key gives the same offset on every machine)."""

    probabilities: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        p = np.asarray(self.probabilities, dtype=float)
        if len(p) % 2 != 1 or (p < 0).any() or abs(p.sum() - 1.0) > 1e-9:
            raise ValueError("a p-table has an odd number of probabilities summing to 1")
        if not np.allclose(p, p[::-1]):
            raise ValueError("a p-table is symmetric (zero mean)")
        if p[0] <= 0:
            raise ValueError("the largest offsets need a probability above zero")

    @property
    def max(self) -> int:
        """D: the largest offset either way."""
        return len(self.probabilities) // 2

    @property
    def variance(self) -> float:
        d = np.arange(-self.max, self.max + 1)
        return float((np.asarray(self.probabilities) * d * d).sum())

    def thresholds(self) -> np.ndarray:
        cum = np.cumsum(np.asarray(self.probabilities, dtype=float))[:-1]
        return np.round(cum * KEY_MODULUS).astype(np.int64)

    def offsets(self, cell_keys: np.ndarray) -> np.ndarray:
        """The noise of each cell key (deterministic)."""
        keys = np.mod(np.asarray(cell_keys, dtype=np.int64), KEY_MODULUS)
        return np.searchsorted(self.thresholds(), keys, side="right").astype(np.int64) - self.max


NO_NOISE = Noise()


def cell_keys(leaf_key_sums: np.ndarray, axes: Sequence[Axis]) -> np.ndarray:
    """Leaf key sums (each mod :data:`KEY_MODULUS`) → the key of every cube cell: the
    sum of its records' keys mod KEY_MODULUS (exact in int64: ~2**31 per leaf times at
    most millions of leaves)."""
    return np.mod(aggregate(np.mod(leaf_key_sums, KEY_MODULUS), axes), KEY_MODULUS)


def perturb(
    true: np.ndarray, cell_keys: np.ndarray, *, k: int, round_to: int, noise: Noise = NO_NOISE
) -> np.ndarray:
    """The cell-key method for any table of counts: true counts and the cells' keys
    (same shape) → published counts, -1 where primary suppression hides the cell.

    A cell is published only when its count plus noise is at least ``k + D`` (D:
    ``noise.max``), so its true count is at least ``k``; the published value is the
    count plus noise, rounded to ``round_to`` (halves up, at least ``round_to``). Same
    count and key, same value. With :data:`NO_NOISE` this is the plain k rule and
    rounding. Complementary suppression is the caller's next step (:func:`protect` for
    the signal cube)."""
    true = np.asarray(true, dtype=np.int64)
    noisy = true + noise.offsets(cell_keys)
    hide = (true < k) | (noisy < k + noise.max)
    return np.where(hide, -1, round_count(np.maximum(noisy, 0), round_to))


@dataclass
class Axis:
    """One dimension of the cube. The first ``leaves`` labels are the base nodes;
    every other node is the parent of exactly one relation (its children)."""

    labels: list[str]
    leaves: int
    relations: list[tuple[int, list[int]]]
    _members: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.labels)
        parents = [p for p, _ in self.relations]
        if len(set(parents)) != len(parents):
            raise ValueError("a node may be the parent of only one relation per axis")
        if any(p < self.leaves for p in parents):
            raise ValueError("leaves cannot be parents")
        self.index = {label: i for i, label in enumerate(self.labels)}
        # leaf membership of every node (n × leaves), built bottom-up
        children = dict(self.relations)
        members = np.zeros((n, self.leaves), dtype=np.int64)
        done = [False] * n
        for i in range(self.leaves):
            members[i, i] = 1
            done[i] = True

        def build(i: int, seen: frozenset[int]) -> np.ndarray:
            if done[i]:
                return members[i]
            if i in seen:
                raise ValueError("cyclic relations")
            for c in children.get(i, []):
                members[i] += build(c, seen | {i})
            done[i] = True
            return members[i]

        for i in range(n):
            build(i, frozenset())
        if (members > 1).any():
            raise ValueError("a relation counts a leaf twice")
        self._members = members
        # canonical representative of identical nodes (same leaf set)
        canon = list(range(n))
        first: dict[bytes, int] = {}
        for i in range(n):
            key = members[i].tobytes()
            canon[i] = first.setdefault(key, i)
        self.canon = np.array(canon)
        # relations as arrays (only relations with at least one child)
        # The attacker also uses every mixed-level decomposition one level deep (a node
        # = its children with one child replaced by that child's children) and the
        # decomposition into leaves: interval propagation alone would not combine them.
        rels = [(p, list(c)) for p, c in self.relations if c]
        seen_sets = {(p, tuple(sorted(c))) for p, c in rels}
        extra: list[tuple[int, list[int]]] = []
        for p, ch in rels:
            for c in ch:
                if children.get(c):
                    cut = [x for x in ch if x != c] + list(children[c])
                    extra.append((p, cut))
            extra.append((p, [int(i) for i in np.flatnonzero(members[p])]))
        # ...and every node as any node nested in it plus the leaves in between
        # (parent minus a theme, a year minus a quarter, a gemeente minus a wijk)
        internal = sorted({p for p, _ in rels})
        for p in internal:
            for q in range(self.leaves, n):  # a leaf q gives the decomposition into leaves
                if q == p or self.canon[q] == self.canon[p]:
                    continue
                inner = members[q]
                if inner.any() and (inner <= members[p]).all():
                    rest = [int(i) for i in np.flatnonzero(members[p] - inner)]
                    extra.append((p, [q, *rest]))
        for p, cut in extra:
            key = (p, tuple(sorted(cut)))
            if key not in seen_sets:
                seen_sets.add(key)
                rels.append((p, cut))
        self.rel_parent = np.array([p for p, _ in rels], dtype=np.int64)
        self.rel_matrix = np.zeros((len(rels), n))
        pair_rel, pair_child = [], []
        for r, (_, cs) in enumerate(rels):
            for c in cs:
                self.rel_matrix[r, c] = 1.0
                pair_rel.append(r)
                pair_child.append(c)
        self.pair_rel = np.array(pair_rel, dtype=np.int64)
        self.pair_child = np.array(pair_child, dtype=np.int64)
        self.rel_children = [np.array(c, dtype=np.int64) for _, c in rels]
        # for reducing per child over the relations it is in
        order = np.argsort(self.pair_child, kind="stable")
        self.pair_order = order
        self.pair_rel_by_child = self.pair_rel[order]
        sorted_children = self.pair_child[order]
        starts = (
            np.flatnonzero(np.r_[True, sorted_children[1:] != sorted_children[:-1]]) if len(order) else order
        )
        self.pair_starts = starts
        self.pair_unique = sorted_children[starts] if len(order) else order
        p_order = np.argsort(self.rel_parent, kind="stable")
        sorted_parents = self.rel_parent[p_order]
        self.parent_order = p_order
        self.parent_starts = (
            np.flatnonzero(np.r_[True, sorted_parents[1:] != sorted_parents[:-1]])
            if len(p_order)
            else p_order
        )
        self.parent_unique = sorted_parents[self.parent_starts] if len(p_order) else p_order
        self.child_pad = _pad_groups(self.pair_rel_by_child, self.pair_starts, len(rels))
        self.parent_pad = _pad_groups(self.parent_order, self.parent_starts, len(rels))

    @property
    def members(self) -> np.ndarray:
        assert self._members is not None
        return self._members


def _pad_groups(values: np.ndarray, starts: np.ndarray, fill: int) -> np.ndarray | None:
    """The groups ``values[starts[g]:starts[g+1]]`` as the rows of an index matrix,
    padded with ``fill``; None when padding would cost more than half again as much
    (a few groups far larger than the rest), and the reduction uses ``reduceat``."""
    if not len(values):
        return None
    counts = np.diff(np.r_[starts, len(values)])
    width = int(counts.max())
    if len(starts) * width > 1.5 * len(values):
        return None
    pad = np.full((len(starts), width), fill, dtype=np.int64)
    rows = np.repeat(np.arange(len(starts)), counts)
    pad[rows, np.arange(len(values)) - np.repeat(starts, counts)] = values
    return pad


def _reduce_groups(
    ufunc: np.ufunc, x: np.ndarray, values: np.ndarray, starts: np.ndarray, pad: np.ndarray | None
) -> np.ndarray:
    """``ufunc.reduceat(x[values], starts, axis=0)`` (minimum or maximum). With a padded
    index matrix it is one gather and one reduction, about four times faster for these
    shapes; the padding row is the ufunc's identity (inf), so the result is the same."""
    if pad is None:
        return ufunc.reduceat(x[values], starts, axis=0)
    neutral = np.inf if ufunc is np.minimum else -np.inf
    padded = np.concatenate([x, np.full((1, *x.shape[1:]), neutral)])
    return ufunc.reduce(padded[pad], axis=1)


@dataclass
class Protected:
    """The published cube: ``count[a, c, t]`` is the rounded count or -1 when hidden."""

    count: np.ndarray
    hidden: np.ndarray
    primary: np.ndarray
    mean_severity: np.ndarray  # nan where not published
    true: np.ndarray  # exact counts (never leaves the server; for tests and audits)
    secondary_cells: int = 0
    audit_rounds: int = 0


def round_count(n: np.ndarray, r: int) -> np.ndarray:
    """Nearest multiple of ``r``, halves up, at least ``r``."""
    n = np.asarray(n, dtype=np.int64)
    return np.maximum(((2 * n + r) // (2 * r)) * r, r)


def published_bounds(p: np.ndarray, k: int, r: int, d: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The true counts an attacker knows can lie behind published value(s) ``p``, with
    noise of at most ``d`` either way (count plus noise was at least k + d, so the count
    was at least k; see :func:`perturb`)."""
    lo = np.where(p <= r, k + d, np.maximum(k + d, p - r // 2))
    hi = p + (r - 1) // 2
    return np.maximum(lo - d, k).astype(float), (hi + d).astype(float)


@functools.lru_cache(maxsize=32)
def fewest_records_that_pin(noise: Noise, k: int, round_to: int, cap: int = 60) -> int | None:
    """The fewest records an attacker must add (or remove) between two reads of one cell
    to know its count exactly, by exhaustive search: every count below ``cap``, read
    once and again m records later, with every pair of noise offsets (the two reads
    have independent keys, so every pair occurs); published values narrowed through
    :func:`published_bounds`, a hidden read taken as "below k + 2D" (the strong
    attacker of tests/api/test_signals_attack.py). Pins happen where two candidate
    intervals meet at one end: two published reads whose values differ by
    m + (round_to - 1) + 2D, or a read that crosses the k threshold (docs/signals.md
    "What still leaks"). ``None``: not within 4 × round_to records."""
    d = noise.max
    edges = np.concatenate([[0], noise.thresholds()])
    keys = edges[: 2 * d + 1].astype(np.int64)  # one key for each offset -d..d

    def candidates(p: int, j: int) -> tuple[int, int]:  # the counts possible j records before
        if p < 0:
            return 0, k - 1 + 2 * d - j
        lo, hi = published_bounds(np.array([p]), k, round_to, d)
        return int(lo[0]) - j, int(hi[0]) - j

    reads = [
        set(perturb(np.full(len(keys), t), keys, k=k, round_to=round_to, noise=noise).tolist())
        for t in range(cap + 4 * round_to)
    ]
    for m in range(1, 4 * round_to):
        for t in range(cap):
            for p, q in itertools.product(reads[t], reads[t + m]):
                (lo1, hi1), (lo2, hi2) = candidates(p, 0), candidates(q, m)
                if max(lo1, lo2, 0) == min(hi1, hi2):
                    return m
    return None


def aggregate(leaf: np.ndarray, axes: Sequence[Axis]) -> np.ndarray:
    """Leaf array (leaves × leaves × leaves) → full cube (nodes × nodes × nodes)."""
    out = leaf.astype(np.int64)
    for i, ax in enumerate(axes):
        out = np.moveaxis(np.tensordot(ax.members, np.moveaxis(out, i, 0), axes=(1, 0)), 0, i)
    return out


def _sync_aliases(mask: np.ndarray, axes: Sequence[Axis]) -> np.ndarray:
    """A cell is hidden when any cell with the same contents is."""
    out = mask.copy()
    for i, ax in enumerate(axes):
        if (ax.canon == np.arange(len(ax.canon))).all():
            continue
        m = np.moveaxis(out, i, 0)
        acc = np.zeros_like(m)
        np.logical_or.at(acc, ax.canon, m)
        m[...] = acc[ax.canon]
    return out


def attacker_bounds(
    hidden: np.ndarray,
    small: np.ndarray,
    published: np.ndarray,
    axes: Sequence[Axis],
    k: int,
    r: int,
    max_passes: int = 60,
    d: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on every cell's true count from everything published, by propagation of
    intervals through every relation until nothing changes. Hidden cells in ``small``
    are taken to be below k + 2d (``d``: the largest noise; :func:`perturb`), other
    hidden cells only to be at least 0. ``published`` holds the published values
    (noise and rounding applied)."""
    lo_p, hi_p = published_bounds(np.where(hidden, r, published), k, r, d)
    lb = np.where(hidden, 0.0, lo_p)
    ub = np.where(hidden, np.where(small, float(k - 1 + 2 * d), BIG), hi_p)
    for _ in range(max_passes):
        changed = False
        for i, ax in enumerate(axes):
            if not len(ax.rel_parent):
                continue
            L = np.moveaxis(lb, i, 0)
            U = np.moveaxis(ub, i, 0)
            sum_l = np.tensordot(ax.rel_matrix, L, axes=(1, 0))
            sum_u = np.tensordot(ax.rel_matrix, U, axes=(1, 0))
            # parent within the sum of its children
            pl = np.maximum(L[ax.rel_parent], sum_l)
            pu = np.minimum(U[ax.rel_parent], sum_u)
            newL = L.copy()
            newU = U.copy()
            pu_ = ax.parent_unique
            newL[pu_] = _reduce_groups(np.maximum, pl, ax.parent_order, ax.parent_starts, ax.parent_pad)
            newU[pu_] = _reduce_groups(np.minimum, pu, ax.parent_order, ax.parent_starts, ax.parent_pad)
            # child = parent - siblings: ub(c) = ub(p) - (sum_l - lb(c)) in every relation
            # of c. lb(c) is the same in all of them, so the minimum over the relations is
            # taken of ub(p) - sum_l alone and lb(c) added afterwards (likewise for the
            # lower bound): the same integers (exact in float64), half the work of
            # forming every (relation, child) pair.
            u = ax.pair_unique
            room_u = _reduce_groups(
                np.minimum, pu - sum_l, ax.pair_rel_by_child, ax.pair_starts, ax.child_pad
            )
            room_l = _reduce_groups(
                np.maximum, pl - sum_u, ax.pair_rel_by_child, ax.pair_starts, ax.child_pad
            )
            newU[u] = np.minimum(newU[u], L[u] + room_u)
            newL[u] = np.maximum(newL[u], U[u] + room_l)
            np.clip(newL, 0.0, BIG, out=newL)
            np.clip(newU, 0.0, BIG, out=newU)
            if (newL > L).any() or (newU < U).any():
                changed = True
                L[...] = newL
                U[...] = newU
        if not changed:
            break
    return np.ceil(lb - 1e-9), np.floor(ub + 1e-9)


def _complementary(hidden: np.ndarray, true: np.ndarray, axes: Sequence[Axis]) -> np.ndarray:
    """Rule 3: no published parent with exactly one hidden child (along any axis)."""
    hidden = hidden.copy()
    for _ in range(100):
        changed = False
        for i, ax in enumerate(axes):
            H = np.moveaxis(hidden, i, 0)
            T = np.moveaxis(true, i, 0)
            for r, children in enumerate(ax.rel_children):
                if len(children) < 2:
                    continue
                parent = ax.rel_parent[r]
                hc = H[children]
                lone = (hc.sum(axis=0) == 1) & ~H[parent]
                if not lone.any():
                    continue
                candidates = np.where(hc, np.iinfo(np.int64).max, T[children])
                pick = candidates.argmin(axis=0)
                idx = np.nonzero(lone)
                H[(children[pick[idx]], *idx)] = True
                changed = True
        hidden = _sync_aliases(hidden, axes)
        if not changed:
            break
    return hidden


def _neighbours(cell: tuple[int, int, int], axes: Sequence[Axis]) -> list[tuple[int, int, int]]:
    """Cells sharing a relation with ``cell``: siblings, parent and children."""
    out: list[tuple[int, int, int]] = []
    for i, ax in enumerate(axes):
        x = cell[i]
        for r, children in enumerate(ax.rel_children):
            parent = int(ax.rel_parent[r])
            group = [parent, *children.tolist()]
            if x in group:
                for y in group:
                    if y != x:
                        c = list(cell)
                        c[i] = y
                        out.append((c[0], c[1], c[2]))
    return out


def _binding_members(
    cell: tuple[int, int, int], axes: Sequence[Axis], lb: np.ndarray, ub: np.ndarray
) -> list[tuple[int, int, int]]:
    """The other cells of the relations that give ``cell`` its tightest bounds."""
    out: list[tuple[int, int, int]] = []
    for i, ax in enumerate(axes):
        x = cell[i]
        # the bounds along axis i through the cell (sums of whole numbers: exact)
        line = (slice(None), *cell[:i], *cell[i + 1 :])
        line_l, line_u = np.moveaxis(lb, i, 0)[line], np.moveaxis(ub, i, 0)[line]

        def at(y: int, axis: int = i) -> tuple[int, int, int]:
            c = list(cell)
            c[axis] = y
            return (c[0], c[1], c[2])

        for r, children in enumerate(ax.rel_children):
            parent = int(ax.rel_parent[r])
            if x != parent and x not in children:
                continue
            if x == parent:
                lo = line_l[children].sum()
                hi = line_u[children].sum()
            else:
                others = children[children != x]
                lo = line_l[parent] - line_u[others].sum()
                hi = line_u[parent] - line_l[others].sum()
            if lo >= lb[cell] - 0.5 or hi <= ub[cell] + 0.5:
                out += [at(y) for y in (parent, *children.tolist()) if y != x]
    return out


def _pick_secondary(
    cell: tuple[int, int, int],
    hidden: np.ndarray,
    true: np.ndarray,
    axes: Sequence[Axis],
    lb: np.ndarray,
    ub: np.ndarray,
) -> tuple[int, int, int] | None:
    """The published cell with the smallest count in a relation that binds ``cell``,
    following binding relations through hidden cells; else the nearest published
    cell in the relation graph."""
    frontier = [cell]
    seen = {cell}
    for _ in range(6):
        nxt = []
        for c in frontier:
            for m in _binding_members(c, axes, lb, ub):
                if m not in seen:
                    seen.add(m)
                    nxt.append(m)
        published = [c for c in nxt if not hidden[c]]
        if published:
            return min(published, key=lambda c: (int(true[c]), c))
        frontier = nxt
        if not frontier:
            break
    frontier = [cell]
    seen = {cell}
    for _ in range(4):
        nxt: list[tuple[int, int, int]] = []
        for c in frontier:
            for nb in _neighbours(c, axes):
                if nb not in seen:
                    seen.add(nb)
                    nxt.append(nb)
        published = [c for c in nxt if not hidden[c]]
        if published:
            return min(published, key=lambda c: (int(true[c]), c))
        frontier = nxt
    return None


def protect(
    leaf_n: np.ndarray,
    axes: Sequence[Axis],
    *,
    k: int,
    round_to: int,
    protection: int = 2,
    leaf_rated: np.ndarray | None = None,
    leaf_severity: np.ndarray | None = None,
    leaf_keys: np.ndarray | None = None,
    noise: Noise = NO_NOISE,
    max_rounds: int = 500,
) -> Protected:
    """Build and protect the cube from exact leaf counts (rules 0-5 above).
    ``leaf_keys``: the sum of the records' keys per leaf (mod :data:`KEY_MODULUS`);
    without them (or with :data:`NO_NOISE`) no noise is added."""
    true = aggregate(leaf_n, axes)
    if leaf_keys is None:
        keys = np.zeros_like(true)
        noise = NO_NOISE
    else:
        keys = cell_keys(leaf_keys, axes)
    d = noise.max
    first = perturb(true, keys, k=k, round_to=round_to, noise=noise)
    # aliases share their records, so their keys and values: the sync is a no-op
    primary = _sync_aliases(first < 0, axes)
    hidden = primary.copy()
    need = min(protection, k - 1)
    rounds = 0
    # the published value of every cell that is not hidden (noise and rounding applied)
    rounded = np.where(primary, round_to, first)
    # only true counts below k need protecting (cells hidden by noise alone have >= k)
    sensitive = primary & (true >= 1) & (true < k)
    if need > 0 and sensitive.any():
        while rounds < max_rounds:
            rounds += 1
            weak = np.zeros_like(hidden)
            for small in (hidden, primary):  # the guessing attacker first: usually the stronger
                lb, ub = attacker_bounds(hidden, small, rounded, axes, k, round_to, d=d)
                weak |= sensitive & ((ub - lb) < need) & (lb <= true) & (true <= ub)
                if weak.any():
                    break  # more will be hidden anyway; both attackers check the final state
            if not weak.any():
                break
            chosen: set[tuple[int, int, int]] = set()
            cells = sorted(zip(*np.nonzero(weak), strict=True), key=lambda c: int(true[c]))
            for c in cells:
                cell = (int(c[0]), int(c[1]), int(c[2]))
                if any(nb in chosen for nb in _neighbours(cell, axes)):
                    continue
                pick = _pick_secondary(cell, hidden, true, axes, lb, ub)
                if pick is not None:
                    chosen.add(pick)
            if not chosen:  # nothing published near the weak cells: hide every aggregate
                hidden = _sync_aliases(hidden | ~_leaf_mask(hidden.shape, axes), axes)
                if not (~hidden).any():
                    break
                continue
            for c in chosen:
                hidden[c] = True
            hidden = _sync_aliases(hidden, axes)
    count = np.where(hidden, -1, rounded)
    mean = np.full(true.shape, np.nan)
    if leaf_rated is not None and leaf_severity is not None:
        rated = aggregate(leaf_rated, axes)
        sev = aggregate(leaf_severity, axes)
        ok = ~hidden & (rated >= k)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(ok, np.round(sev / np.maximum(rated, 1), 1), np.nan)
    return Protected(
        count=count,
        hidden=hidden,
        primary=primary,
        mean_severity=mean,
        true=true,
        secondary_cells=int((hidden & ~primary).sum()),
        audit_rounds=rounds,
    )


def _leaf_mask(shape: tuple[int, ...], axes: Sequence[Axis]) -> np.ndarray:
    a = np.arange(shape[0]) < axes[0].leaves
    c = np.arange(shape[1]) < axes[1].leaves
    t = np.arange(shape[2]) < axes[2].leaves
    return a[:, None, None] & c[None, :, None] & t[None, None, :]
