"""Alert effectiveness (GET /api/v1/alerts/stats) and the joint picture (GET /api/v1/picture)
against a scripted scenario: real sends to residents at the simulator, tips through the
signed SMS webhook, then each alert's send, close and tips put at known times."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.helpers.alerting import address, alert_body, create, create_and_send, enrol, settled
from tests.helpers.effectiveness import place_alert, place_tip, tip_id
from tests.helpers.signals import possible

AMS = ZoneInfo("Europe/Amsterdam")
MARCH = datetime(2026, 3, 10, 10, 0, tzinfo=AMS)
# 00:30 on 1 April in Amsterdam is still 31 March in UTC: the month is the local one
APRIL = datetime(2026, 4, 1, 0, 30, tzinfo=AMS)
MAY = datetime(2026, 5, 5, 12, 0, tzinfo=AMS)
R = ["+31611110001", "+31611110002", "+31611110003", "+31611110004"]
BUURT = "BU99990101"
STATS = "/api/v1/alerts/stats"


@pytest.fixture
def service_roles():
    return {"web", "worker"}


@pytest.fixture
def settings_overrides():
    return {"alerts": {"regular_per_resident_per_day": 20}}


@pytest.fixture
async def residents(db):
    rows = await db.fetch("SELECT id FROM addresses WHERE buurt_code = $1 ORDER BY id LIMIT 4", BUURT)
    for phone, row in zip(R, rows, strict=True):
        await enrol(db, phone, row["id"])
    return R


async def _send(client, op, codes=(BUURT,), **kw) -> int:
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": list(codes)}, **kw))
    await settled(client, op, alert["id"])
    return alert["id"]


async def _tips(sandbox, db, alert_id: int, *phones: str) -> list[int]:
    ids = []
    for phone in phones:
        result = await sandbox.sms(phone, "Ik zie de man bij de kerk")
        assert "doorgegeven" in result["reply"], result
        ids.append(await tip_id(db, alert_id, phone))
    return ids


async def _close(client, op, alert_id: int, outcome: str | None) -> None:
    body = {"message": "Afgelopen, dank u wel."} | ({"outcome": outcome} if outcome else {})
    resp = await client.post(f"/api/v1/alerts/{alert_id}/close", json=body, headers=op)
    assert resp.status == 202, await resp.text()


async def _useful(client, op, tid: int) -> None:
    resp = await client.patch(f"/api/v1/tips/{tid}", json={"led_to_outcome": True}, headers=op)
    assert resp.status == 200, await resp.text()


@pytest.fixture
async def scenario(client, sandbox, db, op, residents):
    """Four regular alerts in March, one missing-child alert on 1 April (local), one in May
    and one draft; every alert reaches the same four residents."""
    a = await _send(client, op)
    a_tips = await _tips(sandbox, db, a, R[0], R[1], R[2])
    await _useful(client, op, a_tips[1])
    await _useful(client, op, a_tips[2])
    await _close(client, op, a, "arrested")
    b = await _send(client, op)
    (b_tip,) = await _tips(sandbox, db, b, R[0])
    await _useful(client, op, b_tip)
    await _close(client, op, b, "found_safe")
    c = await _send(client, op)
    await _close(client, op, c, None)  # the old body: outcome other
    e = await _send(client, op)
    (e_tip,) = await _tips(sandbox, db, e, R[3])
    resp = await client.post(f"/api/v1/alerts/{e}/cancel", headers=op)
    assert resp.status == 200, await resp.text()
    d = await _send(client, op, level="missing_child", family_consent=True, title="Vermist kind")
    d_tips = await _tips(sandbox, db, d, R[3], R[0])
    await _useful(client, op, d_tips[0])
    await _close(client, op, d, "found_safe")
    g = await _send(client, op)
    await _close(client, op, g, "false_alarm")
    await create(client, op, alert_body({"type": "areas", "codes": [BUURT]}))  # a draft: never counted

    for alert_id, sent, close in ((a, MARCH, 60), (b, MARCH, 45), (c, MARCH, 30), (e, MARCH, None)):
        await place_alert(db, alert_id, sent, close)
    await place_alert(db, d, APRIL, 20)
    await place_alert(db, g, MAY, 5)
    for tid, minutes in zip(a_tips, (3, 10, 30), strict=True):
        await place_tip(db, tid, MARCH, minutes)
    await place_tip(db, b_tip, MARCH, 5)
    await place_tip(db, e_tip, MARCH, 20)
    await place_tip(db, d_tips[0], APRIL, 2)
    await place_tip(db, d_tips[1], APRIL, 7)
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "g": g}


def _outcomes(**shares: float) -> dict[str, float]:
    return {
        o: shares.get(o, 0.0)
        for o in ("found_safe", "found_other", "arrested", "not_found", "false_alarm", "other")
    }


EXPECTED = [
    {
        "level": "regular",
        "month": "2026-03",
        "alerts": 4,
        "closed": 3,
        "reached": 16,
        "updates": 0,
        "waves": 0,
        "tips": 5,
        "tips_per_1000": 312.5,
        # first tips per alert 3, 5, 20 (c has none): median 5, p90 at rank 1.8 = 5 + 0.8 * 15
        "first_tip_minutes_median": 5.0,
        "first_tip_minutes_p90": 17.0,
        # first useful tips 10 (a; its useful one at 30 is later) and 5 (b)
        "first_useful_tip_minutes_median": 7.5,
        "first_useful_tip_minutes_p90": 9.5,
        "outcomes": _outcomes(arrested=0.3333, found_safe=0.3333, other=0.3333),
        "close_minutes_median": 45.0,
        "suppressed": [],
    },
    {
        "level": "missing_child",
        "month": "2026-04",
        "alerts": 1,
        "closed": 1,
        "reached": 4,
        "updates": 0,
        "waves": 0,
        "tips": 2,
        "tips_per_1000": 500.0,
        "first_tip_minutes_median": 2.0,
        "first_tip_minutes_p90": 2.0,
        "first_useful_tip_minutes_median": 2.0,
        "first_useful_tip_minutes_p90": 2.0,
        "outcomes": _outcomes(found_safe=1.0),
        "close_minutes_median": 20.0,
        "suppressed": [],
    },
]


async def test_operator_gets_the_scripted_figures_exactly(client, op, scenario):
    # 15 March to 15 April: whole months are reported, so all of March and April; May is not
    resp = await client.get(
        STATS, params={"municipality": "GM9999", "from": "2026-03-15", "to": "2026-04-15"}, headers=op
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["from"] == "2026-03-01" and body["to"] == "2026-04-30" and body["protected"] is False
    assert body["items"] == EXPECTED
    # a level filter gives that level's rows only
    resp = await client.get(
        STATS,
        params={"municipality": "GM9999", "from": "2026-01-01", "to": "2026-12-31", "level": "missing_child"},
        headers=op,
    )
    assert (await resp.json())["items"] == EXPECTED[1:]


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _as_csv(item: dict) -> dict[str, str]:
    flat = {k: v for k, v in item.items() if k not in ("outcomes", "suppressed")}
    flat |= {f"outcome_{o}": (item["outcomes"] or {}).get(o) for o in _outcomes()}
    flat["suppressed"] = ";".join(item["suppressed"])
    return {k: "" if v is None else str(v) for k, v in flat.items()}


@pytest.mark.parametrize("role", ["operator", "analyst"])
async def test_csv_holds_the_same_rows_as_json(client, staff, scenario, role):
    headers = await staff(role, "GM9999")
    params = {"municipality": "GM9999", "from": "2026-01-01", "to": "2026-12-31"}
    doc = await (await client.get(STATS, params=params, headers=headers)).json()
    resp = await client.get(STATS, params=params, headers={**headers, "Accept": "text/csv"})
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = _csv_rows(await resp.text())
    assert rows == [_as_csv(item) for item in doc["items"]] and len(rows) == 3
    # ?format=csv is the same as the Accept header
    again = await client.get(STATS, params={**params, "format": "csv"}, headers=headers)
    assert _csv_rows(await again.text()) == rows


async def test_analyst_sees_protected_aggregates(client, staff, scenario):
    analyst = await staff("analyst", "GM9999")
    params = {"municipality": "GM9999", "from": "2026-03-01", "to": "2026-04-30"}
    body = await (await client.get(STATS, params=params, headers=analyst)).json()
    assert body["protected"] is True
    march, april = body["items"]
    # alerts are public events: exact; so are the operators' close times
    assert (march["alerts"], march["closed"], march["close_minutes_median"]) == (4, 3, 45.0)
    # reached 16 and tips 5 get the signals' cell-key noise (-2..+2, fixed per cell), are
    # shown only when count plus noise reaches k + 2 and then rounded to 5
    assert march["reached"] in possible(16) - {None}  # 15 or 20
    assert march["tips"] in possible(5) and (march["tips"] is None) == ("tips" in march["suppressed"])
    if march["tips"] is None:
        assert march["tips_per_1000"] is None
    else:  # from the published figures, so it gives no exact count back
        assert march["tips_per_1000"] == round(1000 * march["tips"] / march["reached"], 1)
    # three alerts with a tip, three closed: fewer than k, so no medians and no outcome shares
    for field in (
        "first_tip_minutes_median",
        "first_tip_minutes_p90",
        "first_useful_tip_minutes_median",
        "outcomes",
    ):
        assert march[field] is None and field in march["suppressed"]
    assert april["tips"] is None and april["outcomes"] is None  # 2 tips, 1 closed alert
    # 4 residents reached: below k, so hidden whatever its noise (never shown as 5)
    assert possible(4) == {None} and april["reached"] is None and "reached" in april["suppressed"]
    # the same request gives the same published figures every time
    again = await (await client.get(STATS, params=params, headers=analyst)).json()
    assert again == body


async def test_scope_roles_and_bad_dates(client, staff, op):
    params = {"municipality": "GM9999", "from": "2026-01-01", "to": "2026-03-31"}
    other = await staff("operator", "GM0001")
    resp = await client.get(STATS, params=params, headers=other)
    assert resp.status == 403 and (await resp.json())["detail"].endswith("GM9999")
    fieldworker = await staff("fieldworker", "GM9999")
    assert (await client.get(STATS, params=params, headers=fieldworker)).status == 403
    assert (await client.get(STATS, params=params)).status == 401
    for bad in (
        {"from": "2026-04-01", "to": "2026-03-31"},  # from after to
        {"from": "2024-01-01", "to": "2026-01-01"},  # 25 months
        {"from": "2026-02-30", "to": "2026-03-31"},
        {"from": "2026-01-01"},
        {"from": "2026-01-01", "to": "2026-03-31", "level": "urgent"},
    ):
        resp = await client.get(STATS, params={"municipality": "GM9999", **bad}, headers=op)
        assert resp.status == 422, (bad, await resp.text())
        assert resp.content_type == "application/problem+json"
    resp = await client.get(STATS, params={**params, "municipality": "9999"}, headers=op)
    assert resp.status == 422
    # 24 whole months is the longest range; an empty range is an empty list
    resp = await client.get(STATS, params={**params, "from": "2024-01-31", "to": "2025-12-01"}, headers=op)
    assert resp.status == 200 and (await resp.json())["items"] == []


async def test_updates_and_waves_are_counted_per_row(client, op, db, residents):
    """Follow-ups and waves made through the API count in the month the alert was sent."""
    aid = await _send(client, op)
    for text in ("Vervolg: de man draagt nu een rode jas.", "Vervolg: gezien richting het station."):
        resp = await client.post(f"/api/v1/alerts/{aid}/updates", json={"message": text}, headers=op)
        assert resp.status == 202, await resp.text()
    home = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990102' ORDER BY id LIMIT 1")
    await enrol(db, "+31611110009", home)
    resp = await client.post(
        f"/api/v1/alerts/{aid}/widen", json={"target": {"type": "areas", "codes": ["BU99990102"]}}, headers=op
    )
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["added"] >= 1
    await settled(client, op, aid)
    await place_alert(db, aid, MARCH)
    params = {"municipality": "GM9999", "from": "2026-03-01", "to": "2026-03-31"}
    (march,) = (await (await client.get(STATS, params=params, headers=op)).json())["items"]
    assert (march["alerts"], march["updates"], march["waves"]) == (1, 2, 1)


# ------------------------------------------------------------------ the joint picture


async def test_picture_alerts_per_buurt_and_protected_tips(client, sandbox, db, op, staff, residents):
    two = await _send(client, op, codes=(BUURT, "BU99990102"))
    (tid,) = await _tips(sandbox, db, two, R[0])
    await _close(client, op, two, "not_found")
    home = await address(db, "9991AA", 75)
    circle = {"type": "circle", "center": {"lat": home["lat"], "lon": home["lon"]}, "radius_m": 400}
    round_one = await create_and_send(client, op, alert_body(circle, title="Inbraak"))
    await settled(client, op, round_one["id"])
    old = await _send(client, op, codes=("BU99990301",))
    await place_alert(db, two, datetime(2026, 2, 3, 9, 0, tzinfo=AMS), 15)
    await place_tip(db, tid, datetime(2026, 2, 3, 9, 0, tzinfo=AMS), 4)
    await place_alert(db, round_one["id"], datetime(2026, 6, 1, 9, 0, tzinfo=AMS))
    await place_alert(db, old, datetime(2025, 12, 31, 22, 0, tzinfo=AMS))  # the year before

    analyst = await staff("analyst", "GM9999")
    resp = await client.get(
        "/api/v1/picture", params={"municipality": "GM9999", "year": 2026}, headers=analyst
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    touched = {
        r["buurt_code"]
        for r in await db.fetch(
            "SELECT DISTINCT buurt_code FROM addresses WHERE location <@ circle(point($1, $2), 400)",
            home["x"],
            home["y"],
        )
    }
    expected = sorted(
        [(b, "2026-02", "regular", 1) for b in (BUURT, "BU99990102")]
        + [(b, "2026-06", "regular", 1) for b in touched]
    )
    got = [(r["area_code"], r["month"], r["level"], r["alerts"]) for r in body["alerts"]]
    assert sorted(got) == expected
    buurten = {b["area_code"]: b for b in body["buurten"]}
    assert len(buurten) == 12 and buurten["BU99990301"]["alerts"] == 0  # 2025's alert is not in 2026
    first = buurten[BUURT]
    assert first["alerts"] == 1 + (BUURT in touched) and first["closed"] == 1
    # one tip and one closed alert: below k, hidden and said so
    assert first["tips"] is None and first["outcomes"] is None
    assert first["suppressed"] == ["tips", "outcomes"]
    assert buurten["BU99990102"]["suppressed"] == ["tips", "outcomes"]
    untouched = [b for b in body["buurten"] if b["alerts"] == 0]
    assert untouched and all(b["tips"] is None and b["suppressed"] == [] for b in untouched)
    # operators read it too (the same protected figures); another municipality's may not
    assert (
        await (
            await client.get("/api/v1/picture", params={"municipality": "GM9999", "year": 2026}, headers=op)
        ).json()
    ) == body
    other = await staff("analyst", "GM0001")
    resp = await client.get("/api/v1/picture", params={"municipality": "GM9999", "year": 2026}, headers=other)
    assert resp.status == 403
    resp = await client.get(
        "/api/v1/picture", params={"municipality": "GM9999", "year": 1999}, headers=analyst
    )
    assert resp.status == 422


async def test_exercise_alerts_are_left_out(client, op, db, scenario):
    # an exercise (alerts.mode, sql/0022) is in no figure
    await db.execute("UPDATE alerts SET mode = 'exercise' WHERE id = $1", scenario["c"])
    params = {"municipality": "GM9999", "from": "2026-03-01", "to": "2026-03-31"}
    (march,) = (await (await client.get(STATS, params=params, headers=op)).json())["items"]
    assert (march["alerts"], march["closed"], march["reached"]) == (3, 2, 12)
    assert march["close_minutes_median"] == 52.5
    assert march["outcomes"] == _outcomes(arrested=0.5, found_safe=0.5)
