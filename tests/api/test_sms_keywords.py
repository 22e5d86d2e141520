"""SMS keywords through the signed webhook (sent by the simulator), replies as TwiML,
idempotency by MessageSid, forged signatures, erasure and the AVG export."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import aiohttp

from burgerwacht.messaging import analyse, sign
from tests.helpers.service import SERVICE_NUMBER, TEST_TOKEN

PHONE = "+31612345678"


async def test_aanmelden_by_sms_places_the_resident(client, sandbox, db):
    result = await sandbox.sms(PHONE, "aanmelden 9993bl 12")
    assert result["status"] == 200
    assert "Welkom bij Burgerwacht" in result["reply"] and "9993 BL 12" in result["reply"]
    row = await db.fetchrow(
        "SELECT r.status, a.buurt_code, ra.channels FROM residents r JOIN resident_addresses ra ON ra.resident_id = r.id "
        "JOIN addresses a ON a.id = ra.address_id WHERE r.phone = $1",
        PHONE,
    )
    assert row["status"] == "active" and row["buurt_code"] == "BU99990302" and row["channels"] == ["sms"]
    again = await sandbox.sms(PHONE, "AANMELDEN 9993 BL 12")
    assert "al aangemeld" in again["reply"]
    assert await db.fetchval("SELECT count(*) FROM resident_addresses") == 1


async def test_keyword_replies(client, sandbox, db):
    cases = [
        ("AANMELDEN", "Stuur AANMELDEN gevolgd door"),
        ("aanmelden 1011 AB 1", "niet gevonden"),
        ("START", "niet aangemeld"),
        ("info", "AANMELDEN postcode huisnr"),
        ("HELP!", "AANMELDEN postcode huisnr"),
        ("blablabla", "uw tip is doorgegeven"),
    ]
    for body, expected in cases:
        result = await sandbox.sms(PHONE, body)
        assert expected in result["reply"], (body, result)
        info = analyse(result["reply"])
        # HELP lists every keyword (issue 19): at most two segments; the rest fit in one
        limit = 2 if body in ("info", "HELP!") else 1
        assert info.encoding == "GSM-7" and info.segments <= limit, (body, result["reply"])
    assert await db.fetchval("SELECT count(*) FROM residents") == 0


async def test_stop_then_start(client, sandbox, db):
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    result = await sandbox.sms(PHONE, "  Stop. ")
    assert "geen berichten meer" in result["reply"]
    assert await db.fetchval("SELECT status FROM residents WHERE phone = $1", PHONE) == "stopped"
    # a stopped resident is out of every active recipient set
    active = await db.fetchval("SELECT count(*) FROM residents WHERE status = 'active'")
    assert active == 0
    result = await sandbox.sms(PHONE, "start")
    assert "weer berichten" in result["reply"]
    assert await db.fetchval("SELECT status FROM residents WHERE phone = $1", PHONE) == "active"
    for word in ("AFMELDEN", "unsubscribe", "STOPALL"):
        await sandbox.sms(PHONE, word)
        assert await db.fetchval("SELECT status FROM residents WHERE phone = $1", PHONE) == "stopped"
        await sandbox.sms(PHONE, "START")


async def test_a_tip_starting_with_stop_is_not_an_opt_out(client, sandbox, db):
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    await sandbox.sms(PHONE, "stop die man in de rode jas")
    assert await db.fetchval("SELECT status FROM residents WHERE phone = $1", PHONE) == "active"


async def test_provider_retry_with_the_same_sid_is_handled_once(client, sandbox, db):
    first = await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    await sandbox.sms(PHONE, "STOP")
    # Twilio retries the first webhook (same MessageSid): same reply, no second effect
    retry = await sandbox.sms(PHONE, "AANMELDEN 9991AA 75", message_sid=first["message_sid"])
    assert retry["reply"] == first["reply"]
    assert await db.fetchval("SELECT status FROM residents WHERE phone = $1", PHONE) == "stopped"


async def test_concurrent_duplicates_are_handled_once(client, sandbox, db, settings):
    import asyncio

    url = f"{settings.public_base}/twilio/sms"
    params = {
        "MessageSid": "SM" + "a" * 32,
        "From": PHONE,
        "To": SERVICE_NUMBER,
        "Body": "AANMELDEN 9991AA 75",
    }
    headers = {"X-Twilio-Signature": sign(TEST_TOKEN, url, params)}
    async with aiohttp.ClientSession() as http:

        async def post():
            async with http.post(url, data=params, headers=headers) as resp:
                return resp.status, await resp.text()

        results = await asyncio.gather(*(post() for _ in range(10)))
    assert {status for status, _ in results} == {200}
    assert len({body for _, body in results}) == 1
    assert (
        await db.fetchval("SELECT count(*) FROM stats_counters WHERE name = 'enrolments_sms' AND value = 1")
        == 1
    )


async def test_forged_or_missing_signature_is_403_and_changes_nothing(client, settings, db):
    url = f"{settings.public_base}/twilio/sms"
    params = {
        "MessageSid": "SM" + "b" * 32,
        "From": PHONE,
        "To": SERVICE_NUMBER,
        "Body": "AANMELDEN 9991AA 75",
    }
    async with aiohttp.ClientSession() as http:
        for headers in (
            {},
            {"X-Twilio-Signature": sign("wrong-token-123456", url, params)},
            {"X-Twilio-Signature": sign(TEST_TOKEN, url, {**params, "Body": "STOP"})},
        ):
            async with http.post(url, data=params, headers=headers) as resp:
                assert resp.status == 403
                assert resp.content_type == "application/problem+json"
    assert await db.fetchval("SELECT count(*) FROM residents") == 0
    assert await db.fetchval("SELECT count(*) FROM inbound_messages") == 0


async def test_signature_uses_public_url_behind_a_proxy(sandbox, db_url, service_port, sandbox_port):
    """Behind a TLS proxy the service sees http://127.0.0.1:port but Twilio signed https://public."""
    from aiohttp.test_utils import TestClient, TestServer

    from burgerwacht.web.app import create_app
    from tests.helpers.service import make_settings

    settings = make_settings(db_url, service_port, sandbox_port, public_url="https://alerts.example.nl")
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1", port=service_port)) as c:
        params = {"MessageSid": "SM" + "c" * 32, "From": PHONE, "To": SERVICE_NUMBER, "Body": "INFO"}
        good = sign(TEST_TOKEN, "https://alerts.example.nl/twilio/sms", params)
        resp = await c.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": good})
        assert resp.status == 200 and "AANMELDEN" in await resp.text()
        local = sign(TEST_TOKEN, f"http://127.0.0.1:{service_port}/twilio/sms", params)
        resp = await c.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": local})
        assert resp.status == 403


# ------------------------------------------------------------------ erasure and export


async def _tables_mentioning(db, needle: str) -> list[str]:
    tables = [
        r[0]
        for r in await db.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
    ]
    found = []
    for t in tables:
        hit = await db.fetchval(f'SELECT count(*) FROM "{t}" x WHERE x::text LIKE $1', f"%{needle}%")
        if hit:
            found.append(t)
    return found


async def test_verwijder_erases_all_personal_data(client, sandbox, db):
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    await client.post(
        "/api/v1/enrolments", json={"phone": "06 12345678", "postcode": "9991AA", "house_number": 76}
    )
    assert set(await _tables_mentioning(db, "612345678")) >= {"residents", "enrolments", "code_requests"}
    result = await sandbox.sms(PHONE, "VERWIJDER")
    assert "verwijderd" in result["reply"]
    assert await _tables_mentioning(db, "612345678") == []
    assert await db.fetchval("SELECT count(*) FROM resident_addresses") == 0
    assert await db.fetchval("SELECT value FROM stats_counters WHERE name = 'residents_erased'") == 1


async def test_admin_erasure_by_api_is_audited(client, sandbox, db, staff):
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    resident_id = await db.fetchval("SELECT id FROM residents")
    operator = await staff("operator", "GM9999")
    resp = await client.delete(f"/api/v1/residents/{resident_id}", headers=operator)
    assert resp.status == 403
    admin = await staff("admin", "GM9999")
    resp = await client.get(f"/api/v1/residents/{resident_id}", headers=admin)
    assert resp.status == 200 and (await resp.json())["phone"] == "+31 6 ****5678"
    resp = await client.delete(f"/api/v1/residents/{resident_id}", headers=admin)
    assert resp.status == 200
    assert await _tables_mentioning(db, "612345678") == []
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'resident.erase'") == 1
    resp = await client.delete(f"/api/v1/residents/{resident_id}", headers=admin)
    assert resp.status == 404


async def test_export_lists_everything_held(client, sandbox, db_url):
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    proc = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "resident", "export", "--phone", "06-12345678"],
        env={"BURGERWACHT_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["phone"] == PHONE and doc["resident"]["status"] == "active"
    assert doc["addresses"][0]["address"] == "9991 AA 75"
    assert doc["addresses"][0]["buurt_code"] == "BU99990101"


async def test_phone_numbers_never_reach_the_logs(client, sandbox):
    """The production logging set-up (JSON lines, masking filter) at DEBUG level."""
    import io

    from burgerwacht.logs import setup_logging

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    setup_logging("DEBUG", True, stream)
    try:
        logging.getLogger("test").info("resident %s texted", PHONE)  # what careless code might do
        await client.post(
            "/api/v1/enrolments", json={"phone": "06 12345678", "postcode": "9991AA", "house_number": 75}
        )
        await sandbox.scenario(error_rate=1.0)
        await client.post(
            "/api/v1/enrolments", json={"phone": "06 12345678", "postcode": "9991AA", "house_number": 76}
        )
        await sandbox.scenario(error_rate=0.0)
        await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
        await sandbox.sms(PHONE, "VERWIJDER")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    lines = stream.getvalue().splitlines()
    assert len(lines) > 5
    for line in lines:
        json.loads(line)  # one JSON object per line
    text = stream.getvalue()
    assert "+31 6 ****5678" in text
    for needle in ("612345678", "12345678", "06 12345678"):
        assert needle not in text


async def test_admin_sees_and_erases_only_residents_in_scope(client, sandbox, db, staff):
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    resident_id = await db.fetchval("SELECT id FROM residents")
    other = await staff("admin", "GM0363")
    assert (await client.get(f"/api/v1/residents/{resident_id}", headers=other)).status == 404
    assert (await client.delete(f"/api/v1/residents/{resident_id}", headers=other)).status == 404
    assert await db.fetchval("SELECT count(*) FROM residents") == 1


async def test_retention_of_resident_records(client, sandbox, db):
    from burgerwacht.residents.jobs import purge_resident_records

    await client.post(
        "/api/v1/enrolments", json={"phone": "06 12345678", "postcode": "9991AA", "house_number": 75}
    )
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 76")
    await db.execute("UPDATE code_requests SET at = now() - interval '2 days'")
    await db.execute("UPDATE enrolments SET expires_at = now() - interval '8 days'")
    await db.execute("UPDATE inbound_messages SET received_at = now() - interval '8 days'")
    result = await purge_resident_records(client.app)
    assert result["code_requests"] == 1 and result["enrolments"] == 1 and result["replies"] == 1
    assert await _tables_mentioning(db, "9991 AA 76") == []
