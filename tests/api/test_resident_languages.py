"""English alerts for residents who chose English, the preview's language counts and
plain-Dutch warnings, calls in the resident's voice (slowly, twice), and SMS-only
residents who are never switched to a call (issue 19)."""

from __future__ import annotations

import asyncio

import pytest

from burgerwacht.alerts.callbacks import alert_twiml
from burgerwacht.alerts.language_checks import plain_dutch_warnings
from burgerwacht.config import PlainDutchSettings
from tests.helpers.alerting import (
    address,
    addresses_near,
    alert_body,
    circle,
    create,
    enrol,
    settled,
    wait_until,
)

NL, EN = "+31610000001", "+31610000002"
ENGLISH = "Watch out: man in a blue coat on a red bicycle."


@pytest.fixture
def service_roles():
    return {"web", "worker"}


async def _two_residents(db, channels=("sms",)) -> dict:
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 150)
    await enrol(db, NL, near[0], channels=channels)
    await enrol(db, EN, near[1], channels=channels, language="en")
    return centre


async def _preview(client, op, alert_id: int) -> dict:
    resp = await client.post(f"/api/v1/alerts/{alert_id}/preview", headers=op)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_english_residents_get_the_english_text(client, sandbox, db, op):
    centre = await _two_residents(db)
    alert = await create(client, op, alert_body(circle(centre, 150), message_en=ENGLISH))
    assert alert["message_en"] == ENGLISH
    preview = await _preview(client, op, alert["id"])
    assert preview["recipients_by_language"] == {"nl": 1, "en": 1}
    assert not [w for w in preview["warnings"] if w["code"] == "english-gets-dutch"]
    await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    await settled(client, op, alert["id"])
    bodies = {m["to"]: m["body"] for m in await sandbox.outbound()}
    assert bodies[EN] == f"Burgerwacht {alert['reference']}: {ENGLISH}"
    assert bodies[NL].endswith("Let op: man in blauwe jas op een rode fiets.")


async def test_without_english_text_they_get_dutch_and_the_preview_warns(client, sandbox, db, op):
    centre = await _two_residents(db)
    alert = await create(client, op, alert_body(circle(centre, 150)))
    preview = await _preview(client, op, alert["id"])
    warning = next(w for w in preview["warnings"] if w["code"] == "english-gets-dutch")
    assert "1 resident" in warning["message"]
    await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
    await settled(client, op, alert["id"])
    assert all("Let op: man in blauwe jas" in m["body"] for m in await sandbox.outbound())
    # nobody English in the target: no warning
    only_nl = await create(client, op, alert_body(circle(await address(db, "9993BL", 12), 50)))
    assert (await _preview(client, op, only_nl["id"]))["recipients_by_language"] == {"nl": 0, "en": 0}


async def test_calls_in_an_english_voice_for_english_residents(client, sandbox, db, op):
    centre = await _two_residents(db, channels=("voice",))
    body = alert_body(
        circle(centre, 150), channels=["voice"], message_en=ENGLISH, voice_message_en="A man in a blue coat."
    )
    alert = await create(client, op, body)
    await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)

    async def two_calls():
        calls = await sandbox.calls()
        return calls if len(calls) == 2 and all(c.get("transcript") for c in calls) else None

    calls = {c["to"]: c for c in await wait_until(two_calls, 20)}
    en = calls[EN]["transcript"]
    assert {t["voice"] for t in en} == {"Polly.Joanna"} and {t["language"] for t in en} == {"en-US"}
    assert any(t["text"] == "A man in a blue coat." for t in en)
    assert any("This is an alert from Burgerwacht" in t["text"] for t in en)
    nl = calls[NL]["transcript"]
    assert {t["voice"] for t in nl} == {"Polly.Lotte"}
    assert any("Hier volgt een oproep" in t["text"] for t in nl)


def _delivery(**kw) -> dict:
    return {
        "id": 7,
        "kind": "alert",
        "reference": "B7K",
        "message": "Let op: rode auto.",
        "voice_message": None,
        "message_en": None,
        "voice_message_en": None,
        "closing_message": None,
        "update_message": None,
        "update_voice_message": None,
        "language": "nl",
        "slow_speech": False,
        "repeat_message": False,
        **kw,
    }


def test_slow_speech_and_the_message_twice_in_twiml():
    plain = alert_twiml(_delivery(), "https://bw.example", None)
    assert "prosody" not in plain and plain.count("Let op: rode auto.") == 1
    slow = alert_twiml(_delivery(slow_speech=True, repeat_message=True), "https://bw.example", None)
    assert '<prosody rate="slow">Let op: rode auto.</prosody>' in slow
    assert slow.count("Let op: rode auto.") == 2 and "Ik herhaal het bericht." in slow
    voicemail = alert_twiml(_delivery(repeat_message=True), "https://bw.example", "machine_end_beep")
    assert voicemail.count("Let op: rode auto.") == 2
    # English without an English text: the Dutch text in the Dutch voice
    dutch = alert_twiml(_delivery(language="en"), "https://bw.example", None)
    assert "Polly.Joanna" not in dutch and "Hier volgt een oproep" in dutch
    english = alert_twiml(_delivery(language="en", message_en="Watch out."), "https://bw.example", None)
    assert "Watch out." in english and 'voice="Polly.Joanna"' in english and "Polly.Lotte" not in english


async def test_enrolment_asks_for_slow_speech_repeat_and_sms_only(client, sandbox, db):
    resp = await client.post(
        "/api/v1/enrolments",
        json={
            "phone": "0612345678",
            "postcode": "9991AA",
            "house_number": 75,
            "slow_speech": True,
            "repeat_message": True,
            "sms_only": True,
        },
    )
    assert resp.status == 202, await resp.text()
    enrolment = await resp.json()
    assert enrolment["channels"] == ["sms"]
    code = (await sandbox.outbound())[-1]["body"].split("code is ")[1][:6]
    resp = await client.post(f"/api/v1/enrolments/{enrolment['id']}/verify", json={"code": code})
    assert resp.status == 200, await resp.text()
    r = await db.fetchrow("SELECT slow_speech, repeat_message, sms_only FROM residents")
    assert tuple(r) == (True, True, True)
    resp = await client.post(
        "/api/v1/enrolments",
        json={
            "phone": "0612345679",
            "postcode": "9991AA",
            "house_number": 75,
            "sms_only": True,
            "channels": ["voice"],
        },
    )
    assert resp.status == 422


async def test_sms_only_residents_are_never_switched_to_a_call(client, sandbox, db, op):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 150)
    deaf, other = "+31610000011", "+31610000012"
    rid = await enrol(db, deaf, near[0], channels=("sms", "voice"))
    await db.execute("UPDATE residents SET sms_only = true WHERE id = $1", rid)
    await enrol(db, other, near[1], channels=("sms", "voice"))
    await sandbox.scenario(unreachable_numbers=[deaf, other])
    alert = await create(client, op, alert_body(circle(centre, 150)))
    await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)

    async def fallback_made():
        return await db.fetchval("SELECT count(*) FROM deliveries WHERE channel = 'voice'") >= 1

    await wait_until(fallback_made, 20)
    await asyncio.sleep(0.5)  # no second fallback follows
    rows = await db.fetch(
        "SELECT r.phone FROM deliveries d JOIN residents r ON r.id = d.resident_id WHERE d.channel = 'voice'"
    )
    assert [r["phone"] for r in rows] == [other]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Let op: man in blauwe jas op een rode fiets.", set()),
        ("Vermist: meisje van 8 jaar, blond haar. Gezien bij het station om 20:30.", set()),
        ("Sign. man ca. 1.80 m, i.v.m. inbraak gezocht.", {"plain-abbreviation"}),
        ("Gezocht m.b.t. een overval: bel 112.", {"plain-abbreviation"}),
        ("Vermist sinds vannacht.", {"plain-ambiguous-time"}),
        ("Gezien om 8 uur bij de kerk.", {"plain-ambiguous-time"}),
        ("Gezien om half negen bij de kerk.", {"plain-ambiguous-time"}),
        ("De deur stond half open.", set()),
        ("Let op de ambulancebroeders en verkeersregelaarsvrijwilligers.", {"plain-long-word"}),
        (
            "Wij zoeken een man die vanmiddag in de buurt van het winkelcentrum aan de Dorpsstraat "
            "een tas heeft gestolen van een oudere vrouw die daar met haar rollator liep.",
            {"plain-long-sentence"},
        ),
    ],
)
def test_plain_dutch_warnings(text: str, codes: set[str]):
    got = {w.code for w in plain_dutch_warnings(text, PlainDutchSettings())}
    assert got == codes, [w.message for w in plain_dutch_warnings(text, PlainDutchSettings())]


async def test_the_preview_warns_about_plain_dutch(client, db, op):
    centre = await address(db, "9991AA", 75)
    alert = await create(
        client, op, alert_body(circle(centre, 100), message="Sign. man ca. 40 jr i.v.m. inbraak.")
    )
    warnings = (await _preview(client, op, alert["id"]))["warnings"]
    abbreviation = next(w for w in warnings if w["code"] == "plain-abbreviation")
    assert "sign." in abbreviation["message"] and "i.v.m." in abbreviation["message"]
