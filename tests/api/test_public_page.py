"""The public page per alert (issue 17), over HTTP on a real database with the simulator:
what the page shows in Dutch and English, that nothing personal is on it, escaping,
caching, 404/410, the link in the SMS by link mode and in the preview, and the tip form
(a linked web tip for operators, validation, rate limits, no tips after close)."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from burgerwacht.messaging import analyse
from tests.helpers.alerting import address, alert_body, circle, create, create_and_send, enrol
from tests.helpers.lifecycle import Worker, post, quiet_queue, running, sms_by_number

RESIDENT = "+31630000001"
TIPSTER = "+31630000099"
BUURT = "BU99990101"


@pytest.fixture
def settings_overrides(request):
    """Every page request renders afresh (public.page_cache_seconds 0), so a test sees a
    change at once; a test's own ``public`` overrides are added."""
    param = getattr(request, "param", {})
    return {**param, "public": {"page_cache_seconds": 0, **param.get("public", {})}}


def path_of(url: str) -> str:
    return urlsplit(url).path


async def sent_alert(client, op, db, **kw) -> dict:
    """A sent alert to one resident in the demo buurt; its JSON after the send."""
    centre = await address(db, "9991AA", 75)
    await enrol(db, RESIDENT, centre["id"])
    body = alert_body({"type": "areas", "codes": [BUURT]}, **kw)
    alert = await create_and_send(client, op, body)
    resp = await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)
    return await resp.json()


async def page(client, path: str, **params) -> tuple[int, str, dict]:
    resp = await client.get(path, params=params)
    return resp.status, await resp.text(), resp.headers


async def buurt_name(db, code: str = BUURT) -> str:
    return await db.fetchval("SELECT name FROM areas WHERE code = $1", code)


async def test_page_in_dutch_and_english_with_updates_newest_first(client, db, op, settings):
    alert = await sent_alert(
        client,
        op,
        db,
        title="Vermiste jongen Sam",
        message="Sam (8) is sinds 15:00 vermist. Hij draagt een groene jas. Bel bij een tip.",
        message_en="Sam (8) has been missing since 3 pm. He wears a green coat.",
    )
    assert alert["link"] == "auto"
    url = alert["public_url"]
    assert re.fullmatch(rf"{re.escape(settings.short_base)}/a/[0-9A-Za-z]{{10}}", url), url
    await post(
        client,
        f"/api/v1/alerts/{alert['id']}/updates",
        op,
        {"message": "Eerste update: gezien bij het park."},
        202,
    )
    await post(
        client,
        f"/api/v1/alerts/{alert['id']}/updates",
        op,
        {"message": "Tweede update: nu bij het station."},
        202,
    )

    status, html, headers = await page(client, path_of(url))
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<html lang="nl">' in html
    assert "<h1>Vermiste jongen Sam</h1>" in html
    assert "Sam (8) is sinds 15:00 vermist. Hij draagt een groene jas. Bel bij een tip." in html
    assert html.index("Tweede update") < html.index("Eerste update")  # newest first
    assert f"buurt {await buurt_name(db)}" in html
    assert "<svg" not in html  # named areas: words only
    sent = datetime.fromisoformat(alert["sent_at"]).astimezone(ZoneInfo("Europe/Amsterdam"))
    months = "januari februari maart april mei juni juli augustus september oktober november december".split()
    assert f"{sent.day} {months[sent.month - 1]} {sent.year}, {sent:%H:%M}</time>" in html  # Europe/Amsterdam
    assert settings.twilio.from_number in html  # reply by SMS, call the tip line
    assert alert["reference"] in html
    assert 'method="post"' in html and f'action="{path_of(url)}/tip"' in html
    assert '<label for="text">' in html and '<label for="phone">' in html
    assert len(html.encode()) < 30_000

    status, en, _ = await page(client, path_of(url), lang="en")
    assert status == 200 and '<html lang="en">' in en
    assert "Sam (8) has been missing since 3 pm. He wears a green coat." in en
    assert "groene jas" not in en
    assert f"neighbourhood {await buurt_name(db)}" in en
    assert "Call the tip line" in en and "Valid until" in en
    assert en.index("Tweede update") < en.index("Eerste update")


async def test_circle_named_by_its_buurt_and_nothing_personal_on_the_page(client, db, op):
    centre = await address(db, "9991AA", 75)
    await enrol(db, RESIDENT, centre["id"])
    alert = await create_and_send(client, op, alert_body(circle(centre, 450)))
    alert = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
    path = path_of(alert["public_url"])
    # a tip with a phone number from the page itself, and an SMS tip from the resident
    resp = await client.post(
        f"{path}/tip",
        data={"text": "Ik zag hem bij de bakker op de hoek.", "phone": "06 30000099"},
        allow_redirects=False,
    )
    assert resp.status == 303
    status, html, _ = await page(client, path)
    assert status == 200
    assert f"Binnen 450 meter rond de buurt {await buurt_name(db, centre['buurt'])}" in html
    # the shape as a small sketch: its own box, whole numbers, no coordinates
    sketch = re.search(
        r'<svg role="img"[^>]*><title id="map-t">Binnen 450 meter[^<]*</title><path d="([^"]+)"', html
    )
    assert sketch and re.fullmatch(r"(M\d+ \d+(L\d+ \d+)+Z)+", sketch[1]), html
    for personal in (
        RESIDENT,
        RESIDENT[3:],
        TIPSTER,
        "30000099",
        "bakker op de hoek",
        "9991AA",
        "9991 AA",
        f"{centre['lat']:.4f}",
        f"{centre['lon']:.4f}",
    ):
        assert personal not in html, personal


async def test_operator_text_is_escaped(client, db, op):
    alert = await sent_alert(
        client,
        op,
        db,
        title='<script>alert("t")</script> Let op',
        message='Kijk uit "><img src=x onerror=alert(1)> & </p><h1>nep</h1>',
    )
    status, html, headers = await page(client, path_of(alert["public_url"]))
    assert status == 200
    assert "<script>" not in html and "<img" not in html and "<h1>nep" not in html
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; Let op" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt; &amp; &lt;/p&gt;&lt;h1&gt;nep&lt;/h1&gt;" in html
    assert "script-src" not in headers["Content-Security-Policy"]  # no script at all
    assert "default-src 'none'" in headers["Content-Security-Policy"]


async def test_noindex_cache_headers_and_304(client, db, op):
    alert = await sent_alert(client, op, db)
    path = path_of(alert["public_url"])
    status, html, headers = await page(client, path)
    assert status == 200
    assert '<meta name="robots" content="noindex">' in html
    assert headers["X-Robots-Tag"] == "noindex"
    assert headers["Cache-Control"] == "public, max-age=30"
    assert headers["Last-Modified"].endswith("GMT")
    etag = headers["ETag"]
    resp = await client.get(path, headers={"If-None-Match": etag})
    assert resp.status == 304 and await resp.read() == b""
    # a follow-up changes the page: the old ETag no longer matches
    await post(
        client, f"/api/v1/alerts/{alert['id']}/updates", op, {"message": "Nieuw: gezien bij de brug."}, 202
    )
    resp = await client.get(path, headers={"If-None-Match": etag})
    assert resp.status == 200 and "gezien bij de brug" in await resp.text()
    assert resp.headers["ETag"] != etag


async def test_unknown_draft_and_cancelled_alerts_have_no_page(client, db, op):
    status, html, headers = await page(client, "/a/AAAAAAAAAA")
    assert status == 404 and "Pagina niet gevonden" in html and headers["X-Robots-Tag"] == "noindex"
    status, _, _ = await page(client, "/a/abc")  # too short to be a token
    assert status == 404
    centre = await address(db, "9991AA", 75)
    draft = await create(client, op, alert_body(circle(centre, 300)))
    assert draft["public_url"] is None
    token = await db.fetchval("SELECT public_token FROM alerts WHERE id = $1", draft["id"])
    assert re.fullmatch(r"[0-9A-Za-z]{10}", token)
    status, html, _ = await page(client, f"/a/{token}")
    assert status == 404 and draft["title"] not in html
    sent = await create_and_send(client, op, alert_body(circle(centre, 300)))
    resp = await client.post(f"/api/v1/alerts/{sent['id']}/cancel", headers=op)
    assert resp.status in (200, 202), await resp.text()
    cancelled = await (await client.get(f"/api/v1/alerts/{sent['id']}", headers=op)).json()
    assert cancelled["public_url"] is None
    token = await db.fetchval("SELECT public_token FROM alerts WHERE id = $1", sent["id"])
    status, _, _ = await page(client, f"/a/{token}")
    assert status == 404


async def test_closed_alert_shows_closing_message_refuses_tips_then_410(client, db, op, settings):
    alert = await sent_alert(client, op, db)
    path = path_of(alert["public_url"])
    await post(
        client, f"/api/v1/alerts/{alert['id']}/close", op, {"message": "Sam is terecht, dank u wel!"}, 202
    )
    status, html, _ = await page(client, path)
    assert status == 200
    assert "Deze actie is afgelopen." in html and "Sam is terecht, dank u wel!" in html
    assert "<form" not in html
    resp = await client.post(f"{path}/tip", data={"text": "Ik zag iets"}, allow_redirects=False)
    assert resp.status == 410 and "niet meer mogelijk" in await resp.text()
    assert await db.fetchval("SELECT count(*) FROM tips") == 0
    # public.page_days_after_close (7) days later: gone
    days = settings.public.page_days_after_close
    await db.execute(
        "UPDATE alerts SET closed_at = now() - make_interval(days => $2) + interval '1 minute' WHERE id = $1",
        alert["id"],
        days,
    )
    assert (await page(client, path))[0] == 200
    await db.execute(
        "UPDATE alerts SET closed_at = now() - make_interval(days => $2) - interval '1 minute' WHERE id = $1",
        alert["id"],
        days,
    )
    status, html, _ = await page(client, path)
    assert status == 410 and "niet meer beschikbaar" in html and "Sam is terecht" not in html


async def test_expired_alert_refuses_tips_and_goes_after_the_period(client, db, op):
    alert = await sent_alert(client, op, db)
    path = path_of(alert["public_url"])
    await db.execute("UPDATE alerts SET expires_at = now() - interval '1 minute' WHERE id = $1", alert["id"])
    status, html, _ = await page(client, path)
    assert status == 200 and "Deze actie is verlopen." in html and "<form" not in html
    resp = await client.post(f"{path}/tip", data={"text": "Te laat"}, allow_redirects=False)
    assert resp.status == 410
    await db.execute("UPDATE alerts SET expires_at = now() - interval '8 days' WHERE id = $1", alert["id"])
    assert (await page(client, path))[0] == 410


@pytest.mark.parametrize("settings_overrides", [{"public": {"page_days_after_close": 0}}], indirect=True)
async def test_zero_days_after_close_is_gone_at_once(client, db, op):
    alert = await sent_alert(client, op, db)
    await post(client, f"/api/v1/alerts/{alert['id']}/close", op, {"message": "Afgelopen."}, 202)
    assert (await page(client, path_of(alert["public_url"])))[0] == 410


LONG = (
    "Vermist: Sam, 8 jaar, 1,30 meter, blond haar, groene jas en blauwe laarzen. Hij is om 15:00 "
    "vertrokken bij de school aan het plein en loopt mogelijk richting het park of het station."
)


@pytest.fixture
def service_roles():
    return {"web"}  # the link test runs the worker itself


async def test_link_in_sms_always_never_auto_and_counted_by_the_preview(client, sandbox, db, op, settings):
    centre = await address(db, "9991AA", 75)
    phones = {
        mode: f"+3163000010{i}" for i, mode in enumerate(("always", "never", "auto-short", "auto-long"))
    }
    alerts = {}
    for i, (mode, phone) in enumerate(phones.items()):
        # each alert reaches its own resident: a buurt of its own would do; a tiny circle around its address
        a = await address(db, "9991AA", 75 + 2 * i) if i else centre
        await enrol(db, phone, a["id"])
        link = mode.split("-")[0]
        message = LONG if mode == "auto-long" else "Let op: man in blauwe jas op een rode fiets."
        alerts[mode] = await create(client, op, alert_body(circle(a, 1), link=link, message=message))
        assert alerts[mode]["link"] == link and alerts[mode]["public_url"] is None
    previews = {}
    for mode, alert in alerts.items():
        previews[mode] = await post(client, f"/api/v1/alerts/{alert['id']}/preview", op, None, 200)
        resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)
        assert resp.status == 202, await resp.text()
        alerts[mode] = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
    async with running(Worker(settings)):
        await quiet_queue(db)
    got = await sms_by_number(sandbox)
    for mode, alert in alerts.items():
        [sms] = got[phones[mode]]
        url = alert["public_url"]
        with_link = mode in ("always", "auto-long")
        assert sms.endswith(" " + url) is with_link, (mode, sms)
        assert (url in sms) is with_link
        preview = previews[mode]["sms"]
        assert preview["text"] == sms  # the preview shows (and counts) exactly what went out
        assert preview["characters"] == len(sms) and preview["segments"] == analyse(sms).segments
    assert previews["auto-long"]["sms"]["segments"] == 2
    # later recipients (a queued start, a wave) get the start with the follow-up folded in: link and all
    always = alerts["always"]
    upd = await post(
        client, f"/api/v1/alerts/{always['id']}/updates/preview", op, {"message": "Nu bij de brug."}, 200
    )
    assert upd["current"]["text"].endswith(" " + always["public_url"])
    assert upd["current"]["segments"] == analyse(upd["current"]["text"]).segments
    assert always["public_url"] not in upd["sms"]["text"]  # the follow-up itself carries no link
    assert analyse(got[phones["auto-short"]][0]).segments == 1


async def test_tip_form_gives_operators_a_linked_web_tip(client, db, op):
    alert = await sent_alert(client, op, db)
    path = path_of(alert["public_url"])
    resp = await client.post(
        f"{path}/tip?lang=en",
        data={"text": "  Boy in a green coat at the bus stop.  ", "phone": "06 30000099", "website": ""},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == f"{path}?bedankt=1&lang=en"
    status, html, _ = await page(client, path, bedankt="1", lang="en")
    assert status == 200 and "Thank you. Your tip has been passed on" in html
    resp = await client.post(
        f"{path}/tip", data={"text": "Anoniem: jongen bij de bushalte."}, allow_redirects=False
    )
    assert resp.status == 303
    tips = (await (await client.get(f"/api/v1/tips?alert={alert['id']}", headers=op)).json())["items"]
    by_text = {t["text"]: t for t in tips}
    named = by_text["Boy in a green coat at the bus stop."]
    assert named["channel"] == "web" and named["alert_id"] == alert["id"]
    assert named["anonymous"] is False and named["phone"] == TIPSTER
    anon = by_text["Anoniem: jongen bij de bushalte."]
    assert anon["channel"] == "web" and anon["anonymous"] is True and anon.get("phone") is None


async def test_tip_form_refusals_show_the_page_again(client, db, op, caplog):
    alert = await sent_alert(client, op, db)
    path = path_of(alert["public_url"])
    resp = await client.post(f"{path}/tip", data={"text": "Ik zag hem rennen.", "phone": "12345"})
    html = await resp.text()
    assert resp.status == 422 and "Dit telefoonnummer is ongeldig." in html
    assert "Ik zag hem rennen." in html  # the visitor's text is kept for a second try
    assert 'aria-invalid="true"' in html
    resp = await client.post(f"{path}/tip", data={"text": "   ", "phone": ""})
    assert resp.status == 422 and "Vul in wat u heeft gezien." in await resp.text()
    resp = await client.post(f"{path}/tip", data={"text": "x" * 1001})
    assert resp.status == 422 and "hoogstens 1000 tekens" in await resp.text()
    resp = await client.post(f"{path}/tip", data={"text": "nul\x00teken"})
    assert resp.status == 422
    # a bot fills the honeypot: thanked, nothing stored
    resp = await client.post(
        f"{path}/tip",
        data={"text": "Buy cheap pills", "website": "http://spam.example"},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert await db.fetchval("SELECT count(*) FROM tips") == 0
    resp = await client.post(f"{path}/tip", data={"text": "Gezien bij de brug.", "phone": "+31 6 30000099"})
    assert resp.status == 200  # followed the redirect to the page
    assert await db.fetchval("SELECT count(*) FROM tips WHERE channel = 'web'") == 1
    assert "30000099" not in caplog.text


@pytest.mark.parametrize(
    "settings_overrides",
    [{"public": {"tips_per_ip_per_hour": 2, "tips_per_alert_per_minute": 100}}],
    indirect=True,
)
async def test_tips_per_network_are_limited(client, db, op):
    alert = await sent_alert(client, op, db)
    path = path_of(alert["public_url"])
    for i in range(2):
        resp = await client.post(f"{path}/tip", data={"text": f"Tip {i}"}, allow_redirects=False)
        assert resp.status == 303
    resp = await client.post(f"{path}/tip", data={"text": "Tip 3"}, allow_redirects=False)
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 3600
    assert "Te veel tips" in await resp.text()
    assert await db.fetchval("SELECT count(*) FROM tips") == 2


@pytest.mark.parametrize(
    "settings_overrides",
    [{"public": {"tips_per_ip_per_hour": 100, "tips_per_alert_per_minute": 1}}],
    indirect=True,
)
async def test_tips_per_alert_are_limited(client, db, op):
    alert = await sent_alert(client, op, db)
    path = path_of(alert["public_url"])
    assert (await client.post(f"{path}/tip", data={"text": "Eerste"}, allow_redirects=False)).status == 303
    resp = await client.post(f"{path}/tip", data={"text": "Tweede"}, allow_redirects=False)
    assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60


async def test_openapi_documents_the_page_and_the_form(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    page_op = doc["paths"]["/a/{token}"]["get"]
    assert "security" not in page_op and {"304", "404", "410"} <= set(page_op["responses"])
    tip = doc["paths"]["/a/{token}/tip"]["post"]
    schema = tip["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    form = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert form["properties"]["text"]["maxLength"] == 1000
    assert {"410", "422", "429"} <= set(tip["responses"])
    create = doc["components"]["schemas"]["AlertIn"]["properties"]["link"]
    assert create["enum"] == ["auto", "always", "never"] and create["default"] == "auto"


@pytest.mark.parametrize(
    "settings_overrides", [{"public": {"short_url": "https://bw.example/"}}], indirect=True
)
async def test_short_url_is_the_base_of_public_url_and_of_the_link(client, db, op):
    centre = await address(db, "9991AA", 75)
    await enrol(db, RESIDENT, centre["id"])
    alert = await create(client, op, alert_body(circle(centre, 300), link="always"))
    preview = await post(client, f"/api/v1/alerts/{alert['id']}/preview", op, None, 200)
    token = await db.fetchval("SELECT public_token FROM alerts WHERE id = $1", alert["id"])
    assert preview["sms"]["text"].endswith(f" https://bw.example/a/{token}")
    await post(client, f"/api/v1/alerts/{alert['id']}/send", op, None, 202)
    sent = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
    assert sent["public_url"] == f"https://bw.example/a/{token}"
    assert (await page(client, f"/a/{token}"))[0] == 200
