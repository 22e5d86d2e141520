"""/mijn over HTTP (issue 19): sign-in by a code sent through the simulator, the session
cookie, settings and addresses (time windows honoured by targeting), export and
erasure, and the limits on codes and attempts."""

from __future__ import annotations

import json

from tests.helpers.alerting import address, alert_body, circle, create

PHONE = "+31612345678"


async def _enrolled(sandbox) -> None:
    result = await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    assert "Welkom" in result["reply"]


async def _code(sandbox) -> str:
    sent = [
        m
        for m in await sandbox.outbound(PHONE)
        if "Mijn Burgerwacht" in m["body"] or "My Burgerwacht" in m["body"]
    ]
    return sent[-1]["body"].split(" is ")[1][:6]


async def _sign_in(client, sandbox) -> None:
    resp = await client.post("/mijn/api/login", json={"phone": "06 12345678"})
    assert resp.status == 202, await resp.text()
    login = await resp.json()
    resp = await client.post(f"/mijn/api/login/{login['id']}/verify", json={"code": await _code(sandbox)})
    assert resp.status == 200, await resp.text()


async def test_page_is_served_with_strict_headers(client):
    resp = await client.get("/mijn")
    assert resp.status == 200 and "Mijn Burgerwacht" in await resp.text()
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert (await client.get("/mijn/static/mijn.js")).status == 200
    assert (await client.get("/mijn/static/mijn.html")).status == 404


async def test_sign_in_sets_a_strict_short_lived_session_cookie(client, sandbox, db, settings):
    await _enrolled(sandbox)
    assert (await client.get("/mijn/api/me")).status == 401
    assert (await (await client.get("/mijn/api/session")).json()) == {"signed_in": False, "expires_at": None}
    resp = await client.post("/mijn/api/login", json={"phone": "06 12345678"})
    login = await resp.json()
    assert login["phone"] != PHONE and "code" in login["detail"]
    code = await _code(sandbox)
    resp = await client.post(f"/mijn/api/login/{login['id']}/verify", json={"code": code})
    assert resp.status == 200
    cookie = resp.headers["Set-Cookie"]
    assert (
        "bw_mijn=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=Strict" in cookie
        and "Path=/mijn" in cookie
    )
    assert f"Max-Age={settings.enrolment.mijn_session_minutes * 60}" in cookie
    token = resp.cookies["bw_mijn"].value
    # only a hash is stored
    assert (
        await db.fetchval(
            "SELECT count(*) FROM mijn_sessions WHERE token_hash::text LIKE '%' || $1 || '%'", token
        )
        == 0
    )
    me = await (await client.get("/mijn/api/me")).json()
    assert me["phone"] != PHONE and me["addresses"][0]["address"] == "9991 AA 75"
    # a used code does not sign in again; an ended session is a 401
    again = await client.post(f"/mijn/api/login/{login['id']}/verify", json={"code": code})
    assert again.status == 404
    await db.execute("UPDATE mijn_sessions SET expires_at = now() - interval '1 second'")
    assert (await client.get("/mijn/api/me")).status == 401


async def test_wrong_codes_are_limited_and_unknown_numbers_get_the_same_answer(client, sandbox, db, settings):
    await _enrolled(sandbox)
    resp = await client.post("/mijn/api/login", json={"phone": "0612345678"})
    login = await resp.json()
    for left in range(settings.enrolment.code_max_attempts - 1, -1, -1):
        resp = await client.post(f"/mijn/api/login/{login['id']}/verify", json={"code": "000000"})
        body = await resp.json()
        assert resp.status == 422 and body["attempts_left"] == left
    resp = await client.post(f"/mijn/api/login/{login['id']}/verify", json={"code": await _code(sandbox)})
    assert resp.status == 410  # even the right code, after too many wrong ones
    # an unknown number: the same answer, no SMS, no way in
    before = len(await sandbox.outbound())
    resp = await client.post("/mijn/api/login", json={"phone": "0612345670"})
    assert resp.status == 202 and (await resp.json())["detail"] == login["detail"]
    assert len(await sandbox.outbound()) == before


async def test_codes_are_rate_limited_as_for_enrolment(client, sandbox, db, settings):
    await _enrolled(sandbox)
    n = settings.enrolment.codes_per_phone_per_hour
    for _ in range(n):
        assert (await client.post("/mijn/api/login", json={"phone": "0612345678"})).status == 202
    resp = await client.post("/mijn/api/login", json={"phone": "0612345678", "language": "en"})
    assert resp.status == 429 and "Retry-After" in resp.headers
    assert "Too many codes" in (await resp.json())["detail"]


async def test_change_settings_and_addresses(client, sandbox, db, op):
    await _enrolled(sandbox)
    await _sign_in(client, sandbox)
    resp = await client.patch(
        "/mijn/api/me",
        json={
            "language": "en",
            "bulletins_opt_in": True,
            "slow_speech": True,
            "repeat_message": True,
            "pause_days": 3,
        },
    )
    assert resp.status == 200, await resp.text()
    me = await resp.json()
    assert me["language"] == "en" and me["bulletins_opt_in"] and me["slow_speech"] and me["repeat_message"]
    assert me["paused_until"] is not None and me["pause_all"] is False
    me = await (await client.patch("/mijn/api/me", json={"pause_all": True})).json()
    assert me["pause_all"] is True
    me = await (await client.patch("/mijn/api/me", json={"pause_days": 0})).json()
    assert me["paused_until"] is None
    assert (await client.patch("/mijn/api/me", json={"pause_days": 9999})).status == 422
    assert (await client.patch("/mijn/api/me", json={})).status == 422

    resp = await client.post(
        "/mijn/api/addresses", json={"postcode": "9993 bl", "house_number": "12", "label": "werk"}
    )
    assert resp.status == 201, await resp.text()
    me = await resp.json()
    assert [a["address"] for a in me["addresses"]] == ["9991 AA 75", "9993 BL 12"]
    assert (
        await client.post("/mijn/api/addresses", json={"postcode": "9993BL", "house_number": "12"})
    ).status == 409
    assert (
        await client.post("/mijn/api/addresses", json={"postcode": "1011AB", "house_number": "1"})
    ).status == 422

    # werk: only on days and hours that are not now, so no alert reaches it now
    werk = circle(await address(db, "9993BL", 12), 50)
    alert = await create(client, op, alert_body(werk))
    preview = await (await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)).json()
    assert preview["recipients"]["total"] == 1
    never = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "03:00", "end": "03:01"}]
    resp = await client.patch(
        "/mijn/api/addresses/2", json={"time_windows": never, "channels": ["sms", "voice"]}
    )
    assert resp.status == 200, await resp.text()
    me = await resp.json()
    assert me["addresses"][1]["time_windows"] == [
        {"days": [1, 2, 3, 4, 5, 6, 7], "start": "03:00:00", "end": "03:01:00"}
    ]
    assert me["addresses"][1]["channels"] == ["sms", "voice"]
    now_open = await db.fetchval("SELECT resident_window_open($1::text::jsonb)", json.dumps(never))
    preview = await (await client.post(f"/api/v1/alerts/{alert['id']}/preview", headers=op)).json()
    assert preview["recipients"]["total"] == (1 if now_open else 0)
    me = await (await client.patch("/mijn/api/addresses/2", json={"time_windows": []})).json()
    assert me["addresses"][1]["time_windows"] == []
    bad = {"days": [8], "start": "08:00", "end": "18:00"}
    assert (await client.patch("/mijn/api/addresses/2", json={"time_windows": [bad]})).status == 422

    # SMS only: no voice channel any more, and it cannot be chosen
    me = await (await client.patch("/mijn/api/me", json={"sms_only": True})).json()
    assert all(a["channels"] == ["sms"] for a in me["addresses"])
    assert (await client.patch("/mijn/api/addresses/1", json={"channels": ["voice"]})).status == 422

    me = await (await client.delete("/mijn/api/addresses/2")).json()
    assert [a["address"] for a in me["addresses"]] == ["9991 AA 75"]
    assert (await client.delete("/mijn/api/addresses/1")).status == 409  # the last one
    assert (await client.delete("/mijn/api/addresses/5")).status == 404
    actions = [
        r[0]
        for r in await db.fetch("SELECT action FROM audit_log WHERE action LIKE 'resident.%' ORDER BY id")
    ]
    assert "resident.mijn.login" in actions and "resident.address.added" in actions
    texts = " ".join(r[0] for r in await db.fetch("SELECT actor || details::text FROM audit_log"))
    assert "612345678" not in texts


async def test_export_and_erase(client, sandbox, db):
    await _enrolled(sandbox)
    await _sign_in(client, sandbox)
    resp = await client.get("/mijn/export.json")
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    doc = await resp.json()
    assert doc["phone"] == PHONE and doc["addresses"][0]["address"] == "9991 AA 75"
    assert doc["resident"]["bulletins_opt_in"] is False and len(doc["mijn_logins"]) == 1
    resp = await client.delete("/mijn/api/me")
    assert resp.status == 200 and (await resp.json()) == {"erased": True}
    for table in (
        "residents",
        "resident_addresses",
        "mijn_sessions",
        "mijn_logins",
        "code_requests",
        "enrolments",
    ):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    assert (await client.get("/mijn/api/me")).status == 401
    assert (await client.get("/mijn/export.json")).status == 401
