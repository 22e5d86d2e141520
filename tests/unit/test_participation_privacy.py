"""Participation coverage without a database: the KWB parser, and the protection of
enrolment counts against an analyst who enrols phones of their own and compares."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from burgerwacht.auth.models import StaffUser
from burgerwacht.auth.scope import allows, validate_wijken, wijk_of
from burgerwacht.participation import kwb
from burgerwacht.participation.service import cell_noise, publish

K, R = 5, 5
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
    return [
        {"buurt_code": b, "bits": bits, "n": len(ks), "key_sum": sum(ks)}
        for (b, bits), ks in keys.items()
        if ks
    ]


def _keys(rnd: random.Random, counts: dict[tuple[str, int], int]) -> dict[tuple[str, int], list[int]]:
    return {cell: [rnd.getrandbits(32) for _ in range(n)] for cell, n in counts.items()}


def _published(keys, level="buurt", round_to=R):
    return {i["area_code"]: i for i in publish(ROWS, _cells(keys), "GM9999", level, k=K, round_to=round_to)}


def test_same_residents_same_figures_and_counts_stay_near_the_truth():
    rnd = random.Random(7)
    keys = _keys(rnd, {**BASE, (HIDDEN, 1): 2})
    first = _published(keys)
    assert first == _published({c: list(reversed(k)) for c, k in keys.items()})  # order does not matter
    b = first["BU99990101"]
    assert b["enrolled"] % R == 0 and abs(b["enrolled"] - 55) <= 3 * 2 + R // 2
    assert b["per_1000"] == round(1000 * b["enrolled"] / 700, 1)
    hidden = first[HIDDEN]
    assert hidden["suppressed"] and hidden["enrolled"] is None and hidden["per_1000"] is None


def test_a_wijk_minus_its_published_buurten_never_pins_a_hidden_buurt():
    """Without rounding (round_to 1) the difference would be exact: complementary
    suppression (or the rounding's slack) must leave at least 3 possible values for the
    hidden buurt's perturbed count whenever that count is not 0."""
    for seed in range(50):
        keys = _keys(random.Random(seed), {**BASE, (HIDDEN, 1): 2})
        noisy = max(0, 2 + cell_noise(sum(keys[(HIDDEN, 1)])))
        for round_to in (1, R):
            bu = _published(keys, "buurt", round_to)
            wk = _published(keys, "wijk", round_to)
            for node in ("enrolled", "sms", "voice"):
                kids = [c for c in bu if c.startswith("BU999901")]
                hidden = [c for c in kids if bu[c][node] is None]
                if wk["WK999901"][node] is None or len(hidden) != 1:
                    continue
                # the attacker's bounds from rounding: each published p is p-2..p+2
                slack = (round_to - 1) // 2
                lo = wk["WK999901"][node] - slack - sum(bu[c][node] + slack for c in kids if c not in hidden)
                hi = wk["WK999901"][node] + slack - sum(bu[c][node] - slack for c in kids if c not in hidden)
                possible = set(range(max(lo, 0), min(hi, K - 1) + 1))
                assert noisy in possible if node != "voice" else 0 in possible
                if node != "voice" and noisy > 0:
                    assert len(possible) >= 3, (seed, round_to, node, noisy, possible)


def _first_published(rnd: random.Random, x: int) -> int:
    """The attacker enrols SMS phones in the hidden buurt one by one: how many until the
    buurt's figure first appears."""
    keys = _keys(rnd, BASE)
    keys[(HIDDEN, 1)] = [rnd.getrandbits(32) for _ in range(x)]
    for m in range(1, 20):
        keys[(HIDDEN, 1)].append(rnd.getrandbits(32))
        if not _published(keys)[HIDDEN]["suppressed"]:
            return m
    raise AssertionError("never published")


def test_enrolling_phones_until_a_buurt_appears_does_not_give_its_count():
    """With a k rule on exact counts the figure appears when x + m == k, so the attacker
    reads x = k - m. Here it appears at varying totals, and every number of phones the
    attacker needed is explained by several hidden counts."""
    rnd = random.Random(2026)
    explained: dict[int, set[int]] = defaultdict(set)
    crossings: Counter[int] = Counter()
    naive_right = 0
    trials = 0
    for x in range(0, K):
        for _ in range(40):
            m = _first_published(rnd, x)
            explained[m].add(x)
            crossings[x + m] += 1
            naive_right += K - m == x
            trials += 1
    assert len(crossings) >= 3, crossings  # the figure does not appear at one fixed total
    assert naive_right < 0.5 * trials, (naive_right, trials)
    # however many phones it took (up to k), more than one hidden count explains it
    assert all(len(xs) >= 2 for m, xs in explained.items() if m <= K), dict(explained)


def test_rounding_steps_do_not_give_the_count_either():
    """A published buurt moves from 5 to 10 when its (noisy) count passes 7.5: the number
    of phones that takes varies for the same true count."""
    steps = Counter()
    for seed in range(60):
        rnd = random.Random(seed)
        keys = _keys(rnd, BASE)
        keys[(HIDDEN, 1)] = [rnd.getrandbits(32) for _ in range(6)]
        start = _published(keys)[HIDDEN]["enrolled"]
        for m in range(1, 20):
            keys[(HIDDEN, 1)].append(rnd.getrandbits(32))
            now = _published(keys)[HIDDEN]["enrolled"]
            if now != start:
                steps[m] += 1
                break
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
