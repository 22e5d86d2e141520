"""Tips end to end: linking to alerts, anonymous relay, voice tip line, idempotency,
live events, scope, retention, erasure, and a burst of 2,000 concurrent webhooks."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import aiohttp
import pytest

from burgerwacht.messaging import sign
from burgerwacht.residents import keywords
from burgerwacht.tips.models import TipOut
from tests.helpers.alerting import alert_body, create_and_send, enrol, settled, wait_until
from tests.helpers.service import SERVICE_NUMBER, TEST_TOKEN

TIPSTER = "+31611112222"


@pytest.fixture
def service_roles():
    return {"web", "worker"}


async def _alert_received(client, db, op, buurt="BU99990101", **kw):
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": [buurt]}, **kw))
    await settled(client, op, alert["id"])
    return alert


@pytest.fixture
async def tipster(db):
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    return await enrol(db, TIPSTER, aid)


async def test_tip_links_to_the_alert_received(client, sandbox, db, op, tipster):
    alert = await _alert_received(client, db, op)
    result = await sandbox.sms(TIPSTER, "Ik zie de man bij het station, richting centrum")
    assert result["reply"] == "Bedankt, uw tip is doorgegeven. Bel 112 bij direct gevaar."
    tips = (await (await client.get(f"/api/v1/alerts/{alert['id']}/tips", headers=op)).json())["items"]
    assert len(tips) == 1
    tip = tips[0]
    assert tip["alert_id"] == alert["id"] and tip["reference"] == alert["reference"]
    assert tip["channel"] == "sms" and tip["phone"] == TIPSTER and not tip["anonymous"]
    assert tip["text"].startswith("Ik zie de man") and tip["status"] == "new"


async def test_two_alerts_reference_or_question(client, sandbox, db, op, tipster):
    a1 = await _alert_received(client, db, op)
    a2 = await _alert_received(
        client, db, op, title="Vermist kind", level="missing_child", family_consent=True
    )
    result = await sandbox.sms(TIPSTER, f"{a1['reference'].lower()}: fiets staat bij de kerk")
    assert "doorgegeven" in result["reply"]
    result = await sandbox.sms(TIPSTER, "het kind loopt bij de markt")
    assert "Over welk bericht" in result["reply"]
    assert a1["reference"] in result["reply"] and a2["reference"] in result["reply"]
    rows = await db.fetch("SELECT alert_id, candidate_alerts, text FROM tips ORDER BY id")
    assert rows[0]["alert_id"] == a1["id"] and rows[0]["text"] == "fiets staat bij de kerk"
    assert rows[1]["alert_id"] is None and sorted(rows[1]["candidate_alerts"]) == sorted([a1["id"], a2["id"]])
    # the unlinked tip is kept for the operators of both alerts
    listed = (await (await client.get("/api/v1/tips", params={"alert": a2["id"]}, headers=op)).json())[
        "items"
    ]
    assert [t["text"] for t in listed] == ["het kind loopt bij de markt"]


async def test_no_active_alert_goes_to_the_general_queue(client, sandbox, db, op, tipster):
    result = await sandbox.sms(TIPSTER, "Er staat al dagen een verdachte bus in de straat")
    assert "doorgegeven" in result["reply"]
    tips = (await (await client.get("/api/v1/tips", headers=op)).json())["items"]
    assert len(tips) == 1 and tips[0]["alert_id"] is None
    assert await db.fetchval("SELECT municipalities FROM tips") == ["GM9999"]


async def test_anonymous_tip_and_relay_round_trip(client, sandbox, db, op, tipster):
    alert = await _alert_received(client, db, op)
    result = await sandbox.sms(TIPSTER, "ANONIEM de man woont op nummer 12")
    assert "doorgegeven" in result["reply"]
    row = await db.fetchrow("SELECT * FROM tips")
    assert row["anonymous"] and row["phone"] is None and row["resident_id"] is None
    assert row["alert_id"] == alert["id"] and row["text"] == "de man woont op nummer 12"
    for table in ("tips", "tip_relay"):
        dump = await db.fetchval(f"SELECT coalesce(json_agg(t)::text, '') FROM {table} t")
        assert "11112222" not in dump
    resp = await client.get(f"/api/v1/tips/{row['id']}", headers=op)
    body = await resp.text()
    assert resp.status == 200 and "11112222" not in body and json.loads(body)["phone"] is None
    resp = await client.post(
        f"/api/v1/tips/{row['id']}/reply", json={"message": "Dank u. Welk huisnummer precies?"}, headers=op
    )
    assert resp.status == 200, await resp.text()
    assert "11112222" not in await resp.text()
    replies = [m for m in await sandbox.outbound(TIPSTER) if "Welk huisnummer" in m["body"]]
    assert len(replies) == 1 and replies[0]["body"].startswith("Burgerwacht: ")
    # after the relay is purged the operator can no longer reach the tipster
    await db.execute("UPDATE tip_relay SET created_at = now() - interval '4 days'")
    from burgerwacht.tips.jobs import purge_tips

    await purge_tips(client.app)
    resp = await client.post(f"/api/v1/tips/{row['id']}/reply", json={"message": "Nog iets?"}, headers=op)
    assert resp.status == 410


async def test_voice_tip_line_recording(client, sandbox, db, op, tipster):
    alert = await _alert_received(client, db, op)
    resp = await sandbox.client.post("/sandbox/inbound/call", json={"from": TIPSTER, "record_seconds": 17})
    call = await resp.json()
    said = " ".join(str(s) for s in call["transcript"])
    assert "tiplijn" in said and "Bedankt" in said
    tip = await db.fetchrow("SELECT * FROM tips")
    assert tip["channel"] == "voice" and tip["alert_id"] == alert["id"]
    assert tip["recording_url"] == call["recordings"][0]["url"] and tip["recording_seconds"] == 17
    assert tip["phone"] == TIPSTER
    # an anonymous caller leaves an anonymous tip
    await sandbox.client.post("/sandbox/inbound/call", json={"from": "anonymous"})
    assert await db.fetchval("SELECT count(*) FROM tips WHERE anonymous AND phone IS NULL") == 1


async def test_sms_and_voice_tips_link_alike(client, sandbox, db, op, tipster):
    """Linking exists once (tip_link, sql/functions/tips.sql): with two active alerts and
    no reference, an SMS tip and a voice tip both stay unlinked with the same candidates;
    with none, both go to the sender's municipality."""
    await sandbox.sms(TIPSTER, "Er staat al dagen een verdachte bus in de straat")
    await sandbox.client.post("/sandbox/inbound/call", json={"from": TIPSTER, "record_seconds": 5})
    a1 = await _alert_received(client, db, op)
    a2 = await _alert_received(
        client, db, op, title="Vermist kind", level="missing_child", family_consent=True
    )
    await sandbox.sms(TIPSTER, "het kind loopt bij de markt")
    await sandbox.client.post("/sandbox/inbound/call", json={"from": TIPSTER, "record_seconds": 5})
    rows = await db.fetch(
        "SELECT channel, alert_id, candidate_alerts, municipalities, resident_id FROM tips ORDER BY id"
    )
    assert [r["channel"] for r in rows] == ["sms", "voice", "sms", "voice"]
    assert all(r["alert_id"] is None and r["municipalities"] == ["GM9999"] for r in rows)
    assert all(r["resident_id"] == tipster for r in rows)
    assert rows[0]["candidate_alerts"] is None and rows[1]["candidate_alerts"] is None
    assert rows[2]["candidate_alerts"] == rows[3]["candidate_alerts"]
    assert sorted(rows[3]["candidate_alerts"]) == sorted([a1["id"], a2["id"]])


async def test_the_sms_intake_records_the_command_kind(client, sandbox, db, tipster):
    """The intake's SQL stores the kind Python names (keywords.kind), not a copy of it."""
    await sandbox.sms(TIPSTER, "ANONIEM de man woont op nummer 12")
    await sandbox.sms(TIPSTER, "rode auto")
    kinds = [r["kind"] for r in await db.fetch("SELECT kind FROM inbound_messages ORDER BY received_at")]
    assert kinds == [keywords.kind(keywords.AnonymousTip("")), keywords.kind(keywords.FreeText(""))]


async def test_digit_2_in_an_alert_call_records_a_tip_for_that_alert(client, sandbox, db, op):
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    await enrol(db, TIPSTER, aid, channels=("voice",))
    await sandbox.scenario(call_digits={TIPSTER: "2"})
    alert = await create_and_send(
        client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}, channels=["voice"])
    )

    async def tipped():
        return await db.fetchrow("SELECT alert_id, channel FROM tips")

    tip = await wait_until(tipped, timeout=15)
    assert tip["alert_id"] == alert["id"] and tip["channel"] == "voice"


async def test_provider_retries_never_create_a_second_tip(client, sandbox, db, op, tipster, settings):
    first = await sandbox.sms(TIPSTER, "rode auto met kenteken XX-123-Y")
    again = await sandbox.sms(TIPSTER, "rode auto met kenteken XX-123-Y", message_sid=first["message_sid"])
    assert again["reply"] == first["reply"]
    assert await db.fetchval("SELECT count(*) FROM tips") == 1
    # a recording callback delivered twice (as providers do) makes one tip
    await sandbox.client.post("/sandbox/inbound/call", json={"from": TIPSTER})
    recording = await db.fetchrow(
        "SELECT provider_sid, recording_url, recording_seconds FROM tips WHERE channel = 'voice'"
    )
    call_sid = await db.fetchval("SELECT call_sid FROM tip_calls")
    url = f"{settings.public_base}/twilio/voice/recording"
    params = {
        "RecordingSid": recording["provider_sid"],
        "RecordingUrl": recording["recording_url"],
        "RecordingDuration": str(recording["recording_seconds"]),
        "CallSid": call_sid,
        "RecordingStatus": "completed",
        "AccountSid": "x",
    }
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(
                url, data=params, headers={"X-Twilio-Signature": sign(TEST_TOKEN, url, params)}
            ) as r:
                assert r.status == 204
    assert await db.fetchval("SELECT count(*) FROM tips") == 2


async def test_tips_arrive_on_the_event_streams_within_a_second(client, sandbox, db, op, tipster):
    alert = await _alert_received(client, db, op)
    alert_stream = await client.get(f"/api/v1/alerts/{alert['id']}/events", headers=op)
    feed = await client.get("/api/v1/tips/events", headers=op)
    await alert_stream.content.readuntil(b"\n\n")  # the initial progress
    await feed.content.readuntil(b"\n\n")  # ": connected"
    started = time.monotonic()
    await sandbox.sms(TIPSTER, "man rent richting het park")
    async with asyncio.timeout(5):
        while True:
            chunk = (await alert_stream.content.readuntil(b"\n\n")).decode()
            if chunk.startswith("event: tip"):
                break
        feed_chunk = (await feed.content.readuntil(b"\n\n")).decode()
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, elapsed
    assert "richting het park" in chunk and "richting het park" in feed_chunk
    alert_stream.close()
    feed.close()


async def test_the_sql_built_live_tip_is_a_tip_out(client, sandbox, db, op, tipster):
    """The SMS intake builds its live event in SQL (sql/functions/tips.sql) for speed;
    it must say what TipOut says for the same tip, field for field."""
    alert = await _alert_received(client, db, op)
    feed = await client.get("/api/v1/tips/events", headers=op)
    await feed.content.readuntil(b"\n\n")  # ": connected"
    await sandbox.sms(TIPSTER, "man rent richting het park")
    async with asyncio.timeout(5):
        chunk = (await feed.content.readuntil(b"\n\n")).decode()
    feed.close()
    live = json.loads(chunk.split("data: ", 1)[1])
    stored = await (await client.get(f"/api/v1/tips/{live['id']}", headers=op)).json()
    assert set(live) == set(TipOut.model_fields)
    assert datetime.fromisoformat(live.pop("received_at")) == datetime.fromisoformat(
        stored.pop("received_at")
    )
    assert live == {k: stored[k] for k in live}
    assert live["alert_id"] == alert["id"]


async def test_scope_and_roles(client, sandbox, db, op, staff, tipster):
    await sandbox.sms(TIPSTER, "verdachte situatie bij de school")
    tip_id = await db.fetchval("SELECT id FROM tips")
    other = await staff("operator", "GM0363")
    assert (await (await client.get("/api/v1/tips", headers=other)).json())["items"] == []
    assert (await client.get(f"/api/v1/tips/{tip_id}", headers=other)).status == 404
    assert (
        await client.patch(f"/api/v1/tips/{tip_id}", json={"status": "read"}, headers=other)
    ).status == 404
    analyst = await staff("analyst", "GM9999")
    assert (await client.get("/api/v1/tips", headers=analyst)).status == 403
    assert (await client.get(f"/api/v1/tips/{tip_id}", headers=analyst)).status == 403


async def test_status_flow_and_audit(client, sandbox, db, op, tipster):
    await sandbox.sms(TIPSTER, "verdachte situatie bij de school")
    tip_id = await db.fetchval("SELECT id FROM tips")
    resp = await client.patch(f"/api/v1/tips/{tip_id}", json={"status": "read"}, headers=op)
    assert resp.status == 200 and (await resp.json())["status"] == "read"
    resp = await client.patch(
        f"/api/v1/tips/{tip_id}", json={"status": "useful", "note": "doorgezet naar unit"}, headers=op
    )
    assert (await resp.json())["note"] == "doorgezet naar unit"
    resp = await client.patch(f"/api/v1/tips/{tip_id}", json={"status": "new"}, headers=op)
    assert resp.status == 409
    resp = await client.patch(f"/api/v1/tips/{tip_id}", json={"status": "maybe"}, headers=op)
    assert resp.status == 422
    await client.post(f"/api/v1/tips/{tip_id}/reply", json={"message": "Dank u wel"}, headers=op)
    actions = [
        r[0] for r in await db.fetch("SELECT action FROM audit_log WHERE object_type = 'tip' ORDER BY id")
    ]
    assert actions == ["tip.update", "tip.update", "tip.reply"]
    details = await db.fetchval("SELECT details::text FROM audit_log WHERE action = 'tip.reply'")
    assert "11112222" not in details and "Dank" not in details


async def test_retention_and_erasure(client, sandbox, db, op, tipster):
    await sandbox.sms(TIPSTER, "oude tip over een inbraak")
    await sandbox.sms(TIPSTER, "nieuwe tip over een auto")
    await db.execute("UPDATE tips SET received_at = now() - interval '100 days' WHERE text LIKE 'oude%'")
    from burgerwacht.tips.jobs import purge_tips

    result = await purge_tips(client.app)
    assert result["tips_erased"] == 1
    old = await db.fetchrow(
        "SELECT text, phone, erased_at FROM tips WHERE received_at < now() - interval '99 days'"
    )
    assert old["text"] is None and old["phone"] is None and old["erased_at"] is not None
    await sandbox.sms(TIPSTER, "ANONIEM nog een")
    # VERWIJDER removes the number from the tips, the relay and the resident
    await sandbox.sms(TIPSTER, "VERWIJDER")
    assert await db.fetchval("SELECT count(*) FROM tips WHERE phone IS NOT NULL") == 0
    assert await db.fetchval("SELECT count(*) FROM tip_relay") == 0
    assert await db.fetchval("SELECT count(*) FROM tips WHERE text = 'nieuwe tip over een auto'") == 1


@pytest.fixture
def settings_overrides():
    return {"database": {"pool_max": 20}}


async def test_burst_of_2000_signed_tips(client, sandbox, db, settings):
    url = f"{settings.public_base}/twilio/sms"
    n = 2000
    payloads = []
    for i in range(n):
        params = {
            "MessageSid": f"SM{i:032x}",
            "From": f"+316300{i:05d}",
            "To": SERVICE_NUMBER,
            "Body": f"tip nummer {i}: verdachte auto",
        }
        payloads.append((params, sign(TEST_TOKEN, url, params)))
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:

        async def post(params, signature):
            async with http.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
                return resp.status, await resp.text()

        results = await asyncio.gather(*(post(p, s) for p, s in payloads))
    elapsed = time.monotonic() - started
    print(f"{n} tips in {elapsed:.2f} s = {n / elapsed:.0f}/s")
    assert [s for s, _ in results].count(200) == n
    assert all("doorgegeven" in body for _, body in results)
    assert await db.fetchval("SELECT count(*) FROM tips") == n
    assert await db.fetchval("SELECT count(DISTINCT provider_sid) FROM tips") == n


async def test_burst_with_duplicates_goes_in_batches_and_stores_each_tip_once(client, sandbox, db, settings):
    """Tips arriving together are stored in shared transactions (group commit); the same
    MessageSid delivered several times at once, in one batch or in several, is one tip
    and every copy gets the same reply."""
    from burgerwacht.web.keys import LAZY

    url = f"{settings.public_base}/twilio/sms"
    payloads = []
    for i in range(300):
        params = {
            "MessageSid": f"SM{i % 100:032x}",  # each sid three times
            "From": f"+316310{i % 100:05d}",
            "To": SERVICE_NUMBER,
            "Body": f"tip {i % 100}: man met rugzak",
        }
        payloads.append((params, sign(TEST_TOKEN, url, params)))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as http:

        async def post(params, signature):
            async with http.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
                return resp.status, params["MessageSid"], await resp.text()

        results = await asyncio.gather(*(post(p, s) for p, s in payloads))
    assert {status for status, _, _ in results} == {200}
    replies: dict[str, set[str]] = {}
    for _, sid, body in results:
        replies.setdefault(sid, set()).add(body)
    assert all(len(bodies) == 1 and "doorgegeven" in next(iter(bodies)) for bodies in replies.values())
    assert await db.fetchval("SELECT count(*) FROM tips") == 100
    assert await db.fetchval("SELECT count(*) FROM inbound_messages") == 100
    assert client.server.app[LAZY]["tip-intake"].largest > 1  # they did share transactions
