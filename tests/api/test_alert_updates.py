"""Follow-ups (vervolgberichten) through their whole life, against the simulator over
HTTP: a start, two follow-ups and two waves with residents at every stage (reached,
still queued, deferred by quiet hours, by voice). Each resident's messages, in order,
are exactly what they should be: never one twice, never a stale text after a follow-up
exists. Also: previews, CAP Updates, replies as tips, 4xx on a draft or ended alert."""

from __future__ import annotations

import pytest
from defusedxml import ElementTree as ET

from burgerwacht.alerts.service import closing_text, current_text, sms_text, update_text
from burgerwacht.cap import validate_cap
from tests.helpers.alerting import (
    address,
    alert_body,
    circle,
    create,
    create_and_send,
    enrol,
    quiet_window_now,
)
from tests.helpers.lifecycle import (
    Worker,
    calls_by_number,
    in_ring,
    post,
    quiet_queue,
    running,
    sms_by_number,
)

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


@pytest.fixture
def service_roles():
    return {"web"}  # the test starts and stops the worker itself (tests/helpers/lifecycle.py)


def phone(i: int) -> str:
    return f"+316300{i:05d}"


async def test_start_two_updates_two_waves_each_resident_gets_exactly_the_right_messages(
    client, sandbox, db, op, settings
):
    centre = await address(db, "9991AA", 75)
    inner = await in_ring(db, centre, 0, 120, 4)
    ring2 = await in_ring(db, centre, 180, 270, 2)
    ring3 = await in_ring(db, centre, 330, 420, 1)
    far = await in_ring(db, centre, 700, 900, 1)
    await enrol(db, phone(1), inner[0])  # reached by SMS before any follow-up
    await enrol(db, phone(2), inner[1], channels=("voice",))  # reached by a call
    C = await enrol(db, phone(3), inner[2], quiet=quiet_window_now(0.5))  # quiet hours: deferred
    D = await enrol(db, phone(4), inner[3])  # queued (held back) until both follow-ups exist
    await enrol(db, phone(5), ring2[0])  # E: wave 1, after follow-up 1
    await enrol(db, phone(6), ring2[1], channels=("voice",))  # F: wave 1 by voice
    await enrol(db, phone(7), ring3[0])  # G: wave 2, after follow-up 2
    await enrol(db, phone(8), far[0])  # H: never
    body = alert_body(
        circle(centre, 150),
        channels=["sms", "voice"],
        voice_message="Let op: een man in een blauwe jas op een rode fiets.",
    )
    alert = await create_and_send(client, op, body)
    ref, aid = alert["reference"], alert["id"]
    assert (
        await db.fetchval("SELECT reason FROM deliveries WHERE resident_id = $1 AND state = 'queued'", C)
        == "quiet_hours"
    )
    # D's start message waits in the queue (as behind a long queue at the provider's rate)
    await db.execute("UPDATE deliveries SET not_before = now() + interval '1 hour' WHERE resident_id = $1", D)
    worker = Worker(settings)

    async with running(worker):
        await quiet_queue(db, except_residents=[C, D])

    u1 = {
        "message": "Verdachte nu richting station, rode fiets.",
        "voice_message": "Hij fietst nu naar het station.",
    }
    created = await post(client, f"/api/v1/alerts/{aid}/updates", op, u1, 202)
    assert created["update"]["number"] == 1 and created["update"]["message"] == u1["message"]
    assert created["alert"]["updates"][0]["number"] == 1
    wave1 = await post(client, f"/api/v1/alerts/{aid}/widen", op, {"target": circle(centre, 300)}, 202)
    assert wave1["wave"]["number"] == 1 and wave1["added"] == 2  # E and F; C and D have theirs queued
    async with running(worker):
        await quiet_queue(db, except_residents=[C, D])

    u2 = {"message": "Verdachte gezien bij de Kade, blauwe jas uit."}
    await post(client, f"/api/v1/alerts/{aid}/updates", op, u2, 202)
    wave2 = await post(client, f"/api/v1/alerts/{aid}/widen", op, {"target": circle(centre, 450)}, 202)
    assert wave2["wave"]["number"] == 2 and wave2["added"] == 1  # G
    async with running(worker):
        await quiet_queue(db, except_residents=[C, D])
        # quiet hours over for C, and D's turn comes: one message each, the latest text
        await db.execute(
            "UPDATE deliveries SET not_before = now() WHERE resident_id = ANY($1::bigint[])", [C, D]
        )
        await quiet_queue(db)
        done = await post(
            client, f"/api/v1/alerts/{aid}/close", op, {"message": "De man is aangehouden."}, 202
        )
        assert done["closing_deliveries"] == 7
        await quiet_queue(db)

    start = sms_text(ref, body["message"])
    folded1 = current_text(ref, body["message"], u1["message"])
    folded2 = current_text(ref, body["message"], u2["message"])
    up1, up2 = update_text(ref, u1["message"]), update_text(ref, u2["message"])
    closing = closing_text(ref, "De man is aangehouden.")
    assert folded1.startswith(f"Burgerwacht {ref} UPDATE: {u1['message']} | Eerder: ")
    assert await sms_by_number(sandbox) == {
        phone(1): [start, up1, up2, closing],
        phone(3): [folded2, closing],
        phone(4): [folded2, closing],
        phone(5): [folded1, up2, closing],
        phone(7): [folded2, closing],
    }
    calls = await calls_by_number(sandbox)
    assert sorted(calls) == [phone(2), phone(6)]
    b, f = calls[phone(2)], calls[phone(6)]
    assert len(b) == 4 and len(f) == 3, calls
    assert "blauwe jas" in b[0] and "Vervolgbericht" not in b[0]
    assert "Vervolgbericht" in b[1] and u1["voice_message"] in b[1]
    assert u2["message"] in b[2] and u1["voice_message"] not in b[2]
    assert "afgelopen" in b[3] and "aangehouden" in b[3]
    # F came in with wave 1, after follow-up 1: the start call carried it
    assert "blauwe jas" in f[0] and u1["voice_message"] in f[0]
    assert u2["message"] in f[1] and "afgelopen" in f[2]

    view = await (await client.get(f"/api/v1/alerts/{aid}", headers=op)).json()
    assert [u["number"] for u in view["updates"]] == [1, 2]
    assert [(w["number"], w["added"]) for w in view["waves"]] == [(1, 2), (2, 1)]
    # follow-up 1 went to A and B; 2 to A, B, E and F; the queued ones carried the news instead
    assert view["updates"][0]["counts"]["delivered"] + view["updates"][0]["counts"]["sent"] == 2
    assert view["updates"][1]["counts"]["delivered"] + view["updates"][1]["counts"]["sent"] == 4
    assert view["status"] == "closed"


async def test_update_preview_counts_and_texts(client, db, op, settings):
    centre = await address(db, "9991AA", 75)
    homes = await in_ring(db, centre, 0, 120, 3)
    await enrol(db, phone(1), homes[0])
    await enrol(db, phone(2), homes[1], channels=("voice",))
    held = await enrol(db, phone(3), homes[2])
    alert = await create_and_send(client, op, alert_body(circle(centre, 150), channels=["sms", "voice"]))
    await db.execute(
        "UPDATE deliveries SET not_before = now() + interval '1 hour' WHERE resident_id = $1", held
    )
    async with running(Worker(settings)):
        await quiet_queue(db, except_residents=[held])
    text = "Verdachte gaat richting het station."
    preview = await post(client, f"/api/v1/alerts/{alert['id']}/updates/preview", op, {"message": text}, 200)
    assert preview["recipients"] == {"total": 2, "sms": 1, "voice": 1}
    assert preview["pending"] == 1
    assert preview["sms"]["text"] == update_text(alert["reference"], text)
    assert preview["sms"]["encoding"] == "GSM-7" and preview["sms"]["segments"] == 1
    assert preview["current"]["text"] == current_text(alert["reference"], alert_body({})["message"], text)
    ucs = await post(
        client, f"/api/v1/alerts/{alert['id']}/updates/preview", op, {"message": "Café “De Kroon”"}, 200
    )
    assert ucs["sms"]["encoding"] == "UCS-2" and ucs["sms"]["gsm7_suggestion"] == 'Café "De Kroon"'


def test_folding_stays_within_the_longer_text_and_cuts_at_a_word():
    from burgerwacht.messaging.encoding import segment_count

    start = "Let op: man (40) in blauwe jas en grijze broek op een rode fiets, richting Havenkom. " * 3
    update = "Man is nu te voet, jas uitgedaan, loopt richting het station langs de Kade."
    text = current_text("ABC", start, update)
    allowed = max(segment_count(sms_text("ABC", start)), segment_count(update_text("ABC", update)))
    assert segment_count(text) <= allowed
    assert text.startswith(update_text("ABC", update) + " | Eerder: ")
    assert text.endswith("...") and not text.endswith(" ...")
    cut = text.removeprefix(update_text("ABC", update) + " | Eerder: ").removesuffix("...")
    assert start.startswith(cut) and start[len(cut)] == " "  # a whole word
    # short texts go whole; a start text that cannot keep 20 characters is left out
    assert current_text("ABC", "Kort.", "Ook kort.") == "Burgerwacht ABC UPDATE: Ook kort. | Eerder: Kort."
    assert current_text("ABC", "Kort bericht", "x" * 130) == update_text("ABC", "x" * 130)
    assert current_text("ABC", "Kort.", None) == sms_text("ABC", "Kort.")


async def test_update_on_a_draft_or_ended_alert_is_a_409_and_scope_holds(client, db, op, staff):
    centre = await address(db, "9991AA", 75)
    draft = await create(client, op, alert_body(circle(centre, 150)))
    for path in ("updates", "updates/preview", "widen", "widen/preview"):
        payload = {"message": "Nieuw"} if path.startswith("updates") else {"target": circle(centre, 300)}
        resp = await client.post(f"/api/v1/alerts/{draft['id']}/{path}", json=payload, headers=op)
        assert resp.status == 409, (path, await resp.text())
        assert (await resp.json())["type"].endswith("not-live")
    sent = await create_and_send(client, op, alert_body(circle(centre, 150)))
    await post(client, f"/api/v1/alerts/{sent['id']}/close", op, {"message": "Voorbij."}, 202)
    resp = await client.post(f"/api/v1/alerts/{sent['id']}/updates", json={"message": "Nieuw"}, headers=op)
    assert resp.status == 409
    cancelled = await create_and_send(client, op, alert_body(circle(centre, 150)))
    await post(client, f"/api/v1/alerts/{cancelled['id']}/cancel", op, None, 200)
    resp = await client.post(
        f"/api/v1/alerts/{cancelled['id']}/updates", json={"message": "Nieuw"}, headers=op
    )
    assert resp.status == 409
    live = await create_and_send(client, op, alert_body(circle(centre, 150)))
    for bad in ({}, {"message": ""}, {"message": "x" * 641}, {"message": "a", "extra": 1}):
        resp = await client.post(f"/api/v1/alerts/{live['id']}/updates", json=bad, headers=op)
        assert resp.status == 422, bad
    other = await staff("operator", "GM0363")
    resp = await client.post(f"/api/v1/alerts/{live['id']}/updates", json={"message": "Nieuw"}, headers=other)
    assert resp.status == 404
    assert not await db.fetchval("SELECT count(*) FROM alert_updates")


async def test_update_cap_refers_to_the_alert_exactly_and_a_reply_is_a_tip(client, sandbox, db, op, settings):
    centre = await address(db, "9991AA", 75)
    home = (await in_ring(db, centre, 0, 120, 1))[0]
    await enrol(db, phone(1), home)
    alert = await create(client, op, alert_body(circle(centre, 150)))
    draft_cap = await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)  # exported as a draft first
    original = ET.fromstring(await draft_cap.read())
    await post(client, f"/api/v1/alerts/{alert['id']}/send", op, None, 202)
    async with running(Worker(settings)):
        await quiet_queue(db)
        await post(
            client, f"/api/v1/alerts/{alert['id']}/updates", op, {"message": "Nu bij het station."}, 202
        )
        await post(client, f"/api/v1/alerts/{alert['id']}/updates", op, {"message": "Nu op de Kade."}, 202)
        await quiet_queue(db)
    assert len(await sandbox.outbound(phone(1))) == 3

    exported, raws = [], []
    for number in (1, 2):
        resp = await client.get(f"/api/v1/alerts/{alert['id']}/updates/{number}/cap", headers=op)
        assert resp.status == 200 and resp.content_type == "application/cap+xml"
        raw = await resp.read()
        validate_cap(raw)
        raws.append(raw)
        exported.append(ET.fromstring(raw))
    first, second = exported
    sender, sent = original.findtext(f"{CAP}sender"), original.findtext(f"{CAP}sent")
    assert first.findtext(f"{CAP}msgType") == "Update"
    assert first.findtext(f"{CAP}identifier") == f"burgerwacht-{alert['id']}-update-1"
    assert first.findtext(f"{CAP}references") == f"{sender},burgerwacht-{alert['id']},{sent}"
    assert first.find(f"{CAP}info").findtext(f"{CAP}description") == "Nu bij het station."
    assert second.findtext(f"{CAP}references").split() == [
        f"{sender},burgerwacht-{alert['id']},{sent}",
        f"{sender},{first.findtext(f'{CAP}identifier')},{first.findtext(f'{CAP}sent')}",
    ]
    again = await client.get(f"/api/v1/alerts/{alert['id']}/updates/1/cap", headers=op)
    assert await again.read() == raws[0]  # the same message every time it is exported
    missing = await client.get(f"/api/v1/alerts/{alert['id']}/updates/3/cap", headers=op)
    assert missing.status == 404

    # the resident answers the follow-up: a tip for this alert
    await sandbox.sms(phone(1), "Ik zie hem nu bij de bakker")
    tip = await db.fetchrow("SELECT alert_id, text FROM tips ORDER BY id DESC LIMIT 1")
    assert tip["alert_id"] == alert["id"] and "bakker" in tip["text"]
