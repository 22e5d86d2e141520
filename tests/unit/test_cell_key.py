"""The cell-key method (burgerwacht/signals/privacy.py): deterministic noise from the
records' keys, a fresh draw for every added or removed record, never a published count
below k, and the passive attackers of test_signals_privacy.py with noise-aware bounds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from burgerwacht.config import PrivacySettings
from burgerwacht.signals.privacy import (
    KEY_MODULUS,
    NO_NOISE,
    Axis,
    Noise,
    attacker_bounds,
    cell_keys,
    fewest_records_that_pin,
    perturb,
    protect,
    published_bounds,
    round_count,
)

K, R = 5, 5
NOISE = Noise(tuple(PrivacySettings().noise))  # the configured default


def test_default_ptable_is_symmetric_with_zero_mean_and_the_documented_variance():
    p = np.asarray(NOISE.probabilities)
    assert NOISE.max == 3 and len(p) == 7
    assert np.allclose(p, p[::-1]) and abs(p.sum() - 1) < 1e-12
    assert abs((p * np.arange(-3, 4)).sum()) < 1e-12
    assert NOISE.variance == pytest.approx(3.08)


def test_no_cell_can_be_pinned_by_fewer_than_round_to_added_records():
    """The configured table (D = 3, round_to 5): two reads of one cell fewer than five
    records apart always leave at least two candidate counts; the earlier D = 2 table
    was pinned by two records (CI found a wijk read as 10, 15, 20: exactly 14), and no
    noise at all by one (the issue's attack)."""
    assert fewest_records_that_pin(NOISE, K, R) == R
    assert fewest_records_that_pin(Noise((0.15, 0.2, 0.3, 0.2, 0.15)), K, R) == 2
    assert fewest_records_that_pin(NO_NOISE, K, R) == 1


@pytest.mark.parametrize(
    ("table", "settings", "pinned_by"),
    [
        ([0.15, 0.2, 0.3, 0.2, 0.15], {}, 2),  # the first default: CI pinned a wijk with two
        ([1 / 3] * 3, {}, 1),  # D = 1: a count of 5 read again one record later as hidden
        ([0.1, 0.12, 0.16, 0.24, 0.16, 0.12, 0.1], {"round_to": 10}, 2),
        ([1.0], {}, 1),  # no noise: the one-record attack
    ],
)
def test_a_configuration_that_lets_few_records_pin_a_count_is_refused(table, settings, pinned_by):
    with pytest.raises(ValidationError, match=f"lets {pinned_by} added records pin a count"):
        PrivacySettings(noise=table, **settings)


def test_the_refusal_names_what_fits_and_noise_off_needs_an_explicit_minimum():
    with pytest.raises(ValidationError, match=r"D in \[3\] fits"):
        PrivacySettings(noise=[0.25, 0.5, 0.25])
    assert PrivacySettings(noise=[1.0], min_records_to_pin=1).noise == [1.0]
    assert PrivacySettings(noise=[0.25, 0.5, 0.25], min_records_to_pin=1).round_to == R


@pytest.mark.parametrize(
    "table", [[0.5, 0.5], [0.2, 0.3, 0.4], [0.3, 0.3, 0.3], [0.0, 1.0, 0.0], [-0.1, 1.2, -0.1]]
)
def test_a_bad_ptable_is_refused_by_the_configuration(table):
    with pytest.raises(ValidationError, match="noise"):
        PrivacySettings(noise=table)


def test_noise_is_a_fixed_function_of_the_cell_key():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, KEY_MODULUS, size=10_000)
    first = NOISE.offsets(keys)
    assert (NOISE.offsets(keys.copy()) == first).all()
    assert (NOISE.offsets(keys + KEY_MODULUS) == first).all()  # only the key mod 2**31 counts
    assert set(np.unique(first).tolist()) == set(range(-NOISE.max, NOISE.max + 1))
    d = NOISE.max
    assert NOISE.offsets(np.array([0]))[0] == -d and NOISE.offsets(np.array([KEY_MODULUS - 1]))[0] == d
    # same cell (same records), same published value, whatever else changes around it
    true = rng.integers(0, 40, size=10_000)
    assert (
        perturb(true, keys, k=K, round_to=R, noise=NOISE) == perturb(true, keys, k=K, round_to=R, noise=NOISE)
    ).all()


def test_offsets_follow_the_ptable():
    keys = np.random.default_rng(2).integers(0, KEY_MODULUS, size=200_000)
    freq = np.bincount(NOISE.offsets(keys) + NOISE.max, minlength=2 * NOISE.max + 1) / len(keys)
    assert np.allclose(freq, NOISE.probabilities, atol=0.005)


def test_one_record_more_is_a_fresh_draw_not_a_step_of_one():
    """Adding a record with a random key moves the cell key to a random place: the noise
    after is independent of the noise before (P(same) = sum p², not 1), and the published
    change is not +1 (or a fixed function of it)."""
    rng = np.random.default_rng(3)
    n = 100_000
    cell = rng.integers(0, KEY_MODULUS, size=n)
    added = rng.integers(0, KEY_MODULUS, size=n)
    before, after = NOISE.offsets(cell), NOISE.offsets((cell + added) % KEY_MODULUS)
    d = NOISE.max
    joint = np.zeros((2 * d + 1, 2 * d + 1))
    np.add.at(joint, (before + d, after + d), 1)
    joint /= n
    p = np.asarray(NOISE.probabilities)
    assert np.allclose(joint, np.outer(p, p), atol=0.006)  # independent draws
    # the move of the noisy count (true + 1 + after) - (true + before) spreads over
    # 1 - 2D..1 + 2D (-5..7)
    moves = 1 + after - before
    spread = np.bincount(moves + 2 * d - 1, minlength=4 * d + 1) / n
    assert spread.max() < 0.3 and (spread > 0.01).sum() == 4 * d + 1


def test_cell_keys_are_sums_of_record_keys_mod_2_31():
    axes = [
        Axis(["b1", "b2", "w"], 2, [(2, [0, 1])]),
        Axis(["c"], 1, []),
        Axis(["m1", "m2", "q"], 2, [(2, [0, 1])]),
    ]
    leaf = np.array([[[KEY_MODULUS - 1, 5]], [[7, KEY_MODULUS - 3]]], dtype=np.int64)
    keys = cell_keys(leaf, axes)
    assert keys[2, 0, 2] == (2 * KEY_MODULUS - 1 + 5 + 7 - 3) % KEY_MODULUS == 8
    assert keys[0, 0, 2] == 4 and keys[2, 0, 0] == 6
    assert ((keys >= 0) & (keys < KEY_MODULUS)).all()


def test_never_published_below_k_and_always_rounded():
    rng = np.random.default_rng(4)
    true = rng.integers(0, 60, size=50_000)
    keys = rng.integers(0, KEY_MODULUS, size=50_000)
    out = perturb(true, keys, k=K, round_to=R, noise=NOISE)
    shown = out >= 0
    assert (true[shown] >= K).all() and (out[shown] % R == 0).all() and (out[shown] >= R).all()
    assert (true[~shown] < K + 2 * NOISE.max).all()  # hidden: count plus noise below k + D
    assert (np.abs(out[shown] - true[shown]) <= NOISE.max + R // 2).all()
    # without noise: exactly the old rule (hide below k, round)
    plain = perturb(true, keys, k=K, round_to=R, noise=NO_NOISE)
    assert (plain == np.where(true < K, -1, round_count(true, R))).all()


def test_published_bounds_hold_every_count_behind_a_value():
    rng = np.random.default_rng(5)
    true = rng.integers(0, 80, size=20_000)
    out = perturb(true, rng.integers(0, KEY_MODULUS, size=20_000), k=K, round_to=R, noise=NOISE)
    shown = out >= 0
    lo, hi = published_bounds(out[shown], K, R, NOISE.max)
    assert ((lo <= true[shown]) & (true[shown] <= hi)).all()


def test_the_hidden_to_published_step_no_longer_happens_exactly_at_k():
    """The issue's attack: a hidden cell that turns into 5 after one more record was 4.
    With noise, cells of 4 up to 10 all take the step from hidden to published (whose
    smallest value is now 10: a count plus noise of at least k + D = 8), so it names no
    count."""
    rng = np.random.default_rng(6)
    takes_the_step: set[int] = set()
    for t in range(0, 12):
        keys = rng.integers(0, KEY_MODULUS, size=5_000)
        added = rng.integers(0, KEY_MODULUS, size=5_000)
        before = perturb(np.full(5_000, t), keys, k=K, round_to=R, noise=NOISE)
        after = perturb(np.full(5_000, t + 1), keys + added, k=K, round_to=R, noise=NOISE)
        if ((before < 0) & (after >= 0)).any():
            takes_the_step.add(t)
        assert not (after == R).any()  # nothing shows 5 any more
    assert takes_the_step == {4, 5, 6, 7, 8, 9, 10}


def small_axes() -> list[Axis]:
    areas = Axis(["b1", "b2", "b3", "b4", "w1", "w2", "gm"], 4, [(4, [0, 1]), (5, [2, 3]), (6, [4, 5])])
    nodes = Axis(
        ["c1", "c2", "c3", "c4", "g1", "g2", "all", "theme"],
        4,
        [(4, [0, 1]), (5, [2, 3]), (6, [4, 5]), (7, [1, 2])],
    )
    periods = Axis(["m1", "m2", "q"], 2, [(2, [0, 1])])
    return [areas, nodes, periods]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 9), min_size=32, max_size=32), st.integers(0, 2**32 - 1))
def test_protected_cube_with_noise_passes_its_own_audit_and_keeps_the_rules(data, seed):
    """protect() with keys: cells published only with true counts >= k; every hidden
    sensitive cell keeps a range of >= protection + 1 values for both attackers (told
    or guessing which cells are primary), who know the p-table's largest offset."""
    axes = small_axes()
    leaf = np.array(data, dtype=np.int64).reshape(4, 4, 2)
    keys = np.random.default_rng(seed).integers(0, KEY_MODULUS, size=leaf.shape) * (leaf > 0)
    p = protect(leaf, axes, k=K, round_to=R, protection=2, leaf_keys=keys, noise=NOISE)
    shown = p.count >= 0
    assert (p.true[shown] >= K).all() and (p.count[shown] % R == 0).all()
    assert (
        p.count[shown] == perturb(p.true, cell_keys(keys, axes), k=K, round_to=R, noise=NOISE)[shown]
    ).all()
    sensitive = p.hidden & (p.true >= 1) & (p.true < K)
    published = np.where(p.hidden, R, p.count)
    for small in (p.primary, p.hidden):
        lb, ub = attacker_bounds(p.hidden, small, published, axes, K, R, d=NOISE.max)
        if (lb > ub).any():
            continue  # a contradiction: the attacker's premise is false
        for cell in itertools.product(*(range(len(ax.labels)) for ax in axes)):
            if sensitive[cell] and lb[cell] <= p.true[cell] <= ub[cell]:
                assert ub[cell] - lb[cell] >= 2, (cell, int(p.true[cell]), lb[cell], ub[cell], data)


def test_aliases_share_value_and_status_with_noise():
    areas = Axis(["b1", "b2", "w1", "w2", "gm"], 2, [(2, [0]), (3, [1]), (4, [2, 3])])
    nodes = Axis(["c1", "c2", "g"], 2, [(2, [0, 1])])
    periods = Axis(["m1", "m2", "q"], 2, [(2, [0, 1])])
    leaf = np.array([[[3, 9], [8, 9]], [[9, 9], [9, 29]]], dtype=np.int64)
    keys = np.random.default_rng(7).integers(0, KEY_MODULUS, size=leaf.shape)
    p = protect(leaf, [areas, nodes, periods], k=K, round_to=R, protection=2, leaf_keys=keys, noise=NOISE)
    assert (p.count[0] == p.count[2]).all() and (p.count[1] == p.count[3]).all()
