"""The protection of analysts' alert figures (burgerwacht/effectiveness/privacy.py):
fixed per cell, never a published count below k, and one added record draws new noise
instead of moving the figure by exactly one."""

from __future__ import annotations

import random
from collections import Counter

from burgerwacht.effectiveness import privacy

K, R = 5, 5


def test_same_cell_same_value_and_never_below_k():
    rng = random.Random(7)
    for _ in range(5000):
        true, key = rng.randrange(0, 60), rng.randrange(0, 2**40)
        value = privacy.publish(true, key, K, R)
        assert value == privacy.publish(true, key, K, R)
        if value is not None:
            assert value >= K and value % R == 0 and abs(value - true) <= 2 + R // 2
    # nothing means nothing: zero is hidden whatever the key
    assert all(privacy.publish(0, key, K, R) is None for key in range(0, 2**32, 2**24))
    # 1 and 2 are always hidden (noise is at most +2)
    assert all(privacy.publish(n, key, K, R) is None for n in (1, 2) for key in range(0, 2**32, 2**24))


def test_noise_follows_the_table():
    rng = random.Random(3)
    drawn = Counter(privacy.noise(rng.randrange(0, 2**32)) for _ in range(20000))
    assert set(drawn) == {-2, -1, 0, 1, 2}
    assert 0.45 < drawn[0] / 20000 < 0.55 and 0.03 < drawn[-2] / 20000 < 0.07


def test_adding_one_record_does_not_reveal_the_count():
    """An analyst who adds tips one at a time and watches the published figure: the step
    from hidden to shown (or from one multiple of 5 to the next) happens at different
    true counts for different cells, so it pins no count."""
    rng = random.Random(11)
    first_shown: Counter[int] = Counter()
    for _ in range(2000):
        keys = [rng.randrange(0, 2**32) for _ in range(3)]  # a hidden cell of 3 tips
        n = 3
        while privacy.publish(n, sum(keys), K, R) is None:
            keys.append(rng.randrange(0, 2**32))  # the analyst's own tip
            n += 1
        first_shown[n] += 1
    # the figure appears at 3, 4, 5, 6 or 7 true tips: no single answer
    assert len(first_shown) >= 4 and max(first_shown.values()) < 0.75 * 2000


def test_rounding_as_the_signal_summaries():
    assert [privacy.round_count(n, 5) for n in (1, 2, 3, 5, 7, 8, 12, 13)] == [5, 5, 5, 5, 5, 10, 10, 15]
    assert privacy.secret("a-secret-key-of-16+") != privacy.secret("another-secret-key-16")
