"""Police figures (gebiedsscan) in the informatiepositie: the k rule, rounding and
complementary suppression of the signals in every output; periods and areas the data
cannot answer say why instead of showing 0; overlapping rows refused unless
replace=true; theme priorities per municipality with progress."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from burgerwacht.signals import scan
from burgerwacht.signals.models import InformatiepositieOut, PrioritiesOut
from tests.helpers.signals import BINNENSTAD, MARCH, insert, possible

HEADER = "area_code,theme,period_start,period_end,registered_count\n"
QUARTERS = [("01-01", "03-31"), ("04-01", "06-30"), ("07-01", "09-30"), ("10-01", "12-31")]


async def post_scan(client, headers, lines, *, replace: bool = False):
    url = "/api/v1/gebiedsscan" + ("?replace=true" if replace else "")
    return await client.post(
        url, data=HEADER + "\n".join(lines), headers={**headers, "Content-Type": "text/csv"}
    )


async def informatie(client, headers, period: str) -> dict:
    resp = await client.get(f"/api/v1/informatiepositie?municipality=GM9999&period={period}", headers=headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    InformatiepositieOut.model_validate(doc)  # the documented shape
    return doc


def by_key(doc) -> dict:
    return {(r["area_code"], r["theme"]): r for r in doc["items"]}


def assert_k_rule(doc, k: int = 5, r: int = 5) -> None:
    for item in doc["items"]:
        n = item["registered"]
        assert n is None or (n >= k and n % r == 0), item
        assert (n is None) == (item["registered_status"] != "published"), item
        if n is None:
            assert item["registered_share"] is None and item["mismatch"] == "insufficient_data", item
    for p in doc["progress"]:
        for side in (p["registrations"], p["signals"]):
            for v in (side["current"], side["baseline"]):
                assert v is None or (v >= k and v % r == 0), p


# ------------------------------------------------------------------ periods


async def test_a_month_of_quarterly_data_says_quarter_not_zero(client, staff, db):
    await insert(db, [(BINNENSTAD, "woninginbraak", MARCH, 5, 30), (BINNENSTAD, "drugs", MARCH, 4, 12)])
    headers = await staff("analyst", "GM9999")
    resp = await post_scan(
        client,
        headers,
        [
            "BU99990101,woninginbraak,2025-01-01,2025-03-31,12",
            "BU99990102,woninginbraak,2025-01-01,2025-03-31,30",
            "BU99990103,woninginbraak,2025-01-01,2025-03-31,11",
            # monthly drugs rows answer the months, and the quarter they fill
            "BU99990101,drugsoverlast,2025-01-01,2025-01-31,8",
            "BU99990101,drugsoverlast,2025-02-01,2025-02-28,9",
            "BU99990101,drugsoverlast,2025-03-01,2025-03-31,10",
            # a yearly wijk row answers the wijk and gemeente, not a buurt nor a quarter
            "WK999901,verkeer,2025-01-01,2025-12-31,40",
        ],
    )
    assert resp.status == 200, await resp.text()

    march = by_key(await informatie(client, headers, "2025-03"))
    b = march[(BINNENSTAD, "woninginbraak")]
    assert b["registered"] is None and b["registered_status"] == "coarser_period"
    assert b["granularity"] == "quarter" and not b["registered_suppressed"]
    assert (
        b["signals"] in possible(30) and b["mismatch"] == "insufficient_data"
    )  # not "possible_underreporting"
    # figures carry the signals' cell-key noise before rounding: ``possible`` names them
    assert march[(BINNENSTAD, "drugsoverlast")]["registered"] in possible(10)
    assert march[("WK999901", "verkeer")]["granularity"] == "year"

    q1 = by_key(await informatie(client, headers, "2025-Q1"))
    for area, n in [("BU99990101", 12), ("BU99990102", 30), ("BU99990103", 11)]:
        # 11 and more is always published (count plus noise of at least k + D)
        assert q1[(area, "woninginbraak")]["registered"] in possible(n) - {None}
    assert q1[(BINNENSTAD, "drugsoverlast")]["registered"] in possible(27)  # 8 + 9 + 10
    assert q1[(BINNENSTAD, "woninginbraak")]["granularity"] is None

    year = by_key(await informatie(client, headers, "2025"))
    assert year[(BINNENSTAD, "woninginbraak")]["registered_status"] == "not_delivered"
    assert year[("WK999901", "verkeer")]["registered"] in possible(40)
    assert year[("GM9999", "verkeer")]["registered"] in possible(40)
    assert year[(BINNENSTAD, "verkeer")]["registered_status"] == "coarser_area"
    assert year[(BINNENSTAD, "verkeer")]["area_granularity"] == "wijk"
    q2 = by_key(await informatie(client, headers, "2025-Q2"))
    assert q2[(BINNENSTAD, "woninginbraak")]["registered_status"] == "not_delivered"
    for doc in [march, q1, year, q2]:
        assert_k_rule({"items": list(doc.values()), "progress": []})


# ------------------------------------------------------------------ overlaps


async def test_overlapping_rows_are_refused_with_line_numbers_unless_replace(client, staff, db):
    headers = await staff("analyst", "GM9999")
    resp = await post_scan(client, headers, ["BU99990101,woninginbraak,2025-01-01,2025-03-31,12"])
    assert resp.status == 200
    resp = await post_scan(
        client,
        headers,
        [
            "BU99990101,woninginbraak,2025-03-01,2025-03-31,4",  # 2: a month inside the stored quarter
            "BU99990102,woninginbraak,2025-04-01,2025-06-30,7",  # 3: fine
            "BU99990102,woninginbraak,2025-01-01,2025-12-31,20",  # 4: overlaps line 3
            "BU99990102,woninginbraak,2025-04-01,2025-06-30,7",  # 5: duplicate of line 3
            "BU99990103,woninginbraak,2025-01-05,2025-02-04,1",  # 6: not a calendar period
            "BU99990103,woninginbraak,2025-01-01,2025-03-31,9",  # 7: fine
        ],
    )
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    errors = {e["line"]: e for e in (await resp.json())["errors"]}
    assert sorted(errors) == [2, 4, 5, 6]
    assert "stored row" in errors[2]["msg"] and "replace=true" in errors[2]["msg"]
    assert "overlaps line 3" in errors[4]["msg"]
    assert "duplicate of line 3" in errors[5]["msg"]
    assert errors[6]["column"] == "period_end" and "calendar" in errors[6]["msg"]
    assert await db.fetchval("SELECT count(*) FROM gebiedsscan") == 1

    # replace=true with a wrong line changes nothing
    months = [
        f"BU99990101,woninginbraak,2025-0{m}-01,2025-0{m}-{d},{n}" for m, d, n in ((1, 31, 3), (2, 28, 4))
    ]
    resp = await post_scan(
        client, headers, [*months, "BU99990101,woninginbraak,2025-03-01,2025-03-31,x"], replace=True
    )
    assert resp.status == 422
    assert await db.fetch("SELECT registered_count FROM gebiedsscan") == [(12,)]
    # replace=true: the quarter goes, the months come, in one step
    resp = await post_scan(
        client, headers, [*months, "BU99990101,woninginbraak,2025-03-01,2025-03-31,6"], replace=True
    )
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {
        "rows": 3,
        "inserted": 3,
        "updated": 0,
        "replaced": 1,
        "municipalities": ["GM9999"],
    }
    rows = await db.fetch("SELECT period_start, registered_count FROM gebiedsscan ORDER BY 1")
    assert [(r[0].month, r[1]) for r in rows] == [(1, 3), (2, 4), (3, 6)]
    audit = await db.fetchrow(
        "SELECT details FROM audit_log WHERE action = 'gebiedsscan.import' ORDER BY id DESC LIMIT 1"
    )
    assert audit["details"]["replace"] is True and audit["details"]["replaced"] == 1


# ------------------------------------------------------------------ the k rule


async def test_no_police_count_below_k_in_any_output(client, staff, db):
    await insert(db, [(BINNENSTAD, "woninginbraak", MARCH, 5, 12), ("BU99990102", "drugs", MARCH, 3, 7)])
    headers = await staff("analyst", "GM9999")
    lines = []
    counts = [0, 1, 2, 3, 4, 6, 7, 9, 12, 15, 21, 2]
    buurten = [f"BU999901{n:02d}" for n in (1, 2, 3)] + [f"BU999902{n:02d}" for n in (1, 2, 3)]
    for i, buurt in enumerate(buurten):
        for q, (start, end) in enumerate(QUARTERS):
            lines.append(f"{buurt},woninginbraak,2025-{start},2025-{end},{counts[(i + q) % len(counts)]}")
        lines.append(f"{buurt},drugsoverlast,2025-03-01,2025-03-31,{counts[(i * 5) % len(counts)]}")
    assert (await post_scan(client, headers, lines)).status == 200
    await client.put(
        "/api/v1/municipalities/GM9999/priorities",
        json={"items": [{"theme": "woninginbraak", "weight": 2, "target_change_pct": -10}]},
        headers=headers,
    )
    for period in ("2025-03", "2025-Q1", "2025-Q2", "2025"):
        doc = await informatie(client, headers, period)
        assert_k_rule(doc)
        resp = await client.get(
            f"/api/v1/informatiepositie?municipality=GM9999&period={period}&format=csv", headers=headers
        )
        assert resp.status == 200 and resp.content_type == "text/csv"
        table = list(csv.DictReader(io.StringIO(await resp.text())))
        assert len(table) == len(doc["items"])
        for row in table:
            assert row["registered"] == "" or (
                int(row["registered"]) >= 5 and int(row["registered"]) % 5 == 0
            )
    # the hidden small counts really are hidden (1-4 registrations in a buurt-quarter)
    q1 = by_key(await informatie(client, headers, "2025-Q1"))
    assert q1[("BU99990102", "woninginbraak")]["registered_suppressed"]  # 1 registration


# ------------------------------------------------------------------ priorities


async def test_priorities_crud_scope_and_audit(client, staff, db):
    analyst = await staff("analyst", "GM9999")
    url = "/api/v1/municipalities/GM9999/priorities"
    resp = await client.get(url, headers=analyst)
    assert resp.status == 200
    doc = await resp.json()
    assert (
        doc["items"] == []
        and doc["weights"]["woninginbraak"] == 2.0 == doc["default_weights"]["woninginbraak"]
    )
    body = {
        "items": [
            {"theme": "woninginbraak", "weight": 3.5, "target_change_pct": -10},
            {"theme": "drugsoverlast", "weight": 0, "baseline_year": 2023},
        ]
    }
    resp = await client.put(url, json=body, headers=analyst)
    assert resp.status == 200, await resp.text()
    doc = await (await client.get(url, headers=analyst)).json()
    PrioritiesOut.model_validate(doc)
    assert [(i["theme"], i["weight"], i["target_change_pct"], i["baseline_year"]) for i in doc["items"]] == [
        ("woninginbraak", 3.5, -10, None),
        ("drugsoverlast", 0, None, 2023),
    ]
    assert doc["weights"]["woninginbraak"] == 3.5 and doc["weights"]["verkeer"] == 1.0
    assert doc["updated_at"] is not None
    entry = await db.fetchrow(
        "SELECT actor, object_id, details FROM audit_log WHERE action = 'priorities.update'"
    )
    assert entry["object_id"] == "GM9999" and entry["details"]["before"] == []
    assert [i["theme"] for i in entry["details"]["after"]] == ["woninginbraak", "drugsoverlast"]

    # bad input: 422 naming the item, nothing changed
    for bad, where in [
        ({"items": [{"theme": "fietsendiefstal", "weight": 1}]}, "body.items.0.theme"),
        ({"items": [{"theme": "woninginbraak", "weight": -1}]}, "body.items.0.weight"),
        ({"items": [{"theme": "woninginbraak", "weight": 11}]}, "body.items.0.weight"),
        ({"items": [{"theme": "woninginbraak", "weight": 1, "target_change_pct": -150}]}, "body.items.0"),
        (
            {"items": [{"theme": "verkeer", "weight": 1}, {"theme": "verkeer", "weight": 2}]},
            "body.items.1.theme",
        ),
        ({"items": [{"theme": "verkeer", "weight": 1, "colour": "red"}]}, "body.items.0"),
    ]:
        resp = await client.put(url, json=bad, headers=analyst)
        assert resp.status == 422, (bad, await resp.text())
        problem = await resp.json()
        assert any(e["loc"].startswith(where) for e in problem["errors"]), (bad, problem)
    assert [i["theme"] for i in (await (await client.get(url, headers=analyst)).json())["items"]] == [
        "woninginbraak",
        "drugsoverlast",
    ]
    # scope: another municipality's analyst, a fieldworker, an unknown municipality
    other = await staff("analyst", "GM0001")
    assert (await client.get(url, headers=other)).status == 403
    assert (await client.put(url, json=body, headers=other)).status == 403
    assert (await client.get(url, headers=await staff("fieldworker", "GM9999"))).status == 403
    admin = await staff("admin", "GM9999", "GM0002")
    assert (await client.get("/api/v1/municipalities/GM0002/priorities", headers=admin)).status == 404
    assert (await client.get("/api/v1/municipalities/XX0002/priorities", headers=admin)).status == 404
    # an empty list returns to the defaults
    assert (await client.put(url, json={"items": []}, headers=admin)).status == 200
    assert (await (await client.get(url, headers=analyst)).json())["items"] == []


async def test_informatiepositie_uses_the_municipality_weights(client, staff, db):
    await insert(db, [(BINNENSTAD, "woninginbraak", MARCH, 5, 20), (BINNENSTAD, "drugs", MARCH, 4, 20)])
    headers = await staff("analyst", "GM9999")
    resp = await post_scan(
        client,
        headers,
        [
            "BU99990101,woninginbraak,2025-03-01,2025-03-31,20",
            "BU99990101,drugsoverlast,2025-03-01,2025-03-31,20",
        ],
    )
    assert resp.status == 200
    before = by_key(await informatie(client, headers, "2025-03"))
    assert before[(BINNENSTAD, "woninginbraak")]["score"] > before[(BINNENSTAD, "drugsoverlast")]["score"]
    await client.put(
        "/api/v1/municipalities/GM9999/priorities",
        json={"items": [{"theme": "woninginbraak", "weight": 0.5}, {"theme": "drugsoverlast", "weight": 4}]},
        headers=headers,
    )
    doc = await informatie(client, headers, "2025-03")
    after = by_key(doc)
    assert after[(BINNENSTAD, "woninginbraak")]["weight"] == 0.5
    assert after[(BINNENSTAD, "woninginbraak")]["score"] < after[(BINNENSTAD, "drugsoverlast")]["score"]
    assert doc["weights"]["drugsoverlast"] == 4 and doc["weights"]["verkeer"] == 1.0
    assert (doc["priorities"][0]["area_code"], doc["priorities"][0]["theme"]) in {
        (BINNENSTAD, "drugsoverlast"),
        ("WK999901", "drugsoverlast"),
    }


# ------------------------------------------------------------------ progress


@pytest.fixture
async def progress_data(client, staff, db):
    """Woninginbraak in Binnenstad per quarter: 2024 20+20+20+20, 2025 15+20+15+20;
    drugsoverlast 3 a year (below k); signals of woninginbraak 12 (2024) and 9 (2025)."""
    headers = await staff("analyst", "GM9999")
    lines = []
    for year, counts in ((2024, (20, 20, 20, 20)), (2025, (15, 20, 15, 20))):
        for (start, end), n in zip(QUARTERS, counts, strict=True):
            lines.append(f"BU99990101,woninginbraak,{year}-{start},{year}-{end},{n}")
        lines.append(f"BU99990101,drugsoverlast,{year}-01-01,{year}-12-31,3")
    assert (await post_scan(client, headers, lines)).status == 200
    await insert(
        db,
        [
            (BINNENSTAD, "woninginbraak", date(2024, 2, 10), 4, 12),
            (BINNENSTAD, "woninginbraak", date(2025, 2, 10), 4, 9),
        ],
    )
    resp = await client.put(
        "/api/v1/municipalities/GM9999/priorities",
        json={
            "items": [
                {"theme": "woninginbraak", "weight": 3, "target_change_pct": -10},
                {"theme": "drugsoverlast", "weight": 1, "target_change_pct": -5},
                {"theme": "verkeer", "weight": 1},
            ]
        },
        headers=headers,
    )
    assert resp.status == 200
    return headers


async def test_progress_of_a_past_year_against_the_year_before(client, progress_data):
    doc = await informatie(client, progress_data, "2025")
    assert_k_rule(doc)
    prog = {p["theme"]: p for p in doc["progress"]}
    assert list(prog) == ["woninginbraak", "drugsoverlast", "verkeer"]
    w = prog["woninginbraak"]
    assert w["baseline_year"] == 2024 and w["target_change_pct"] == -10 and w["weight"] == 3
    reg = w["registrations"]
    assert reg["span"] == {"from": "2025-01-01", "to": "2025-12-31"}
    assert (reg["current"], reg["baseline"], reg["change_pct"]) == (70, 80, -12.5)
    assert w["on_track"] is True
    sig = w["signals"]
    # signals carry random record keys: the published sums are among the possible values
    # (9 signals are hidden by some keys; 12 never are), and a hidden one has no change
    assert sig["current"] in possible(9) and sig["baseline"] in possible(12) - {None}
    if sig["current"] is None:
        assert sig["change_pct"] is None
    else:
        assert sig["change_pct"] == round(100 * (sig["current"] - sig["baseline"]) / sig["baseline"], 1)
    d = prog["drugsoverlast"]  # 3 a year: below k, so no progress figure at all
    assert d["registrations"]["current"] is None and d["registrations"]["reason"] == "suppressed"
    assert d["on_track"] is None
    v = prog["verkeer"]
    assert v["registrations"]["reason"] == "no_data" and v["target_change_pct"] is None


# The grain logic with exact figures: with the noise on, the year to date is the sum of
# two published quarters, each up to D + round_to/2 off (tested above for a whole year).
@pytest.mark.parametrize(
    "settings_overrides", [{"privacy": {"noise": [1.0], "min_records_to_pin": 1}}], indirect=True
)
async def test_progress_year_to_date_follows_the_data_grain(client, db, settings, progress_data):
    # as of 15 August 2025: July is the last complete month, the data is quarterly, so
    # the year to date is Q1 + Q2 against Q1 + Q2 of 2024
    doc = await scan.informatiepositie(
        db, settings, "GM9999", scan.Period(2025, "year", 1), now=date(2025, 8, 15)
    )
    w = next(p for p in doc["progress"] if p["theme"] == "woninginbraak")
    assert w["registrations"]["span"] == {"from": "2025-01-01", "to": "2025-06-30"}
    assert (w["registrations"]["current"], w["registrations"]["baseline"]) == (35, 40)
    assert w["registrations"]["change_pct"] == -12.5 and w["on_track"] is True
    assert w["signals"]["span"] == {"from": "2025-01-01", "to": "2025-07-31"}
    # in February only January is complete: no quarter yet
    doc = await scan.informatiepositie(
        db, settings, "GM9999", scan.Period(2025, "year", 1), now=date(2025, 2, 10)
    )
    w = next(p for p in doc["progress"] if p["theme"] == "woninginbraak")
    assert w["registrations"]["current"] is None and w["registrations"]["reason"] == "granularity_quarter"


# ------------------------------------------------------------------ differencing


def _round(n: int, r: int = 5) -> int:
    return max(((2 * n + r) // (2 * r)) * r, r)


async def test_replacing_rows_step_by_step_does_not_reveal_a_hidden_count(client, staff, db):
    """Someone imported 3 burglaries for Binnenstad in Q1 (hidden). An analyst replaces
    the wijk's other buurten with values they choose and watches the published wijk and
    gemeente figures: every hidden count 0..k-1 must stay consistent with what they saw."""
    headers = await staff("analyst", "GM9999")
    q1 = "2025-01-01,2025-03-31"
    secret = 3
    assert (await post_scan(client, headers, [f"BU99990101,woninginbraak,{q1},{secret}"])).status == 200
    seen: list[tuple[int, int | None]] = []
    for v in range(8, 14):
        resp = await post_scan(
            client,
            headers,
            [f"BU99990102,woninginbraak,{q1},{v}", f"BU99990103,woninginbraak,{q1},0"],
            replace=True,
        )
        assert resp.status == 200, await resp.text()
        doc = by_key(await informatie(client, headers, "2025-Q1"))
        assert doc[(BINNENSTAD, "woninginbraak")]["registered"] is None
        seen.append((v, doc[("WK999901", "woninginbraak")]["registered"]))
    # the attacker knows the rules (noise of at most D either way, then rounding) and keeps
    # every hidden count that some noise makes consistent with all they saw
    d = 2  # the default p-table's D
    candidates = {
        x
        for x in range(5)
        if all(w is None or any(w == _round(x + v + e) for e in range(-d, d + 1)) for v, w in seen)
    }
    assert len(candidates) > 1, seen
    # and the naive model (exact rounding) does not single out the secret either
    exact = {x for x in range(5) if all(w is None or w == _round(x + v) for v, w in seen)}
    assert exact != {secret}, seen
