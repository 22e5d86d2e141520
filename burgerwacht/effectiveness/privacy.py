"""What an analyst may see of alert figures, and why.

Alerts are public events: everyone in the area got the message, the closing message
told them how it ended. Their counts (alerts, updates, waves, the time to close) are
shown exactly. Tips are people's messages and ``reached`` counts people: for analysts
those counts are protected, and so is every figure derived from few tips.

The rules are the signals' (:mod:`burgerwacht.signals.privacy`, :func:`perturb`), with
the same p-table (``privacy.noise``):

- **Cell key** (the method CBS uses): every record (a tip; an alert reaching a resident)
  has a fixed random key, a keyed hash of its id. A cell's key is the sum of its records'
  keys modulo :data:`~burgerwacht.signals.privacy.KEY_MODULUS`, and the cell's noise
  (−D…+D by the p-table) is a fixed function of that key. The same cell therefore always
  shows the same value (JSON, CSV and every repeat agree), while adding or removing one
  record draws new noise instead of moving the published value by exactly one: an
  analyst who sends tips of their own and watches the figure learns no exact count.
- **k + D rule**: a count is published only when count plus noise is at least
  ``privacy.k`` + D (D: the largest noise), so its true count is at least k (a true 3
  is never shown, whatever its noise); otherwise it is hidden (null, listed in
  ``suppressed``). A published count is count plus noise rounded to
  ``privacy.round_to`` (halves up, never below it).
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

import numpy as np

from burgerwacht import crypto
from burgerwacht.signals.privacy import KEY_MODULUS, Noise, perturb


def secret(secret_key: str) -> str:
    """The key that makes records' keys (derived; the configured secret never reaches SQL)."""
    return crypto.keyed_hash(secret_key, "cell-key").hex()


def publish(true: int, cell_key: int, *, k: int, round_to: int, noise: Noise) -> int | None:
    """The published value of a protected count (None when hidden): ``cell_key`` is the
    sum of its records' keys (any size; reduced modulo KEY_MODULUS), ``noise`` the
    configured p-table (:func:`burgerwacht.signals.cube.noise_of`)."""
    if true <= 0:
        return None
    value = int(
        perturb(
            np.array([true]), np.array([int(cell_key) % KEY_MODULUS]), k=k, round_to=round_to, noise=noise
        )[0]
    )
    return None if value < 0 else value
