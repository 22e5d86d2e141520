"""Two-person approval and exercise mode (issue 17), end to end over HTTP with the
simulator: who may approve, what waits and what goes out, the reasons of a rejection,
exercises reaching only exercise participants with OEFENING in every text, CAP status
both ways, exercises in no statistic."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from tests.helpers.alerting import (
    address,
    addresses_near,
    alert_body,
    circle,
    create,
    create_and_send,
    enrol,
    numbers,
    settled,
    wait_until,
)
from tests.helpers.cap import cap, info

PROBLEM = "application/problem+json"
BUURT = "<geocode><valueName>CBS</valueName><value>BU99990302</value></geocode>"
AMBER = {"level": "amber_regional", "family_consent": True, "title": "Vermist meisje (8)"}


@pytest.fixture
def service_roles():
    return {"web", "worker"}


def phone(i: int) -> str:
    return f"+316170{i:05d}"


async def _residents(db, n: int, channels=("sms",), first: int = 0) -> dict:
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 200)
    ids = [await enrol(db, phone(first + i), near[first + i], channels=channels) for i in range(n)]
    return {"centre": centre, "ids": ids}


async def _get(client, headers, alert_id: int) -> dict:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _problem(resp, status: int, slug: str) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM
    doc = await resp.json()
    assert doc["status"] == status and doc["type"].endswith(slug), doc
    return doc


async def _audit_actions(db, alert_id: int) -> list[str]:
    rows = await db.fetch(
        "SELECT action FROM audit_log WHERE object_type = 'alert' AND object_id = $1 ORDER BY id",
        str(alert_id),
    )
    return [r["action"] for r in rows]


async def _events(resp, until: str, timeout: float = 10) -> list[tuple[str, dict]]:
    seen: list[tuple[str, dict]] = []
    async with asyncio.timeout(timeout):
        while True:
            chunk = (await resp.content.readuntil(b"\n\n")).decode()
            event, data = chunk.split("\n", 1)
            seen.append((event.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
            if seen[-1][0] == until:
                return seen


# ------------------------------------------------------------------ two-person approval


async def test_the_author_cannot_approve_a_colleague_sends_it(client, sandbox, db, op, staff):
    people = await _residents(db, 2)
    colleague = await staff("operator", "GM9999", name="tweede centralist")
    alert = await create(client, op, alert_body(circle(people["centre"], 200), **AMBER))
    stream = await client.get(
        f"/api/v1/alerts/{alert['id']}/events", headers={**op, "Accept": "text/event-stream"}
    )

    resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    assert resp.status == 202
    assert (await resp.json())["status"] == "awaiting_approval"
    waiting = await _get(client, op, alert["id"])
    assert waiting["status"] == "awaiting_approval" and waiting["sent_at"] is None
    assert waiting["approval"]["preview"]["recipients"] == {"total": 2, "sms": 2, "voice": 0}
    assert waiting["approval"]["approved_by"] is None
    # the event stream shows the wait
    events = await _events(stream, "approval")
    assert events[-1][1]["status"] == "awaiting_approval"
    assert events[-1][1]["recipients"]["total"] == 2

    # the approval queue
    resp = await client.get("/api/v1/alerts", params={"status": "awaiting_approval"}, headers=colleague)
    assert [a["id"] for a in (await resp.json())["items"]] == [alert["id"]]

    # sending again is a conflict; the author approving is forbidden; nothing went out
    await _problem(
        await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op), 409, "awaiting-approval"
    )
    await _problem(await client.post(f"/api/v1/alerts/{alert['id']}/approve", headers=op), 403, "own-alert")
    await asyncio.sleep(0.5)
    assert await sandbox.outbound() == []
    assert sum((await _get(client, op, alert["id"]))["counts"].values()) == 0
    # an operator of another municipality does not see it
    stranger = await staff("operator", "GM0363")
    await _problem(
        await client.post(f"/api/v1/alerts/{alert['id']}/approve", headers=stranger), 404, "not-found"
    )

    resp = await client.post(f"/api/v1/alerts/{alert['id']}/approve", headers=colleague)
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["status"] == "sending"
    done = await settled(client, op, alert["id"])
    assert numbers(await sandbox.outbound()) == [phone(0), phone(1)]
    assert done["approval"]["approved_by"] is not None and done["approval"]["approved_at"]
    events = await _events(stream, "approval")
    assert events[-1][1]["status"] == "approved"
    stream.close()
    # approved once: a second approval is a conflict
    await _problem(
        await client.post(f"/api/v1/alerts/{alert['id']}/approve", headers=colleague),
        409,
        "not-awaiting-approval",
    )
    actions = await _audit_actions(db, alert["id"])
    assert actions == ["alert.create", "alert.approval_request", "alert.approve", "alert.send"]


async def test_reject_returns_it_to_draft_with_the_reason(client, sandbox, db, op, staff):
    people = await _residents(db, 1)
    admin = await staff("admin", "GM9999")
    alert = await create(client, op, alert_body(circle(people["centre"], 200), **AMBER))
    # nothing to reject or approve yet
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/reject", json={"reason": "Nee"}, headers=admin)
    await _problem(resp, 409, "not-awaiting-approval")
    assert (await (await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)).json())[
        "status"
    ] == "awaiting_approval"

    for bad in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, {"reason": "ok", "extra": 1}):
        resp = await client.post(f"/api/v1/alerts/{alert['id']}/reject", json=bad, headers=admin)
        assert resp.status == 422 and resp.content_type == PROBLEM, (bad, await resp.text())
    assert (await _get(client, op, alert["id"]))["status"] == "awaiting_approval"  # nothing half-written

    reason = "Leeftijd klopt niet, bel 06-12345678 voor de juiste gegevens"
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/reject", json={"reason": reason}, headers=admin)
    assert resp.status == 200, await resp.text()
    draft = await resp.json()
    assert draft["status"] == "draft" and draft["approval"] is None
    assert draft["rejection"]["reason"].startswith("Leeftijd klopt niet")
    assert "12345678" not in draft["rejection"]["reason"]  # phone numbers are masked
    await _problem(
        await client.post(f"/api/v1/alerts/{alert['id']}/approve", headers=admin),
        409,
        "not-awaiting-approval",
    )
    assert "alert.reject" in await _audit_actions(db, alert["id"])

    # asked again, then cancelled while waiting: it never goes out
    assert (await (await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)).json())[
        "status"
    ] == "awaiting_approval"
    await _problem(
        await client.post(f"/api/v1/alerts/{alert['id']}/close", json={"message": "Klaar"}, headers=op),
        409,
        "not-sent",
    )
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/cancel", headers=op)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    await _problem(
        await client.post(f"/api/v1/alerts/{alert['id']}/approve", headers=admin),
        409,
        "not-awaiting-approval",
    )
    await asyncio.sleep(0.5)
    assert await sandbox.outbound() == []


async def test_a_level_without_approval_sends_directly(client, sandbox, db, op):
    people = await _residents(db, 1)
    alert = await create(client, op, alert_body(circle(people["centre"], 200)))  # regular
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    assert resp.status == 202 and (await resp.json())["status"] == "sending"
    await settled(client, op, alert["id"])
    assert numbers(await sandbox.outbound()) == [phone(0)]
    await _problem(
        await client.post(f"/api/v1/alerts/{alert['id']}/approve", headers=op), 409, "not-awaiting-approval"
    )


@pytest.mark.parametrize("settings_overrides", [{"alerts": {"approval_levels": []}}], indirect=True)
async def test_approval_levels_are_configuration(client, sandbox, db, op):
    people = await _residents(db, 1)
    alert = await create(client, op, alert_body(circle(people["centre"], 200), **AMBER))
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    assert resp.status == 202 and (await resp.json())["status"] == "sending"
    await settled(client, op, alert["id"])
    assert numbers(await sandbox.outbound()) == [phone(0)]


# ------------------------------------------------------------------ exercise mode


async def test_exercise_reaches_only_participants_and_says_oefening(client, sandbox, db, op, staff):
    people = await _residents(db, 3)
    callers = await _residents(db, 2, channels=("voice",), first=3)
    admin = await staff("admin", "GM9999")
    sms_participant, voice_participant = people["ids"][1], callers["ids"][0]

    # only an admin flags exercise participants
    path = f"/api/v1/residents/{sms_participant}"
    await _problem(await client.patch(path, json={"exercise": True}, headers=op), 403, "forbidden-role")
    resp = await client.patch(path, json={}, headers=admin)
    assert resp.status == 422 and resp.content_type == PROBLEM
    resp = await client.patch(path, json={"exercise": "ja"}, headers=admin)
    assert resp.status == 422 and resp.content_type == PROBLEM
    await _problem(
        await client.patch("/api/v1/residents/999999", json={"exercise": True}, headers=admin), 404, ""
    )
    for rid in (sms_participant, voice_participant):
        resp = await client.patch(f"/api/v1/residents/{rid}", json={"exercise": True}, headers=admin)
        assert resp.status == 200 and (await resp.json())["exercise"] is True, await resp.text()

    body = alert_body(circle(people["centre"], 200), channels=["sms", "voice"], mode="exercise")
    alert = await create(client, op, body)
    assert alert["mode"] == "exercise"
    preview = await (await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)).json()
    assert preview["recipients"] == {"total": 2, "sms": 1, "voice": 1}
    assert preview["sms"]["text"].startswith("OEFENING")
    assert preview["sms"]["characters"] == len(preview["sms"]["text"])  # the prefix is counted

    resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    assert resp.status == 202
    await settled(client, op, alert["id"], states=("queued", "sending", "sent"))
    sent = await sandbox.outbound()
    assert numbers(sent) == [phone(1)] and sent[0]["body"] == preview["sms"]["text"]
    # the public page says it is an exercise, at the top and in its title
    sent_alert = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
    page_path = "/a/" + sent_alert["public_url"].rsplit("/a/", 1)[1]
    page = await (await client.get(page_path)).text()
    assert "<title>OEFENING: " in page and 'class="exercise"' in page
    page_en = await (await client.get(page_path + "?lang=en")).text()
    assert "<title>EXERCISE: " in page_en and "This is an exercise" in page_en

    async def the_call():
        calls = await sandbox.calls()
        return calls if len(calls) == 1 and calls[0].get("transcript") else None

    (call,) = await wait_until(the_call, 20)
    assert call["to"] == phone(3)
    assert call["transcript"][0]["text"].startswith("Dit is een oefening")

    # a follow-up and the closing message say it too
    resp = await client.post(
        f"/api/v1/alerts/{alert['id']}/updates",
        json={"message": "De man is gezien bij het station."},
        headers=op,
    )
    assert resp.status == 202, await resp.text()
    await settled(client, op, alert["id"], states=("queued", "sending"))
    resp = await client.post(
        f"/api/v1/alerts/{alert['id']}/close", json={"message": "Einde oefening."}, headers=op
    )
    assert resp.status == 202, await resp.text()
    await settled(client, op, alert["id"])

    async def all_texts():
        texts = [m["body"] for m in await sandbox.outbound()]
        return texts if len(texts) == 3 else None

    texts = await wait_until(all_texts, 15)
    assert all(t.startswith("OEFENING") for t in texts), texts
    assert {m["to"] for m in await sandbox.outbound()} == {phone(1)}

    # marked in the list, and filtered by mode
    resp = await client.get("/api/v1/alerts", params={"mode": "exercise"}, headers=op)
    assert [(a["id"], a["mode"]) for a in (await resp.json())["items"]] == [(alert["id"], "exercise")]
    real = await create(client, op, alert_body(circle(people["centre"], 200)))
    resp = await client.get("/api/v1/alerts", params={"mode": "live"}, headers=op)
    assert [(a["id"], a["mode"]) for a in (await resp.json())["items"]] == [(real["id"], "live")]
    resp = await client.get("/api/v1/alerts", params={"mode": "oefening"}, headers=op)
    assert resp.status == 422 and resp.content_type == PROBLEM


async def test_cap_test_import_is_an_exercise_and_exports_as_exercise(client, db, op):
    doc = cap(info(expires=None, areas=[BUURT]), status="Test")
    resp = await client.post(
        "/api/v1/alerts", data=doc, headers={**op, "Content-Type": "application/cap+xml"}
    )
    assert resp.status == 201, await resp.text()
    draft = await resp.json()
    assert draft["status"] == "draft" and draft["mode"] == "exercise"
    xml = await (await client.get(f"/api/v1/alerts/{draft['id']}/cap", headers=op)).text()
    assert "<status>Exercise</status>" in xml and "Actual" not in xml

    actual = await client.post(
        "/api/v1/alerts",
        data=cap(info(expires=None, areas=[BUURT]), status="Actual"),
        headers={**op, "Content-Type": "application/cap+xml"},
    )
    real = await actual.json()
    assert real["mode"] == "live"
    xml = await (await client.get(f"/api/v1/alerts/{real['id']}/cap", headers=op)).text()
    assert "<status>Actual</status>" in xml
    # System and Draft messages are refused, never imported as real drafts
    for status in ("System", "Draft"):
        resp = await client.post(
            "/api/v1/alerts", data=cap(status=status), headers={**op, "Content-Type": "application/cap+xml"}
        )
        doc = await _problem(resp, 422, "invalid-cap")
        assert "status" in doc["detail"]


async def test_exercises_are_in_no_statistic(client, sandbox, db, op, staff):
    people = await _residents(db, 2)
    admin = await staff("admin", "GM9999")
    resp = await client.patch(f"/api/v1/residents/{people['ids'][0]}", json={"exercise": True}, headers=admin)
    assert resp.status == 200
    real = await create_and_send(client, op, alert_body(circle(people["centre"], 200)))
    exercise = await create_and_send(client, op, alert_body(circle(people["centre"], 200), mode="exercise"))
    await settled(client, op, real["id"])
    await settled(client, op, exercise["id"])
    today = datetime.now(UTC).date().isoformat()
    params = {"municipality": "GM9999", "from": today, "to": today}
    resp = await client.get("/api/v1/alerts/stats", params=params, headers=op)
    assert resp.status == 200, await resp.text()
    rows = (await resp.json())["items"]
    assert sum(r["alerts"] for r in rows) == 1  # the exercise is not counted
    assert sum(r["reached"] for r in rows) == 2
