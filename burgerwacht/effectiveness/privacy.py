"""What an analyst may see of alert figures, and why.

Alerts are public events: everyone in the area got the message, the closing message
told them how it ended. Their counts (alerts, updates, waves, the time to close) are
shown exactly. Tips are people's messages and ``reached`` counts people: for analysts
those counts are protected, and so is every figure derived from few tips.

- **Cell key** (the method CBS uses): every record (a tip; an alert reaching a resident)
  has a fixed random key, a keyed hash of its id. A cell's key is the sum of its records'
  keys modulo 2^32, and the cell's noise (−2…+2, mostly 0) is a fixed function of that
  key. The same cell therefore always shows the same value (JSON, CSV and every repeat
  agree), while adding or removing one record draws new noise instead of moving the
  published value by exactly one: an analyst who sends tips of their own and watches
  the figure learns no exact count.
- **k rule** on the perturbed count: below ``privacy.k`` it is hidden (null, listed in
  ``suppressed``); otherwise rounded to ``privacy.round_to`` (halves up, never below it).
- **Derived figures**: ``tips_per_1000`` is computed from the *published* tips and
  reached (computing it from exact counts would give the exact count back). The first-tip
  medians and 90th percentiles are shown only over at least k alerts with such a tip
  (each value is one person's reply time); outcome shares only over at least k closed
  alerts (a share over one or two alerts names the end of a particular incident).
- No totals are published beside the rows (no "all levels", no sum of months), and rows
  are always whole calendar months, so no hidden cell follows from a difference of two
  published figures.
"""

from __future__ import annotations

from burgerwacht import crypto

NOISE = ((0.05, -2), (0.25, -1), (0.75, 0), (0.95, 1), (1.0, 2))
KEY_SPACE = 2**32


def secret(secret_key: str) -> str:
    """The key that makes records' keys (derived; the configured secret never reaches SQL)."""
    return crypto.keyed_hash(secret_key, "cell-key").hex()


def noise(cell_key: int) -> int:
    u = (int(cell_key) % KEY_SPACE) / KEY_SPACE
    return next(n for bound, n in NOISE if u < bound)


def round_count(n: int, r: int) -> int:
    """Nearest multiple of ``r``, halves up, at least ``r`` (as the signal summaries)."""
    return max(((2 * n + r) // (2 * r)) * r, r)


def publish(true: int, cell_key: int, k: int, round_to: int) -> int | None:
    """The published value of a protected count: None when hidden."""
    if true <= 0:
        return None
    perturbed = true + noise(cell_key)
    if perturbed < k:
        return None
    return round_count(perturbed, round_to)
