"""Residents' self-service by SMS (issue 19), through the signed webhook: every keyword
with its variants and in both languages, and what it does to alert targeting (pause
against regular and missing-person alerts, visits during and after their hours, moves,
time windows), audited without the number."""

from __future__ import annotations

import json

import pytest

from burgerwacht.messaging import analyse
from tests.helpers.alerting import address, alert_body, circle, create

PHONE = "+31612345678"
OTHER = "+31612345679"


async def _enrol(sandbox, phone: str = PHONE, where: str = "9991AA 75") -> None:
    result = await sandbox.sms(phone, f"AANMELDEN {where}")
    assert "Welkom" in result["reply"] or "Welcome" in result["reply"], result


async def _reply(sandbox, body: str, phone: str = PHONE) -> str:
    result = await sandbox.sms(phone, body)
    reply = result["reply"]
    info = analyse(reply)
    assert info.encoding == "GSM-7", (body, reply)
    return reply


async def _total(client, op, target: dict, level: str = "regular") -> int:
    extra = {"family_consent": True} if level != "regular" else {}
    alert = await create(client, op, alert_body(target, level=level, **extra))
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["recipients"]["total"]


async def _resident(db, phone: str = PHONE):
    return await db.fetchrow("SELECT * FROM residents WHERE phone = $1", phone)


# ------------------------------------------------------------------ channel and language


async def test_channel_keywords_in_both_languages(client, sandbox, db):
    await _enrol(sandbox)
    for body in ("SPRAAK", " spraak. ", "Voice", "sprááK"):
        assert "gesproken oproep" in await _reply(sandbox, body)
        assert await db.fetchval("SELECT channels FROM resident_addresses") == ["voice"]
        assert "per sms" in await _reply(sandbox, "sms")
        assert await db.fetchval("SELECT channels FROM resident_addresses") == ["sms"]
    assert "English" in await _reply(sandbox, "ENGLISH")
    assert (await _resident(db))["language"] == "en"
    assert "as voice calls" in await _reply(sandbox, "voice")
    assert "by SMS" in await _reply(sandbox, "SMS")
    assert "Nederlands" in await _reply(sandbox, "  nederlands!")
    assert (await _resident(db))["language"] == "nl"
    assert "English" in await _reply(sandbox, "engels")
    assert "Nederlands" in await _reply(sandbox, "DUTCH")


async def test_a_landline_stays_voice(client, sandbox, db):
    await _enrol(sandbox)
    await db.execute("UPDATE residents SET phone_kind = 'landline'")
    await db.execute("UPDATE resident_addresses SET channels = '{voice}'")
    assert "geen sms ontvangen" in await _reply(sandbox, "SMS")
    assert await db.fetchval("SELECT channels FROM resident_addresses") == ["voice"]


async def test_keywords_from_an_unknown_number_explain_how_to_enrol(client, sandbox, db):
    for body in ("PAUZE 3", "ADRESSEN", "BEZOEK 9991AA 75", "berichten aan", "ENGLISH"):
        assert "niet aangemeld" in await _reply(sandbox, body, OTHER)
    assert await db.fetchval("SELECT count(*) FROM residents") == 0


async def test_help_lists_every_keyword_within_two_segments(client, sandbox, db):
    await _enrol(sandbox)
    for lang, body, words in (
        ("nl", "INFO", ["SPRAAK", "PAUZE", "HERVAT", "VERHUIS", "ADRESSEN", "BEZOEK", "BERICHTEN AAN"]),
        ("en", "help", ["VOICE", "PAUSE", "RESUME", "MOVE", "ADDRESSES", "VISIT", "MESSAGES ON"]),
    ):
        await db.execute("UPDATE residents SET language = $1", lang)
        reply = await _reply(sandbox, body)
        assert all(w in reply for w in words), (lang, reply)
        assert analyse(reply).segments <= 2


# ------------------------------------------------------------------ pause


async def test_pause_holds_back_regular_alerts_but_not_missing_persons(client, sandbox, db, op):
    await _enrol(sandbox)
    home = circle(await address(db, "9991AA", 75), 100)
    assert await _total(client, op, home) == 1

    reply = await _reply(sandbox, "PAUZE 7")
    assert reply.startswith("Pauze tot") and "vermissing krijgt u wel" in reply
    until = (await _resident(db))["paused_until"]
    days = (until - await db.fetchval("SELECT now()")).total_seconds() / 86400
    assert 6.9 < days <= 7.0
    assert await _total(client, op, home) == 0
    assert await _total(client, op, home, "missing_child") == 1
    assert await _total(client, op, home, "amber_national") == 1

    assert "ook niet bij vermissing" in await _reply(sandbox, "pauze alles 3")
    assert await _total(client, op, home) == 0
    assert await _total(client, op, home, "missing_child") == 0

    assert "pauze is voorbij" in await _reply(sandbox, "HERVAT")
    assert await _total(client, op, home) == 1
    assert "geen pauze" in await _reply(sandbox, "hervat")

    # a pause that has run out holds nothing back
    await _reply(sandbox, "PAUZE 2")
    await db.execute("UPDATE residents SET paused_until = now() - interval '1 minute'")
    assert await _total(client, op, home) == 1


async def test_pause_variants_default_and_cap(client, sandbox, db):
    await _enrol(sandbox)
    cases = [
        ("PAUZE", 7, False),  # the configured default
        ("pauze 14 dagen", 14, False),
        ("PAUZÉ  3", 3, False),
        ("pause 500", 60, False),  # cut to enrolment.pause_max_days
        ("PAUZE ALLES", 7, True),
        ("pause all 2 days", 2, True),
        ("pauze 5 alles", 5, True),
    ]
    for body, days, everything in cases:
        await _reply(sandbox, body)
        r = await _resident(db)
        got = (r["paused_until"] - await db.fetchval("SELECT now()")).total_seconds() / 86400
        assert days - 0.01 < got <= days and r["pause_all"] is everything, body
    await db.execute("UPDATE residents SET language = 'en'")
    assert "Paused until" in await _reply(sandbox, "PAUSE 3")
    assert "not even for missing" in await _reply(sandbox, "pause all")
    assert "pause has ended" in await _reply(sandbox, "RESUME")
    # a tip that starts with the word stays a tip
    assert "tip" in await _reply(sandbox, "pauze bij de bushalte, man met hond")
    assert (await _resident(db))["paused_until"] is None


# ------------------------------------------------------------------ addresses, move


async def test_addresses_list_and_remove_one(client, sandbox, db):
    await _enrol(sandbox)
    await _enrol(sandbox, where="9993BL 12")
    reply = await _reply(sandbox, "ADRESSEN")
    assert "1) 9991 AA 75" in reply and "2) 9993 BL 12" in reply
    assert "adres 7" in await _reply(sandbox, "VERWIJDER 7")
    assert "9991 AA 75 is verwijderd" in await _reply(sandbox, "verwijder 1")
    assert "1) 9993 BL 12" in await _reply(sandbox, " adressen ")
    assert "enige adres" in await _reply(sandbox, "VERWIJDER 1")
    assert await db.fetchval("SELECT count(*) FROM resident_addresses") == 1
    await db.execute("UPDATE residents SET language = 'en'")
    assert "Your addresses: 1) 9993 BL 12" in await _reply(sandbox, "addresses")
    assert "only address" in await _reply(sandbox, "DELETE 1")
    # plain VERWIJDER still erases everything
    assert "deleted" in await _reply(sandbox, "delete")
    assert await db.fetchval("SELECT count(*) FROM residents") == 0


async def test_move_after_confirmation_replaces_and_re_places(client, sandbox, db, op):
    await _enrol(sandbox)
    old_place = circle(await address(db, "9991AA", 75), 100)
    new_place = circle(await address(db, "9993BL", 12), 100)
    assert await _total(client, op, old_place) == 1 and await _total(client, op, new_place) == 0

    reply = await _reply(sandbox, "VERHUIS 9993 BL 12")
    assert "9991 AA 75 vervangen door 9993 BL 12" in reply and "JA" in reply
    assert await _total(client, op, new_place) == 0  # nothing changes before JA
    assert "adres is nu 9993 BL 12" in await _reply(sandbox, "Ja!")
    assert await _total(client, op, old_place) == 0 and await _total(client, op, new_place) == 1
    row = await db.fetchrow(
        "SELECT ra.buurt_code = a.buurt_code AND ra.location ~= a.location AS placed FROM resident_addresses ra "
        "JOIN addresses a ON a.id = ra.address_id"
    )
    assert row["placed"]
    assert "1) 9993 BL 12" in await _reply(sandbox, "ADRESSEN")
    # a JA with nothing to confirm is an ordinary tip
    assert "tip is doorgegeven" in await _reply(sandbox, "ja")
    assert await db.fetchval("SELECT count(*) FROM tips WHERE text = 'ja'") == 1


async def test_move_usage_unknown_expired_and_english(client, sandbox, db):
    await _enrol(sandbox)
    assert "VERHUIS 1234AB 12" in await _reply(sandbox, "verhuis")
    assert "niet gevonden" in await _reply(sandbox, "VERHUIS 1011AB 1")
    assert "al aangemeld" in await _reply(sandbox, "verhuis 9991aa 75")
    assert "tip" in await _reply(sandbox, "verhuis de auto naar de overkant")
    await _reply(sandbox, "VERHUIS 9993BL 12")
    await db.execute("UPDATE residents SET move_expires_at = now() - interval '1 second'")
    assert "niet bevestigd op tijd" in await _reply(sandbox, "JA")
    assert "1) 9991 AA 75" in await _reply(sandbox, "ADRESSEN")
    await db.execute("UPDATE residents SET language = 'en'")
    assert "Replace 9991 AA 75 with 9993 BL 12? Text JA" in await _reply(sandbox, "MOVE 9993BL 12")
    assert "Your address is now 9993 BL 12" in await _reply(sandbox, "ja")


# ------------------------------------------------------------------ visits


async def test_visit_is_targeted_during_its_hours_only(client, sandbox, db, op):
    await _enrol(sandbox)
    away = circle(await address(db, "9993BL", 12), 100)
    assert await _total(client, op, away) == 0
    reply = await _reply(sandbox, "BEZOEK 9993BL 12")
    assert reply.startswith("Tot ") and "9993 BL 12" in reply
    hours = await db.fetchval(
        "SELECT extract(epoch FROM visit_until - now()) / 3600 FROM resident_addresses "
        "WHERE visit_until IS NOT NULL"
    )
    assert 23.9 < hours <= 24
    assert await _total(client, op, away) == 1
    assert "2) 9993 BL 12 (bezoek tot" in await _reply(sandbox, "ADRESSEN")
    # a paused resident's visit still counts; the home does not
    await _reply(sandbox, "PAUZE 3")
    assert await _total(client, op, away) == 1
    assert await _total(client, op, circle(await address(db, "9991AA", 75), 100)) == 0
    await _reply(sandbox, "HERVAT")
    # over: no longer targeted, no longer listed, no longer counted
    await db.execute(
        "UPDATE resident_addresses SET visit_until = now() - interval '1 minute' WHERE visit_until IS NOT NULL"
    )
    assert await _total(client, op, away) == 0
    assert "2)" not in await _reply(sandbox, "ADRESSEN")


async def test_visit_variants_and_the_address_maximum(client, sandbox, db, settings):
    await _enrol(sandbox)
    cases = [
        ("bezoek 9993 bl", 24),
        ("BEZOEK 9993BL 12 48", 48),
        ("Bezoek 9993BL 6 uur", 6),
        ("visit 9993BL 12 3h", 3),
        ("BEZOEK 9993BL 12 9999", settings.enrolment.visit_max_hours),
    ]
    for body, hours in cases:
        await _reply(sandbox, body)
        got = await db.fetchval(
            "SELECT max(extract(epoch FROM visit_until - now()) / 3600) FROM resident_addresses"
        )
        assert hours - 0.05 < got <= hours, body
    assert "BEZOEK 1234AB 12 48" in await _reply(sandbox, "BEZOEK 9999")
    assert "Postcode 1011 AB is niet gevonden" in await _reply(sandbox, "BEZOEK 1011AB")
    assert "al aangemeld" in await _reply(sandbox, "BEZOEK 9991AA 75")
    assert "tip" in await _reply(sandbox, "bezoek aan oma ging goed")
    await db.execute("UPDATE residents SET language = 'en'")
    assert "Until " in await _reply(sandbox, "VISIT 9993BL 12")
    # a visit counts towards the maximum only while it lasts
    await db.execute("DELETE FROM resident_addresses WHERE visit_until IS NOT NULL")
    others = await db.fetch(
        "SELECT postcode, house_number FROM addresses WHERE house_letter = '' AND addition = '' "
        "AND NOT (postcode = '9991AA' AND house_number = 75) ORDER BY id LIMIT $1",
        settings.enrolment.max_addresses,
    )
    for a in others[: settings.enrolment.max_addresses - 1]:
        await _enrol(sandbox, where=f"{a['postcode']} {a['house_number']}")
    last = others[-1]
    assert "already have" in await _reply(sandbox, f"VISIT {last['postcode']} {last['house_number']}")
    await db.execute(
        "UPDATE resident_addresses SET visit_until = now() - interval '1 hour' WHERE id = "
        "(SELECT max(id) FROM resident_addresses)"
    )
    assert "Until " in await _reply(sandbox, f"VISIT {last['postcode']} {last['house_number']}")


# ------------------------------------------------------------------ bulletins, windows, audit


async def test_bulletin_opt_in(client, sandbox, db):
    await _enrol(sandbox)
    assert (await _resident(db))["bulletins_opt_in"] is False  # off by default
    assert "nieuwsberichten uit uw buurt" in await _reply(sandbox, "BERICHTEN AAN")
    assert (await _resident(db))["bulletins_opt_in"] is True
    assert "geen nieuwsberichten meer" in await _reply(sandbox, "berichten   uit")
    assert (await _resident(db))["bulletins_opt_in"] is False
    await db.execute("UPDATE residents SET language = 'en'")
    assert "neighbourhood" in await _reply(sandbox, "messages on")
    assert "no longer get" in await _reply(sandbox, "MESSAGES OFF.")


@pytest.mark.parametrize(
    ("window", "targeted"),
    [
        ('[{"days": [1,2,3,4,5,6,7], "start": "00:00", "end": "23:59"}]', True),
        ("[]", True),
        ('[{"days": [], "start": "00:00", "end": "23:59"}]', False),
    ],
)
async def test_time_windows_limit_targeting(client, sandbox, db, op, window, targeted):
    await _enrol(sandbox)
    await db.execute("UPDATE resident_addresses SET time_windows = $1::text::jsonb", window)
    home = circle(await address(db, "9991AA", 75), 100)
    assert await _total(client, op, home) == (1 if targeted else 0)
    assert await _total(client, op, home, "missing_child") == (1 if targeted else 0)


async def test_window_function_by_weekday_and_hour(db):
    werk = json.dumps([{"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"}])
    night = json.dumps([{"days": [5], "start": "22:00", "end": "06:00"}])
    cases = [
        (werk, "2026-12-07 09:00", True),  # Monday
        (werk, "2026-12-07 18:00", False),
        (werk, "2026-12-05 10:00", False),  # Saturday
        (night, "2026-12-04 23:00", True),  # Friday night
        (night, "2026-12-05 05:00", True),  # the same night, Saturday morning
        (night, "2026-12-06 05:00", False),  # Sunday morning
    ]
    for windows, at, expected in cases:
        got = await db.fetchval(
            "SELECT resident_window_open($1::text::jsonb, ($2 || ' Europe/Amsterdam')::timestamptz)",
            windows,
            at,
        )
        assert got is expected, (windows, at)


async def test_self_service_is_audited_without_the_number(client, sandbox, db):
    await _enrol(sandbox)
    for body in (
        "SPRAAK",
        "ENGLISH",
        "PAUZE 2",
        "HERVAT",
        "BEZOEK 9993BL 12",
        "BERICHTEN AAN",
        "VERHUIS 9993BL 13",
        "JA",
        "VERWIJDER 2",
    ):
        await sandbox.sms(PHONE, body)
    rows = await db.fetch(
        "SELECT actor, action, object_id, details::text AS details FROM audit_log "
        "WHERE action LIKE 'resident.%' ORDER BY id"
    )
    actions = [r["action"] for r in rows]
    assert actions == [
        "resident.channel",
        "resident.language",
        "resident.pause",
        "resident.resume",
        "resident.visit",
        "resident.bulletins",
        "resident.move.requested",
        "resident.move.confirmed",
        "resident.address.removed",
    ], actions
    rid = str((await _resident(db))["id"])
    for r in rows:
        assert r["object_id"] == rid
        assert "612345678" not in f"{r['actor']} {r['details']}"
