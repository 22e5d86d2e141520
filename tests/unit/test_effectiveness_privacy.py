"""The protection of analysts' alert figures (burgerwacht/effectiveness/privacy.py): the
signals' cell-key rules with the configured p-table, fixed per cell, never a count below
k shown (the k + D rule), and one added record draws new noise instead of moving the
figure by exactly one."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from burgerwacht.config import PrivacySettings
from burgerwacht.effectiveness import privacy
from burgerwacht.signals.privacy import KEY_MODULUS, NO_NOISE, Noise, perturb

K, R = 5, 5
NOISE = Noise(tuple(PrivacySettings().noise))  # the configured default p-table
D = NOISE.max


def publish(true: int, key: int, noise: Noise = NOISE) -> int | None:
    return privacy.publish(true, key, k=K, round_to=R, noise=noise)


def test_same_cell_same_value_and_never_a_count_below_k():
    rng = random.Random(7)
    for _ in range(5000):
        true, key = rng.randrange(0, 60), rng.randrange(0, 2**40)
        value = publish(true, key)
        assert value == publish(true, key)
        if value is not None:
            assert true >= K and value >= K and value % R == 0 and abs(value - true) <= D + R // 2
    # nothing means nothing; and below k is hidden whatever the key (a true 3 is never a 5)
    assert all(publish(n, key) is None for n in range(K) for key in range(0, 2**32, 2**22))
    # k itself is shown only with the largest noise (k + D)
    shown = [key for key in range(0, 2**32, 2**20) if publish(K, key) is not None]
    assert abs(len(shown) / 2**12 - NOISE.probabilities[-1]) < 0.03  # p(+D), 0.1 by default


def test_the_signals_noise_and_rule():
    """The same value as the signals' perturb() for the same count and key (reduced to
    KEY_MODULUS), for the default table and a wider one."""
    rng = random.Random(3)
    wide = Noise((0.1, 0.1, 0.2, 0.2, 0.2, 0.1, 0.1))
    for noise in (NOISE, wide, NO_NOISE):
        for _ in range(2000):
            true, key = rng.randrange(1, 40), rng.randrange(0, 2**45)
            expected = perturb(np.array([true]), np.array([key % KEY_MODULUS]), k=K, round_to=R, noise=noise)
            assert publish(true, key, noise) == (None if expected[0] < 0 else int(expected[0]))
    # every offset occurs as often as the p-table says (seen unrounded: round_to 1)
    drawn = Counter(
        privacy.publish(20, rng.randrange(0, 2**32), k=K, round_to=1, noise=NOISE) - 20 for _ in range(20000)
    )
    assert set(drawn) == set(range(-D, D + 1))
    for offset, p in zip(range(-D, D + 1), NOISE.probabilities, strict=True):
        assert abs(drawn[offset] / 20000 - p) < 0.02, (offset, drawn)


def test_adding_one_record_does_not_reveal_the_count():
    """An analyst who adds tips one at a time and watches the published figure: the step
    from hidden to shown happens at different true counts for different cells, so it
    pins no count. Without noise it always happens at k."""
    rng = random.Random(11)
    for noise, spread in ((NOISE, 4), (NO_NOISE, 1)):
        first_shown: Counter[int] = Counter()
        for _ in range(2000):
            keys = [rng.randrange(0, 2**32) for _ in range(3)]  # a hidden cell of 3 tips
            n = 3
            while publish(n, sum(keys), noise) is None:
                keys.append(rng.randrange(0, 2**32))  # the analyst's own tip
                n += 1
            first_shown[n] += 1
        assert len(first_shown) >= spread, first_shown
        if noise is NOISE:  # shown first at 5, 6, 7, 8 or 9 true tips: no single answer
            assert min(first_shown) == K and max(first_shown.values()) < 0.5 * 2000, first_shown
        else:
            assert first_shown == {K: 2000}


def test_record_keys_are_secret():
    assert privacy.secret("a-secret-key-of-16+") != privacy.secret("another-secret-key-16")
