"""Residents end to end: enrolment by API (code by SMS or voice) and by SMS keywords,
limits, placement in buurten, STOP/START, erasure and access export — against the
simulator over HTTP with signed webhooks and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re

import pytest

from burgerwacht.messaging import analyse

MOBILE = "+31612345678"
ADDRESS = {"postcode": "9991 aa", "house_number": 75}  # Binnenstad, BU99990101
ENCLAVE = {"postcode": "9993BL", "house_number": 12}  # Eiland: inside Havenkom's hole


def enrol_body(phone: str = "06 12345678", **kw):
    return {"phone": phone, **ADDRESS, **kw}


async def code_sent_to(sandbox, phone: str) -> str:
    messages = await sandbox.outbound(phone)
    assert messages, f"no SMS to {phone}"
    match = re.search(r"\b(\d{6})\b", messages[-1]["body"])
    assert match, messages[-1]["body"]
    return match.group(1)


async def enrol_and_verify(client, sandbox, phone_typed="06 12345678", e164=MOBILE, **kw):
    resp = await client.post("/api/v1/enrolments", json=enrol_body(phone_typed, **kw))
    assert resp.status == 202, await resp.text()
    pending = await resp.json()
    code = await code_sent_to(sandbox, e164)
    resp = await client.post(f"/api/v1/enrolments/{pending['id']}/verify", json={"code": code})
    assert resp.status == 200, await resp.text()
    return pending, await resp.json()


# ------------------------------------------------------------------ API enrolment


async def test_enrolment_by_api_happy_path(client, sandbox, db):
    resp = await client.post(
        "/api/v1/enrolments", json=enrol_body(label="werk", quiet_hours={"start": "23:00", "end": "07:00"})
    )
    assert resp.status == 202
    pending = await resp.json()
    assert pending["status"] == "pending_verification"
    assert pending["phone"] == "+31 6 ****5678"  # never echoed in full
    assert pending["address"] == "9991 AA 75"
    assert pending["code_sent_by"] == "sms" and pending["channels"] == ["sms"]
    sms = (await sandbox.outbound(MOBILE))[-1]
    assert "Burgerwacht-code" in sms["body"] and analyse(sms["body"]).segments == 1
    assert sms["validity_period"] == 600
    code = re.search(r"\d{6}", sms["body"]).group(0)
    # the code is stored hashed only
    stored = await db.fetchrow("SELECT code_hash, code_cipher FROM enrolments")
    assert code.encode() not in bytes(stored["code_hash"]) and stored["code_cipher"] is None

    resp = await client.post(f"/api/v1/enrolments/{pending['id']}/verify", json={"code": code})
    assert resp.status == 200
    resident = await resp.json()
    assert resident["status"] == "active"
    assert resident["addresses"] == [
        {
            "label": "werk",
            "address": "9991 AA 75",
            "buurt_code": "BU99990101",
            "channels": ["sms"],
            "quiet_hours": {"start": "23:00:00", "end": "07:00:00"},
        }
    ]
    row = await db.fetchrow("SELECT phone, status FROM residents")
    assert row["phone"] == MOBILE and row["status"] == "active"
    # verifying again with the same code is idempotent, a used code does not work for others
    resp = await client.post(f"/api/v1/enrolments/{pending['id']}/verify", json={"code": code})
    assert resp.status == 200
    assert await db.fetchval("SELECT count(*) FROM resident_addresses") == 1


async def test_address_in_an_enclave_is_placed_in_the_enclave(client, sandbox):
    _, resident = await enrol_and_verify(client, sandbox, **ENCLAVE)
    assert resident["addresses"][0]["buurt_code"] == "BU99990302"


async def test_enrolling_the_same_address_twice_is_idempotent(client, sandbox, db):
    await enrol_and_verify(client, sandbox)
    await enrol_and_verify(client, sandbox, phone_typed="+31 6 1234 5678")
    assert await db.fetchval("SELECT count(*) FROM residents") == 1
    assert await db.fetchval("SELECT count(*) FROM resident_addresses") == 1


@pytest.mark.parametrize(
    ("body", "status", "slug", "dutch"),
    [
        (enrol_body("12345"), 422, "invalid-phone", "ongeldig"),
        (enrol_body("+32 470 12 34 56"), 422, "invalid-phone", "Nederlandse"),
        ({**enrol_body(), "postcode": "9991 SA"}, 422, "invalid-address", "bestaat niet"),
        ({**enrol_body(), "postcode": "99"}, 422, "invalid-address", "postcode"),
        ({**enrol_body(), "postcode": "1011 AB"}, 422, "unknown-address", "niet gevonden"),
        ({**enrol_body(), "house_number": 9999}, 422, "unknown-address", "niet gevonden"),
        ({**enrol_body(), "house_number": "abc"}, 422, "invalid-address", "huisnummer"),
        (enrol_body("020 123 4567", channels=["sms"]), 422, "landline-sms", "sms"),
    ],
)
async def test_bad_enrolments_get_a_dutch_422_and_write_nothing(
    client, sandbox, db, body, status, slug, dutch
):
    resp = await client.post("/api/v1/enrolments", json=body)
    assert resp.status == status, await resp.text()
    problem = await resp.json()
    assert problem["type"].endswith("/" + slug)
    assert dutch.lower() in problem["detail"].lower()
    assert problem["message_nl"] and problem["message_en"]
    assert await db.fetchval("SELECT count(*) FROM enrolments") == 0
    assert await sandbox.outbound() == []


async def test_schema_errors_are_422_with_field_paths(client):
    resp = await client.post(
        "/api/v1/enrolments",
        json={"phone": "0612345678", "channels": ["fax"], "quiet_hours": {"start": "25:00", "end": "07:00"}},
    )
    assert resp.status == 422
    locs = {e["loc"] for e in (await resp.json())["errors"]}
    assert {"body.postcode", "body.house_number", "body.channels.0", "body.quiet_hours.start"} <= locs


async def test_english_resident_gets_english_problem(client, sandbox):
    resp = await client.post(
        "/api/v1/enrolments", json={**enrol_body(), "postcode": "1011 AB", "language": "en"}
    )
    assert resp.status == 422
    assert "not found" in (await resp.json())["detail"]


async def test_wrong_codes_are_counted_and_lock_after_five(client, sandbox, db):
    resp = await client.post("/api/v1/enrolments", json=enrol_body())
    pending = await resp.json()
    code = await code_sent_to(sandbox, MOBILE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1, 0):
        resp = await client.post(f"/api/v1/enrolments/{pending['id']}/verify", json={"code": wrong})
        assert resp.status == 422
        assert (await resp.json())["attempts_left"] == left
    resp = await client.post(f"/api/v1/enrolments/{pending['id']}/verify", json={"code": code})
    assert resp.status == 410
    assert (await resp.json())["type"].endswith("/too-many-attempts")
    assert await db.fetchval("SELECT count(*) FROM residents") == 0


async def test_expired_code_is_410(client, sandbox, db):
    resp = await client.post("/api/v1/enrolments", json=enrol_body())
    pending = await resp.json()
    code = await code_sent_to(sandbox, MOBILE)
    await db.execute("UPDATE enrolments SET expires_at = now() - interval '1 second'")
    resp = await client.post(f"/api/v1/enrolments/{pending['id']}/verify", json={"code": code})
    assert resp.status == 410
    assert "verlopen" in (await resp.json())["detail"]


async def test_unknown_enrolment_is_404(client):
    for path in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        resp = await client.post(f"/api/v1/enrolments/{path}/verify", json={"code": "123456"})
        assert resp.status == 404


async def test_landline_gets_its_code_by_voice_call(client, sandbox, db):
    resp = await client.post("/api/v1/enrolments", json=enrol_body("020 123 4567"))
    assert resp.status == 202, await resp.text()
    pending = await resp.json()
    assert pending["channels"] == ["voice"] and pending["code_sent_by"] == "voice"
    for _ in range(50):
        calls = await sandbox.calls()
        if calls and calls[0]["done"]:
            break
        await asyncio.sleep(0.05)
    said = " ".join(s["text"] if isinstance(s, dict) else str(s) for s in calls[0]["transcript"])
    digits = re.search(r"code is: ((?:\d, ){5}\d)", said)
    assert digits, said
    code = digits.group(1).replace(", ", "")
    resp = await client.post(f"/api/v1/enrolments/{pending['id']}/verify", json={"code": code})
    assert resp.status == 200
    assert (await resp.json())["addresses"][0]["channels"] == ["voice"]
    assert await db.fetchval("SELECT count(*) FROM enrolments WHERE code_cipher IS NOT NULL") == 0


async def test_provider_failure_leaves_no_enrolment(client, sandbox, db):
    await sandbox.scenario(error_rate=1.0)
    resp = await client.post("/api/v1/enrolments", json=enrol_body())
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert await db.fetchval("SELECT count(*) FROM enrolments") == 0


async def test_max_addresses(client, sandbox, db, settings):
    numbers = [75, 76, 77, 78, 79, 80]
    for n in numbers[:5]:
        await db.execute("DELETE FROM code_requests")  # limits are tested separately
        await enrol_and_verify(client, sandbox, house_number=n)
    await db.execute("DELETE FROM code_requests")
    resp = await client.post("/api/v1/enrolments", json={**enrol_body(), "house_number": numbers[5]})
    assert resp.status == 422
    assert "5 adressen" in (await resp.json())["detail"]


# ------------------------------------------------------------------ SMS-pumping limits


@pytest.fixture
def settings_overrides(request):
    return getattr(request, "param", None) or {
        "enrolment": {
            "codes_per_phone_per_hour": 2,
            "codes_per_ip_per_hour": 4,
            "codes_per_prefix_per_hour": 3,
            "codes_per_day": 6,
        }
    }


async def _request(client, phone):
    return await client.post("/api/v1/enrolments", json=enrol_body(phone))


async def test_limit_per_number(client, sandbox, db):
    assert (await _request(client, "0612345678")).status == 202
    assert (await _request(client, "0612345678")).status == 202
    third = await _request(client, "0612345678")
    assert third.status == 429
    assert 3500 <= int(third.headers["Retry-After"]) <= 3601
    assert (await third.json())["type"].endswith("/too-many-code-requests")
    assert len(await sandbox.outbound()) == 2
    assert await db.fetchval("SELECT count(*) FROM enrolments") == 2


async def test_limit_per_number_prefix(client, sandbox):
    # +3161234xxxx: one range, as SMS-pumping fraud uses
    for phone in ("0612341111", "0612342222", "0612343333"):
        assert (await _request(client, phone)).status == 202
    assert (await _request(client, "0612344444")).status == 429
    assert (await _request(client, "0687654321")).status == 202  # another range still works


async def test_limit_per_client_ip(client, sandbox):
    for phone in ("0611111111", "0622222222", "0633333333", "0644444444"):
        assert (await _request(client, phone)).status == 202
    resp = await _request(client, "0655555555")
    assert resp.status == 429
    assert len(await sandbox.outbound()) == 4


async def _enrol_from(client, source: str, phone: str) -> int:
    """An enrolment request from another loopback address (Linux routes 127.0.0.0/8)."""
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(client.make_url("/api/v1/enrolments"), json=enrol_body(phone)) as resp:
            return resp.status


async def test_limit_per_client_network(client, sandbox, db):
    # 127.0.0.2, .3, .4 ...: one /24, one budget (each address used to get a fresh one)
    phones = ("0611111111", "0622222222", "0633333333", "0644444444", "0655555555")
    statuses = [await _enrol_from(client, f"127.0.0.{n}", p) for n, p in enumerate(phones, start=2)]
    assert statuses == [202] * 4 + [429]
    assert len(await sandbox.outbound()) == 4
    assert await db.fetchval("SELECT array_agg(DISTINCT ip) FROM code_requests") == ["127.0.0.0/24"]


@pytest.mark.parametrize(
    "settings_overrides",
    [{"enrolment": {"codes_per_ip_per_hour": 2}, "http": {"trusted_proxies": ["127.0.0.1/32"]}}],
    indirect=True,
)
async def test_limit_per_client_behind_a_trusted_proxy(client, sandbox, db):
    async def enrol(phone: str, xff: str) -> int:
        resp = await client.post(
            "/api/v1/enrolments", json=enrol_body(phone), headers={"X-Forwarded-For": xff}
        )
        return resp.status

    assert await enrol("0611111111", "198.51.100.7") == 202
    assert await enrol("0622222222", "203.0.113.1, 198.51.100.8") == 202
    assert await enrol("0633333333", "198.51.100.9") == 429  # the same /24
    assert await enrol("0644444444", "192.0.2.1") == 202  # another client behind the proxy
    assert await enrol("0655555555", "2001:db8::1") == 202


async def test_daily_budget(client, sandbox, db):
    # six codes went out today to other people from other places
    for i in range(6):
        await db.execute(
            "INSERT INTO code_requests (phone, ip, prefix, at) VALUES ($1, $2, $3, "
            "now() - interval '3 hours')",
            f"+3161000000{i}",
            f"10.0.0.{i}",
            f"+3161000{i}",
        )
    resp = await _request(client, "0612345678")
    assert resp.status == 429
    assert 75000 < int(resp.headers["Retry-After"]) <= 86401
    assert await sandbox.outbound() == []


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "enrolment": {
                "codes_per_ip_per_hour": 100,
                "codes_per_prefix_per_hour": 2,
                "codes_per_wide_prefix_per_hour": 4,
            }
        }
    ],
    indirect=True,
)
async def test_limit_per_wider_number_prefix(client, sandbox):
    # digits 5-8 no longer escape: +31612 3xxxxx is one wider range
    for phone in ("0612311111", "0612322222", "0612333333", "0612344444"):
        assert (await _request(client, phone)).status == 202
    assert (await _request(client, "0612355555")).status == 429
    assert (await _request(client, "0612311112")).status == 429  # and the narrow one still holds
    assert (await _request(client, "0687654321")).status == 202  # another range still works
    assert len(await sandbox.outbound()) == 5


async def test_known_residents_keep_enrolling_when_the_daily_budget_is_spent(client, sandbox, db):
    await enrol_and_verify(client, sandbox)  # a resident who proved their number before
    for i in range(6):  # then an attacker spends the whole daily budget
        await db.execute(
            "INSERT INTO code_requests (phone, ip, prefix) VALUES ($1, $2, $3)",
            f"+3161000000{i}",
            f"10.0.{i}.0/24",
            f"+3161000{i}",
        )
    assert (await _request(client, "0687654321")).status == 429  # a new number waits
    resp = await client.post("/api/v1/enrolments", json={**enrol_body(), "house_number": 77})
    assert resp.status == 202, await resp.text()  # the resident adds an address
    budgeted = await db.fetchval("SELECT count(*) FROM code_requests WHERE budget")
    assert budgeted == 7  # their second code did not use the budget (the first one did)


@pytest.mark.parametrize(
    "settings_overrides",
    [{"enrolment": {"codes_per_ip_per_hour": 100, "codes_per_prefix_per_hour": 100, "codes_per_day": 10}}],
    indirect=True,
)
async def test_fast_burning_daily_budget_raises_an_alert(client, sandbox, caplog):
    from prometheus_client import REGISTRY

    def alerts() -> float:
        return REGISTRY.get_sample_value("burgerwacht_enrolment_budget_alerts_total") or 0.0

    before = alerts()
    phones = [f"06123456{n:02d}" for n in range(1, 9)]
    for phone in phones[:5]:  # half the daily budget of 10 in an hour: not yet
        assert (await _request(client, phone)).status == 202
    assert alerts() == before
    with caplog.at_level("WARNING", logger="burgerwacht.residents.service"):
        for phone in phones[5:]:
            assert (await _request(client, phone)).status == 202
    assert alerts() == before + 1  # once, when more than half went out within the hour
    warnings = [r for r in caplog.records if "budget" in r.getMessage()]
    assert len(warnings) == 1
    assert "6 of the daily 10" in warnings[0].getMessage()
    assert not re.search(r"\d{6}", warnings[0].getMessage())  # no phone numbers in logs


async def test_concurrent_code_requests_cannot_exceed_the_limit(client, sandbox, db):
    results = await asyncio.gather(*(_request(client, "0612345678") for _ in range(8)))
    assert sorted(r.status for r in results) == [202, 202] + [429] * 6
    assert len(await sandbox.outbound()) == 2
