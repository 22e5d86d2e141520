"""Buurt bulletins: a short non-urgent SMS to the opted-in residents of a buurt or wijk,
through the alerts' dispatch queue and the simulator: exactly the right residents,
never in their quiet hours, at most bulletins.max_per_month a month, bad input refused
with nothing written."""

from __future__ import annotations

import asyncio

import pytest

from burgerwacht.residents import service as residents
from tests.helpers.alerting import enrol, numbers, quiet_window_now, wait_until
from tests.helpers.council import opt_in_bulletins

BUURT = "BU99990101"  # Binnenstad, in wijk WK999901 (Centrum)
NEIGHBOUR = "BU99990102"  # Stationsbuurt, same wijk
ELSEWHERE = "BU99990301"  # Havenkom, another wijk
URL = "/api/v1/bulletins"
MESSAGE = "Uw meldingen over zwerfafval bij de speeltuin: de gemeente plaatst extra bakken."


@pytest.fixture
def service_roles():
    return {"web", "worker"}


def phone(i: int) -> str:
    return f"+316180{i:05d}"


async def _addresses(db, buurt: str, n: int) -> list[int]:
    rows = await db.fetch("SELECT id FROM addresses WHERE buurt_code = $1 ORDER BY id LIMIT $2", buurt, n)
    assert len(rows) == n
    return [r[0] for r in rows]


async def _resident(db, i: int, address_id: int, *, opted_in: bool = True, **kw) -> str:
    rid = await enrol(db, phone(i), address_id, **kw)
    if opted_in:
        await opt_in_bulletins(db, rid)
    return phone(i)


async def _outbound_settles(sandbox, n: int) -> list[dict]:
    async def enough():
        out = await sandbox.outbound()
        return out if len(out) >= n else None

    await wait_until(enough, timeout=15)
    await asyncio.sleep(0.5)  # and nothing else follows
    return await sandbox.outbound()


async def test_bulletin_reaches_exactly_the_opted_in_residents_of_the_area(client, sandbox, db, staff):
    here = await _addresses(db, BUURT, 9)
    wanted = [await _resident(db, i, here[i]) for i in range(6)]
    await _resident(db, 6, here[6], opted_in=False)  # never opted in
    await _resident(db, 7, here[7], status="stopped")  # opted in, then STOP
    await _resident(db, 8, here[8], channels=("voice",))  # voice only: no SMS address here
    neighbours = [await _resident(db, 10 + i, a) for i, a in enumerate(await _addresses(db, NEIGHBOUR, 3))]
    await _resident(db, 20, (await _addresses(db, ELSEWHERE, 1))[0])
    fieldworker = await staff("fieldworker", "GM9999")

    resp = await client.post(URL, json={"area_code": BUURT, "message": MESSAGE}, headers=fieldworker)
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert body["recipients"] == 5  # 6, rounded: staff see no exact small counts
    assert body["area_level"] == "buurt" and body["area_name"] == "Binnenstad"
    assert body["sms"]["segments"] <= 2
    out = await _outbound_settles(sandbox, 6)
    assert numbers(out) == sorted(wanted)
    assert all(m["body"].startswith("Burgerwacht buurtbericht: Uw meldingen") for m in out)
    assert all("BERICHTEN UIT" in m["body"] for m in out)
    states = await db.fetch("SELECT state FROM deliveries WHERE kind = 'bulletin'")
    assert len(states) == 6 and {r["state"] for r in states} <= {"sent", "delivered"}
    # a resident's access export lists what they were sent
    doc = await residents.export(db, wanted[0])
    assert doc["bulletins"]["opted_in"] is True
    assert [(b["area_code"], b["message"]) for b in doc["bulletins"]["received"]] == [(BUURT, MESSAGE)]

    # a wijk reaches its buurten's opted-in residents (the second bulletin this month)
    await sandbox.client.post("/sandbox/reset")
    analyst = await staff("analyst", "GM9999")
    resp = await client.post(
        URL, json={"area_code": "WK999901", "message": "Tweede bericht."}, headers=analyst
    )
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["recipients"] == 10  # 9
    assert numbers(await _outbound_settles(sandbox, 9)) == sorted(wanted + neighbours)

    # no alert is made of it: alert lists and tip linking never see a bulletin
    op = await staff("operator", "GM9999")
    assert (await (await client.get("/api/v1/alerts", headers=op)).json())["items"] == []
    assert await db.fetchval("SELECT count(*) FROM alerts") == 0
    listed = (await (await client.get(URL, headers=analyst)).json())["items"]
    assert [b["area_code"] for b in listed] == ["WK999901", BUURT]
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'bulletin.send'") == 2


async def test_residents_opt_in_and_out_by_sms_keyword(client, sandbox, db, staff):
    """BERICHTEN AAN (or MESSAGES ON) opts a resident in, BERICHTEN UIT out: the
    bulletins follow what they texted, not a flag set behind their back."""
    here = await _addresses(db, BUURT, 2)
    dutch = await _resident(db, 1, here[0], opted_in=False)
    english = await _resident(db, 2, here[1], opted_in=False)  # texts in English, reads Dutch
    assert "BERICHTEN UIT" in (await sandbox.sms(dutch, "berichten aan"))["reply"]
    # the English keyword works for everyone; the reply is in the resident's language
    assert "BERICHTEN UIT" in (await sandbox.sms(english, "MESSAGES ON"))["reply"]
    analyst = await staff("analyst", "GM9999")
    resp = await client.post(URL, json={"area_code": BUURT, "message": MESSAGE}, headers=analyst)
    assert resp.status == 202, await resp.text()
    assert numbers(await _outbound_settles(sandbox, 2)) == sorted([dutch, english])

    await sandbox.client.post("/sandbox/reset")
    assert "BERICHTEN AAN" in (await sandbox.sms(dutch, "BERICHTEN UIT"))["reply"]
    resp = await client.post(URL, json={"area_code": BUURT, "message": "Tweede bericht."}, headers=analyst)
    assert resp.status == 202, await resp.text()
    assert numbers(await _outbound_settles(sandbox, 1)) == [english]


async def test_quiet_hours_defer_a_bulletin_until_they_end(client, sandbox, db, staff):
    here = await _addresses(db, BUURT, 2)
    awake = await _resident(db, 1, here[0])
    asleep = await _resident(db, 2, here[1], quiet=quiet_window_now(2))
    analyst = await staff("analyst", "GM9999")
    resp = await client.post(URL, json={"area_code": BUURT, "message": MESSAGE}, headers=analyst)
    assert resp.status == 202
    body = await resp.json()
    assert body["recipients"] is None and body["suppressed"]  # 2 residents: below k
    assert numbers(await _outbound_settles(sandbox, 1)) == [awake]
    row = await db.fetchrow(
        "SELECT d.state, d.reason, d.not_before > now() + interval '100 minutes' AS later, d.expires_at > d.not_before "
        "AS lives FROM deliveries d JOIN residents r ON r.id = d.resident_id WHERE r.phone = $1",
        asleep,
    )
    assert row["state"] == "queued" and row["reason"] == "quiet_hours" and row["later"] and row["lives"]
    # once the quiet hours are over it goes out
    await db.execute("UPDATE deliveries SET not_before = now() WHERE state = 'queued'")
    assert numbers(await _outbound_settles(sandbox, 2)) == sorted([awake, asleep])


async def test_monthly_cap_skips_and_counts_residents_over_it(client, sandbox, db, staff):
    here = await _addresses(db, BUURT, 6)
    residents = [await _resident(db, i, a) for i, a in enumerate(here)]
    # last month's bulletins do not count
    rid = await db.fetchval("SELECT id FROM residents WHERE phone = $1", residents[0])
    await db.execute(
        "INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, created_at, "
        "                        alert_month) "
        "SELECT -999, $1, 'sms', 'bulletin', 'bulletin', 'delivered', now(), now() - interval '40 days', "
        "       date_trunc('month', now() AT TIME ZONE 'UTC')::date",
        rid,
    )
    fieldworker = await staff("fieldworker", "GM9999")
    for n in range(3):
        resp = await client.post(
            URL, json={"area_code": BUURT, "message": f"Bericht {n + 1}."}, headers=fieldworker
        )
        assert resp.status == 202
        body = await resp.json()
    assert body["recipients"] is None and body["over_cap"] == 5  # all 6 over the cap of 2
    out = await _outbound_settles(sandbox, 12)
    assert len(out) == 12 and sorted(numbers(out)) == sorted(residents * 2)
    assert not [m for m in out if "Bericht 3." in m["body"]]
    skipped = await db.fetch("SELECT state, reason FROM deliveries WHERE alert_id = -$1::bigint", body["id"])
    assert [tuple(r) for r in skipped] == [("skipped", "monthly_cap")] * 6
    assert await db.fetchval("SELECT over_cap FROM bulletins WHERE id = $1", body["id"]) == 6


@pytest.mark.parametrize(
    ("role", "scope", "payload", "status", "slug"),
    [
        ("fieldworker", "GM9999", {"area_code": "BU00000000", "message": "x"}, 422, "unknown-area"),
        ("fieldworker", "GM9999", {"area_code": "GM9999", "message": "x"}, 422, None),
        ("fieldworker", "GM9999", {"area_code": "BU9999", "message": "x"}, 422, None),
        ("fieldworker", "GM9999", {"area_code": BUURT, "message": "   "}, 422, None),
        ("fieldworker", "GM9999", {"area_code": BUURT, "message": ""}, 422, None),
        ("fieldworker", "GM9999", {"area_code": BUURT, "message": "a" * 301}, 422, None),
        ("fieldworker", "GM9999", {"area_code": BUURT, "message": "ë" * 120}, 422, "message-too-long"),
        ("fieldworker", "GM9999", {"area_code": BUURT, "message": "a" * 290}, 422, "message-too-long"),
        ("fieldworker", "GM9999", {"area_code": BUURT, "message": "x\u0007"}, 422, None),
        ("fieldworker", "GM9999", {"area_code": BUURT}, 422, None),
        ("fieldworker", "GM9999", {"area_code": BUURT, "message": "x", "extra": 1}, 422, None),
        ("fieldworker", "GM0001", {"area_code": BUURT, "message": "x"}, 403, None),
        ("analyst", "GM0001", {"area_code": "WK999901", "message": "x"}, 403, None),
        ("operator", "GM9999", {"area_code": BUURT, "message": "x"}, 403, None),
    ],
)
async def test_bad_requests_are_refused_and_nothing_is_written(
    client, db, staff, role, scope, payload, status, slug
):
    await _resident(db, 1, (await _addresses(db, BUURT, 1))[0])
    resp = await client.post(URL, json=payload, headers=await staff(role, scope))
    assert resp.status == status, await resp.text()
    problem = await resp.json()
    assert resp.content_type == "application/problem+json"
    if slug:
        assert problem["type"].endswith(slug), problem
    assert await db.fetchval("SELECT count(*) FROM bulletins") == 0
    assert await db.fetchval("SELECT count(*) FROM deliveries") == 0


async def test_phone_numbers_are_masked_and_lists_are_scoped(client, sandbox, db, staff):
    await _resident(db, 1, (await _addresses(db, BUURT, 1))[0])
    analyst = await staff("analyst", "GM9999")
    resp = await client.post(
        URL, json={"area_code": BUURT, "message": "Vragen? Bel Jan op 06-12345678."}, headers=analyst
    )
    assert resp.status == 202
    body = await resp.json()
    assert "12345678" not in body["message"]
    assert "12345678" not in await db.fetchval("SELECT message FROM bulletins")
    out = await _outbound_settles(sandbox, 1)
    assert "12345678" not in out[0]["body"]
    other = await staff("analyst", "GM0001")
    assert (await (await client.get(URL, headers=other)).json())["items"] == []
    resp = await client.get(URL, params={"municipality": "GM9999"}, headers=other)
    assert resp.status == 403
    assert (await client.get(URL)).status == 401


@pytest.mark.parametrize("settings_overrides", [{"twilio": {"timeout_seconds": 0.5}}], indirect=True)
async def test_provider_timeouts_are_reconciled_and_nobody_gets_a_bulletin_twice(client, sandbox, db, staff):
    # 40 % of sends hang past our timeout (half after the message was created) and no status
    # callbacks come: only the dispatch's reconciliation against the provider can tell
    residents = [await _resident(db, i, a) for i, a in enumerate(await _addresses(db, BUURT, 20))]
    await sandbox.scenario(timeout_rate=0.4, hang_seconds=1.5, seed=7, callbacks=False)
    resp = await client.post(
        URL, json={"area_code": BUURT, "message": MESSAGE}, headers=await staff("analyst")
    )
    assert resp.status == 202

    async def settled():
        return not await db.fetchval("SELECT count(*) FROM deliveries WHERE state IN ('queued', 'sending')")

    await wait_until(settled, timeout=60)
    out = await sandbox.outbound()
    assert numbers(out) == sorted(residents)  # each exactly once
    reasons = [r[0] for r in await db.fetch("SELECT reason FROM deliveries")]
    assert reasons.count("reconciled") > 0, reasons
