"""Participation coverage without a database: the KWB parser, and the protection of
enrolment counts against an analyst who enrols phones of their own and compares. The
counts follow the signals' cell-key rules (burgerwacht/signals/privacy.py): every cell
its own noise from the configured p-table, published only at count + noise >= k + D."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from burgerwacht.auth.models import StaffUser
from burgerwacht.auth.scope import allows, validate_wijken, wijk_of
from burgerwacht.config import PrivacySettings
from burgerwacht.participation import kwb
from burgerwacht.participation.service import publish
from burgerwacht.signals.privacy import NO_NOISE, Noise, round_count

K, R = 5, 5
NOISE = Noise(tuple(PrivacySettings().noise))  # the configured default p-table
D = NOISE.max
HIDDEN = "BU99990103"


def _rows():
    rows = [{"code": "GM9999", "level": "gemeente", "name": "Demostad", "district_code": None}]
    for w in (1, 2):
        rows.append({"code": f"WK99990{w}", "level": "wijk", "name": f"Wijk {w}", "district_code": None})
        for b in (1, 2, 3):
            rows.append(
                {
                    "code": f"BU99990{w}0{b}",
                    "level": "buurt",
                    "name": f"Buurt {w}{b}",
                    "district_code": f"WK99990{w}",
                }
            )
    for r in rows:
        r.update(inhabitants=700, households=300)
    return rows


ROWS = _rows()
BASE = {("BU99990101", 1): 40, ("BU99990101", 2): 10, ("BU99990101", 3): 5, ("BU99990102", 1): 30}
BASE.update({("BU99990201", 1): 20, ("BU99990202", 1): 25, ("BU99990203", 3): 12})


def _cells(keys: dict[tuple[str, int], list[int]]):
    """Enrolment cells as the store gives them: sums of 32-bit record keys."""
    return [
        {"buurt_code": b, "bits": bits, "n": len(ks), "key_sum": sum(ks)}
        for (b, bits), ks in keys.items()
        if ks
    ]


def _keys(rnd: random.Random, counts: dict[tuple[str, int], int]) -> dict[tuple[str, int], list[int]]:
    return {cell: [rnd.getrandbits(32) for _ in range(n)] for cell, n in counts.items()}


def _published(keys, level="buurt", round_to=R, noise=NOISE):
    items = publish(ROWS, _cells(keys), "GM9999", level, k=K, round_to=round_to, noise=noise)
    return {i["area_code"]: i for i in items}


def _possible(true: int, noise: Noise = NOISE, round_to: int = R) -> set[int | None]:
    """Every value the rules can publish for a cell of ``true`` residents, whatever its
    key (None: hidden by the k + D rule)."""
    d = noise.max
    out: set[int | None] = set()
    for offset in range(-d, d + 1):
        v = true + offset
        hidden = true < K or v < K + d
        out.add(None if hidden else int(round_count(np.array([v]), round_to)[0]))
    return out


def _candidates(seen: list[int | None], noise: Noise) -> set[int]:
    """What an attacker who knows the rules (not the keys) concludes from watching a
    cell while adding one resident after each look: the starting counts x for which
    every look ``seen[j]`` can be published for x + j residents."""
    return {x for x in range(60) if all(v in _possible(x + j, noise) for j, v in enumerate(seen))}


def test_same_residents_same_figures_and_counts_stay_near_the_truth():
    rnd = random.Random(7)
    keys = _keys(rnd, {**BASE, (HIDDEN, 1): 2})
    first = _published(keys)
    assert first == _published({c: list(reversed(k)) for c, k in keys.items()})  # order does not matter
    b = first["BU99990101"]
    assert b["enrolled"] in _possible(55) and b["sms"] in _possible(45) and b["voice"] in _possible(15)
    assert b["per_1000"] == round(1000 * b["enrolled"] / 700, 1)
    hidden = first[HIDDEN]
    assert hidden["suppressed"] and hidden["enrolled"] is None and hidden["per_1000"] is None


def test_every_cell_has_its_own_noise_from_the_ptable():
    """Buurten, wijken and every channel node get noise (not only the leaves), and all
    five offsets of the p-table occur: a buurt of 40 SMS-only residents shows 40 + noise
    rounded, so over many sets of residents it shows 35, 40 and 45."""
    seen: dict[str, Counter] = {"buurt": Counter(), "wijk": Counter()}
    for seed in range(200):
        keys = _keys(random.Random(seed), {("BU99990201", 1): 38, ("BU99990202", 1): 25})
        bu, wk = _published(keys), _published(keys, "wijk")
        seen["buurt"][bu["BU99990201"]["enrolled"]] += 1
        seen["wijk"][wk["WK999902"]["enrolled"]] += 1
        assert bu["BU99990201"]["sms"] == bu["BU99990201"]["enrolled"]  # same residents, same key
    assert set(seen["buurt"]) == _possible(38) == {35, 40}, seen  # 36..40 → 35 or 40
    assert set(seen["wijk"]) == _possible(63) == {60, 65}, seen  # 61..65 → 60 or 65
    # without noise the same residents always show the rounded truth
    keys = _keys(random.Random(1), {("BU99990201", 1): 38, ("BU99990202", 1): 25})
    assert _published(keys, noise=NO_NOISE)["BU99990201"]["enrolled"] == 40


def test_a_wijk_minus_its_published_buurten_never_pins_a_hidden_buurt():
    """Without rounding (round_to 1) and without noise the difference would be exact:
    complementary suppression (or the slack of noise and rounding) must leave at least
    3 possible values for the hidden buurt's count whenever it is 1..k-1."""
    for seed in range(50):
        keys = _keys(random.Random(seed), {**BASE, (HIDDEN, 1): 2})
        true = {"enrolled": 2, "sms": 2, "voice": 0}
        for round_to in (1, R):
            bu = _published(keys, "buurt", round_to)
            wk = _published(keys, "wijk", round_to)
            for node in ("enrolled", "sms", "voice"):
                kids = [c for c in bu if c.startswith("BU999901")]
                hidden = [c for c in kids if bu[c][node] is None]
                if wk["WK999901"][node] is None or len(hidden) != 1:
                    continue
                # a published p had a noisy count p-below..p+above, the true count D more either way
                below, above = round_to // 2 + D, (round_to - 1) // 2 + D
                shown = [bu[c][node] for c in kids if c not in hidden]
                lo = wk["WK999901"][node] - below - sum(p + above for p in shown)
                hi = wk["WK999901"][node] + above - sum(p - below for p in shown)
                # a hidden cell's true count is below k + 2D (the k + D rule)
                possible = set(range(max(lo, 0), min(hi, K - 1 + 2 * D) + 1))
                assert true[node] in possible, (seed, round_to, node, possible)
                if true[node] > 0:
                    assert len(possible) >= 3, (seed, round_to, node, possible)


def _enrol_until_shown(rnd: random.Random, x: int, noise: Noise) -> list[int | None]:
    """The attacker enrols SMS phones in the hidden buurt one by one and looks after
    each: the buurt's figures up to the first that is shown."""
    keys = _keys(rnd, BASE)
    keys[(HIDDEN, 1)] = [rnd.getrandbits(32) for _ in range(x)]
    seen = [_published(keys, noise=noise)[HIDDEN]["enrolled"]]
    while seen[-1] is None and len(seen) < 25:
        keys[(HIDDEN, 1)].append(rnd.getrandbits(32))
        seen.append(_published(keys, noise=noise)[HIDDEN]["enrolled"])
    assert seen[-1] is not None, "never published"
    return seen


def test_enrolling_phones_until_a_buurt_appears_does_not_give_its_count():
    """With a k rule on exact counts the figure appears when x + m == k, so the attacker
    reads x = k - m. With the noise it appears at varying totals, and every sequence of
    looks (how many phones it took, and the value shown then) is explained by more than
    one hidden count. The same attack without noise pins every count."""
    rnd = random.Random(2026)
    crossings: Counter[int] = Counter()
    wrong = empty_pinned = 0
    for x in range(0, K):
        for _ in range(40):
            seen = _enrol_until_shown(rnd, x, NOISE)
            crossings[x + len(seen) - 1] += 1
            xs = _candidates(seen, NOISE)
            if x not in xs:  # complementary suppression hid a figure: the attacker is misled
                wrong += 1
            elif x == 0 and xs == {0}:
                # hidden even at k + 2D - 1 phones (noise -2 twice or so): "there were
                # none" (bounded noise; README "Participation coverage")
                empty_pinned += 1
            else:
                assert len(xs) >= 2, (x, seen, xs)
    assert len(crossings) >= 3, crossings  # the figure does not appear at one fixed total
    assert wrong < 20 and empty_pinned < 8, (wrong, empty_pinned)
    # the control: the same attack on the same rules without noise gives every count away
    rnd = random.Random(2026)
    for x in range(1, K):
        for _ in range(10):
            seen = _enrol_until_shown(rnd, x, NO_NOISE)
            assert len(seen) - 1 == K - x and _candidates(seen, NO_NOISE) == {x}, (x, seen)


def test_rounding_steps_do_not_give_the_count_either():
    """Without noise a published buurt moves from 5 to 10 when its count passes 7.5: the
    number of phones that takes gives the count. With it the step comes after a varying
    number of phones for the same true count, and every sequence of looks leaves more
    than one count."""
    steps: Counter[int] = Counter()
    for seed in range(60):
        rnd = random.Random(seed)
        keys = _keys(rnd, BASE)
        keys[(HIDDEN, 1)] = [rnd.getrandbits(32) for _ in range(6)]
        seen = [_published(keys)[HIDDEN]["enrolled"]]
        while len(seen) < 20 and seen[-1] == seen[0]:
            keys[(HIDDEN, 1)].append(rnd.getrandbits(32))
            seen.append(_published(keys)[HIDDEN]["enrolled"])
        steps[len(seen) - 1] += 1
        xs = _candidates(seen, NOISE)
        assert 6 not in xs or len(xs) >= 2, (seed, seen, xs)
    assert len(steps) >= 3, steps


# ------------------------------------------------------------------ KWB parser

KWB = (
    "gwb_code_10;gwb_code_8;regio;gm_naam;recs;gwb_code;ind_wbi;a_inw;a_hh\n"
    "NL00;0;Nederland;Nederland;Land;NL00;.;17942942;8145155\n"
    "GM9999;9999;Demostad;Demostad;Gemeente;GM9999;.;6560;3190\n"
    "WK999901;999901;Centrum;Demostad;Wijk;WK999901;1;2110;1210\n"
    "BU99990101;99990101;Binnenstad;Demostad;Buurt;BU99990101;1;800;500\n"
    "BU99990302;99990302;Eiland;Demostad;Buurt;BU99990302;1;35;.\n"
)


def test_kwb_parser_reads_cbs_layout():
    figures, errors = kwb.parse(KWB)
    assert not errors
    by = {f.code: f for f in figures}
    assert set(by) == {"GM9999", "WK999901", "BU99990101", "BU99990302"}  # the national row is skipped
    assert by["BU99990101"].level == "buurt" and by["BU99990101"].name == "Binnenstad"
    assert (by["BU99990101"].inhabitants, by["BU99990101"].households) == (800, 500)
    assert by["BU99990302"].households is None and by["WK999901"].municipality_code == "GM9999"


def test_kwb_parser_reads_the_older_column_names_and_commas():
    figures, errors = kwb.parse("GWB_CODE,REGIO,RECS,AANT_INW,AANT_HH\nBU99990101,Binnenstad,Buurt,800,x\n")
    assert not errors and figures[0].inhabitants == 800 and figures[0].households is None


def test_kwb_parser_names_every_bad_line():
    text = (
        "gwb_code_10;regio;recs;a_inw;a_hh\n"
        "BU99990101;Binnenstad;Buurt;800;500\n"
        "BU9999;Kapot;Buurt;10;5\n"
        "WK999901;Centrum;Buurt;10;5\n"
        "BU99990102;Station;Buurt;12,5;5\n"
        "BU99990103;Markt;Buurt;-3;5\n"
        "BU99990101;Binnenstad;Buurt;800;500\n"
        "BU99990201;Molenwijk;Buurt\n"
    )
    _, errors = kwb.parse(text)
    lines = [(e.line, e.column) for e in errors]
    assert lines == [
        (3, "gwb_code_10"),
        (4, "recs"),
        (5, "a_inw"),
        (6, "a_inw"),
        (7, "gwb_code_10"),
        (8, None),
    ]
    assert "first on line 2" in errors[4].message
    _, errors = kwb.parse("code;inwoners\nBU99990101;5\n")
    assert errors[0].line == 1 and "gwb_code_10" in errors[0].message
    assert kwb.parse("")[1][0].line == 1


# ------------------------------------------------------------------ wijk scope


def test_wijk_of_reads_cbs_codes():
    assert wijk_of("BU99990101") == "WK999901"
    assert wijk_of("wk999903") == "WK999903"
    assert wijk_of("GM9999") is None and wijk_of("BU9999") is None and wijk_of(None) is None
    agent = StaffUser(1, "agent", "wijkagent", ("GM9999",), ("WK999901",))
    assert allows(agent, "BU99990103") and allows(agent, "WK999901")
    assert not allows(agent, "BU99990301") and not allows(agent, "GM9999") and not allows(agent, "WK999902")
    analyst = StaffUser(2, "analyst", "analyst", ("GM9999",))
    assert allows(analyst, "GM9999")


def test_who_may_have_wijken():
    assert validate_wijken("wijkagent", ["GM9999"], ["WK999901", "WK999902"]) is None
    assert "at least one" in validate_wijken("wijkagent", ["GM9999"], [])
    assert "exactly one" in validate_wijken("wijkagent", ["GM9999", "GM0001"], ["WK999901"])
    assert "exactly one" in validate_wijken("wijkagent", ["*"], ["WK999901"])
    assert "not a wijk of GM9999" in validate_wijken("wijkagent", ["GM9999"], ["WK000101"])
    assert "only a wijkagent" in validate_wijken("analyst", ["GM9999"], ["WK999901"])
