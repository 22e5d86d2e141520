"""The web console in a real browser (headless Chromium through Playwright) against the
service and the Twilio simulator: an operator composes, previews and sends an alert and
watches it reach 100 %, a tip sent through the simulator appears live and is handled,
the alert is closed; another is drawn as a polygon, picked by buurt from the keyboard
and cancelled; a corridor is drawn, previewed with the server's band and watched; an analyst sees the map and downloads a CSV whose figures match the API.
Screenshots of every page go to tests/artifacts/ (see tests/helpers/browser.py)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest

from burgerwacht.messaging import analyse
from burgerwacht.signals.periods import last_complete_month, today
from tests.helpers.alerting import address, addresses_near, enrol
from tests.helpers.browser import browser, requires_chromium, sign_in, token_of
from tests.helpers.signals import insert, possible

pytestmark = [requires_chromium]


@pytest.fixture
def service_roles():
    return {"web", "worker"}


def phone(i: int) -> str:
    return f"+316200{i:05d}"


async def test_operator_sends_watches_handles_a_live_tip_and_closes(client, sandbox, db, staff, tmp_path):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 300)
    for i in range(5):
        await enrol(db, phone(i), near[i])
    op = await staff("operator", "GM9999", name="Centralist Jansen")
    base = str(client.make_url("/")).rstrip("/")

    async with browser(tmp_path, base) as b:
        page = b.page
        await page.goto("/console/")
        await page.locator("#signin").wait_for(state="visible")
        await b.shot("01-signin")
        await sign_in(page, token_of(op))
        # the token lives in this tab's sessionStorage only, never in a URL
        assert token_of(op) not in page.url
        assert await page.evaluate("sessionStorage.getItem('burgerwacht.token')") == token_of(op)
        assert await page.evaluate("localStorage.length") == 0
        await page.locator("#compose").wait_for(state="visible")

        # the live SMS meter agrees with the server's analysis, character for character
        samples = [
            "Let op: man in blauwe jas.",
            "Prijs € 5 [x] {y}",
            "Café – ‘nieuw’…",
            "emoji 🚲 fiets " * 6,
            "a" * 147,
            "é" * 300,
        ]
        got = await page.evaluate(
            "async (texts) => { const m = await import('/console/static/sms.js');"
            " return texts.map((t) => m.analyse(t)); }",
            samples,
        )
        assert got == [analyse(t).as_dict() for t in samples]

        await page.locator("#title").fill("Verdachte man op rode fiets")
        await page.locator("#message").fill(
            "Let op: man in blauwe jas – rode fiets. Benader hem niet, bel 112."
        )
        meter = page.locator("#sms-meter")
        assert "UCS-2" in await meter.inner_text()
        assert await page.locator("#sms-hint mark").inner_text() == "–"
        await page.locator("#message").fill(
            "Let op: man in blauwe jas op een rode fiets. Benader hem niet, bel 112."
        )
        assert "GSM-7" in await meter.inner_text() and "1 SMS-deel" in await meter.inner_text()

        # circle: click for the centre and drag for the radius on the SVG map …
        box = await page.locator("#map svg").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        await page.mouse.move(cx, cy)
        await page.mouse.down()
        await page.mouse.move(cx + 40, cy, steps=4)
        await page.mouse.up()
        dragged = int(await page.locator("#c-radius").input_value())
        assert dragged != 500 and dragged > 20
        assert await page.locator("#map circle.target").count() == 1
        # … then the exact centre and radius by keyboard
        await page.locator("#c-lat").fill(f"{centre['lat']:.6f}")
        await page.locator("#c-lon").fill(f"{centre['lon']:.6f}")
        await page.locator("#c-radius").fill("300")
        await page.locator("#to-preview").click()
        await page.locator("#preview").wait_for(state="visible")
        assert await page.locator("#pv-total").inner_text() == "5"
        assert "SMS 5" in await page.locator("#pv-channels").inner_text()
        assert "GSM-7" in await page.locator("#pv-sms").inner_text()
        assert (await page.locator("#pv-eta").inner_text()).startswith("ca.")
        await b.shot("02-compose-preview")

        assert await page.locator("#send").is_disabled()
        await page.locator("#confirm").check()
        await page.locator("#send").click()
        await page.locator("#watch").wait_for(state="visible")
        await page.locator("#bar-sms .pct[data-pct='100']").wait_for(timeout=20_000)
        await page.locator("#counts td[data-state='delivered']:text-is('5')").wait_for(timeout=20_000)
        await b.shot("03-progress")
        alert_id = int(await page.evaluate("sessionStorage.getItem('burgerwacht.watching')"))
        doc = await (await client.get(f"/api/v1/alerts/{alert_id}", headers=op)).json()
        assert doc["counts"]["delivered"] == 5 and doc["status"] in ("sending", "active")

        # a resident texts back: the tip appears on the open page without a reload
        await page.locator("#stream-state.open").wait_for()
        await sandbox.sms(phone(2), "Ik zie de man bij de bakker, hij fietst richting station")
        tip = page.locator("#tips li.tip").first
        await tip.locator("text=richting station").wait_for(timeout=5_000)
        await sandbox.sms(phone(3), "Nu bij de kerk")
        await page.locator("#tips li.tip").first.locator("text=Nu bij de kerk").wait_for(timeout=5_000)
        assert await page.locator("#tips li.tip").count() == 2  # newest first
        older = page.locator("#tips li.tip").nth(1)
        await older.get_by_role("button", name="Bruikbaar", exact=True).click()
        await older.locator(".badge:text-is('Bruikbaar')").wait_for()
        await older.get_by_role("button", name="Antwoorden").click()
        await older.locator("textarea").fill("Dank u, we sturen een eenheid.")
        await older.get_by_role("button", name="Verstuur antwoord").click()
        await older.locator(".reply-result.ok").wait_for()
        await b.shot("04-tips")
        sent = [m["body"] for m in await sandbox.outbound(phone(2))]
        assert any("Dank u, we sturen een eenheid." in body for body in sent)
        tips = (await (await client.get(f"/api/v1/alerts/{alert_id}/tips", headers=op)).json())["items"]
        assert {t["status"] for t in tips} == {"new", "useful"}

        # close with the outcome: the closing message goes to the five who got the alert
        await page.locator("#close-message").fill("De man is aangehouden. Bedankt voor het uitkijken.")
        await page.locator("#close-outcome").select_option("arrested")
        await page.locator("#close-note").fill("Aangehouden bij het station, melder belde 06-12345678")
        await page.locator("#close-alert").click()
        await page.locator("#watch-status:text-is('Afgesloten')").wait_for()
        await page.locator("#bar-closing .pct[data-pct='100']").wait_for(timeout=20_000)
        await b.shot("05-closed")
        doc = await (await client.get(f"/api/v1/alerts/{alert_id}", headers=op)).json()
        assert doc["status"] == "closed" and doc["closing_counts"]["delivered"] == 5
        assert doc["outcome"] == "arrested" and "12345678" not in doc["outcome_note"]

        # a tablet held upright
        await page.set_viewport_size({"width": 820, "height": 1180})
        await b.shot("06-tablet")
        b.check()


async def test_polygon_buurten_by_keyboard_and_cancel(client, sandbox, db, staff, tmp_path):
    ids = [
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 3"
        )
    ]
    for i, aid in enumerate(ids):
        await enrol(db, phone(50 + i), aid)
    op = await staff("operator", "GM9999")
    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, token_of(op))
        await page.locator("#title").fill("Inbraak gaande")
        await page.locator("#message").fill("Let op: inbrekers gezien. Bel 112 als u iets ziet.")

        # a polygon around the whole map: four clicks and a double click
        await page.locator("#mode-polygon").check()
        box = await page.locator("#map svg").bounding_box()
        corners = [(0.03, 0.03), (0.97, 0.03), (0.97, 0.97), (0.03, 0.97)]
        for i, (fx, fy) in enumerate(corners):
            x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
            if i == len(corners) - 1:
                await page.mouse.dblclick(x, y)
            else:
                await page.mouse.click(x, y)
        assert await page.locator("#map polygon.target").count() == 1
        assert "4 hoekpunten" in await page.locator("#area-summary").inner_text()
        await page.locator("#to-preview").click()
        await page.locator("#pv-total:text-is('3')").wait_for()
        await b.shot("07-polygon-preview")

        # buurten, from the keyboard only
        await page.locator("#mode-areas").focus()
        await page.keyboard.press("Space")
        await page.locator("#buurt-list").wait_for(state="visible")
        await page.locator("#bu-BU99990101").focus()  # Binnenstad in the list
        await page.keyboard.press("Space")
        await page.locator("#map path[data-code='BU99990102']").focus()  # Stationsbuurt on the map
        await page.keyboard.press("Enter")
        assert await page.locator("#bu-BU99990102").is_checked()
        assert await page.locator("#map path.area.selected").count() == 2
        assert await page.locator("#preview").is_hidden()  # the polygon's preview is stale now
        await page.locator("#to-preview").focus()
        await page.keyboard.press("Enter")
        await page.locator("#preview").wait_for(state="visible")
        assert await page.locator("#pv-total").inner_text() == "3"
        await page.locator("#confirm").focus()
        await page.keyboard.press("Space")
        await page.locator("#send").focus()
        await page.keyboard.press("Enter")
        await page.locator("#watch").wait_for(state="visible")
        alert_id = int(await page.evaluate("sessionStorage.getItem('burgerwacht.watching')"))
        doc = await (await client.get(f"/api/v1/alerts/{alert_id}", headers=op)).json()
        assert doc["target"]["type"] == "areas"
        assert doc["target"]["codes"] == ["BU99990101", "BU99990102"]
        # the polygon draft was withdrawn when the area changed: no stale drafts
        drafts = (await (await client.get("/api/v1/alerts?status=draft", headers=op)).json())["items"]
        assert drafts == []

        await page.locator("#cancel-alert").click()
        await page.locator("#cancel-confirm").click()
        await page.locator("#watch-status:text-is('Geannuleerd')").wait_for()
        await b.shot("08-cancelled")
        doc = await (await client.get(f"/api/v1/alerts/{alert_id}", headers=op)).json()
        assert doc["status"] == "cancelled"
        b.check()


async def test_corridor_is_drawn_previewed_and_watched(client, sandbox, db, staff, tmp_path):
    centre = await address(db, "9991AA", 75)
    await enrol(db, phone(70), centre["id"])
    op = await staff("operator", "GM9999")
    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, token_of(op))
        await page.locator("#title").fill("Vluchtende auto")
        await page.locator("#message").fill("Let op: grijze auto, vlucht over de Dorpsstraat. Bel 112.")
        # a route across the map, three clicks, 600 m wide
        await page.locator("#mode-corridor").check()
        await page.locator("#corridor-tools").wait_for(state="visible")
        await page.locator("#corridor-width").fill("600")
        box = await page.locator("#map svg").bounding_box()
        for fx, fy in ((0.1, 0.5), (0.5, 0.45), (0.9, 0.5)):
            await page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        assert await page.locator("#map polyline.corridor").count() == 1
        assert "3 punten, 600 m breed" in await page.locator("#area-summary").inner_text()
        await page.locator("#to-preview").click()
        await page.locator("#preview").wait_for(state="visible")
        # the band as the server buffered it is drawn on the map
        assert await page.locator("#map path.reach").count() == 1
        draft = (await (await client.get("/api/v1/alerts?status=draft", headers=op)).json())["items"][0]
        assert draft["target"]["type"] == "corridor" and draft["target"]["width_m"] == 600
        assert len(draft["target"]["line"]) == 3
        preview = await (await client.post(f"/api/v1/alerts/{draft['id']}/preview", headers=op)).json()
        assert await page.locator("#pv-total").inner_text() == str(preview["recipients"]["total"])
        await b.shot("08b-corridor-preview")
        await page.locator("#confirm").check()
        await page.locator("#send").click()
        await page.locator("#watch").wait_for(state="visible")
        assert await page.locator("#watch-map path.target").count() == 1
        b.check()


async def _seed_signals(db, period_start, rows) -> None:
    """rows: (buurt, category, day of the period, n), severity 3."""
    await insert(db, [(b, c, period_start + timedelta(days=day), 3, n) for b, c, day, n in rows])


async def test_analyst_map_trend_informatiepositie_and_csv(client, sandbox, db, staff, tmp_path):
    month = last_complete_month(today())
    before = last_complete_month(month.start)
    await _seed_signals(
        db,
        month.start,
        [
            ("BU99990101", "graffiti", 2, 23),
            ("BU99990102", "graffiti", 3, 9),
            ("BU99990103", "graffiti", 4, 3),  # small: suppressed
            ("BU99990201", "graffiti", 5, 12),
            ("BU99990301", "graffiti", 6, 17),
            ("BU99990401", "graffiti", 7, 31),
            ("BU99990101", "woninginbraak", 8, 30),
        ],
    )
    await _seed_signals(db, before.start, [("BU99990101", "graffiti", 1, 14)])
    an = await staff("analyst", "GM9999")
    scan = "area_code,theme,period_start,period_end,registered_count\n" + "\n".join(
        [
            f"BU99990101,woninginbraak,{month.start},{month.end},11",  # 11+: never hidden by noise
            f"BU99990102,woninginbraak,{month.start},{month.end},40",
            f"BU99990103,woninginbraak,{month.start},{month.end},20",
        ]
    )
    resp = await client.post("/api/v1/gebiedsscan", data=scan, headers={**an, "Content-Type": "text/csv"})
    assert resp.status == 200, await resp.text()
    op = await staff("operator", "GM9999")
    base = str(client.make_url("/")).rstrip("/")

    async with browser(tmp_path, base) as b:
        page = b.page
        # an operator's token is not for the analyst pages
        await page.goto("/console/analyse")
        await page.locator("#signin-token").fill(token_of(op))
        await page.locator("#signin-form button[type=submit]").click()
        await page.locator("#signin-error:has-text('niet voor de rol centralist')").wait_for()
        assert await page.evaluate("sessionStorage.getItem('burgerwacht.token')") is None

        await sign_in(page, token_of(an), "/console/analyse")
        await page.locator("#f-category").select_option("graffiti")
        assert await page.locator("#f-period").input_value() == month.label
        api_url = (
            f"/api/v1/signals/summary?municipality=GM9999&level=buurt&period={month.label}&category=graffiti"
        )
        expected = (await (await client.get(api_url, headers=an)).json())["items"]
        published = {r["area_code"]: r["count"] for r in expected if not r["suppressed"]}
        hidden = {r["area_code"] for r in expected if r["suppressed"]}
        # 23 signals: 20 or 25 by the cell-key noise of their random record keys
        assert published.get("BU99990101") in possible(23) - {None} and "BU99990103" in hidden

        # the map: one shape per buurt, published counts classed, suppressed ones hatched
        await page.locator("#choropleth path.choro").nth(11).wait_for(state="attached")
        await page.locator(
            f"#summary-table tbody tr[data-code='BU99990101'] td[data-count='{published['BU99990101']}']"
        ).wait_for()
        shapes = await page.evaluate(
            "() => Array.from(document.querySelectorAll('#choropleth path.choro'))"
            ".map((p) => [p.dataset.code, p.dataset.count, p.getAttribute('fill')])"
        )
        assert len(shapes) == 12
        for code, count, fill in shapes:
            if code in hidden:
                assert fill == "url(#hatch)" and count == ""
            else:
                assert int(count) == published[code] and fill.startswith("#")
        table = await page.evaluate(
            "() => Object.fromEntries(Array.from(document.querySelectorAll('#summary-table tbody tr'))"
            ".map((tr) => [tr.dataset.code, tr.querySelector('td').dataset.count]))"
        )
        assert {c: int(v) for c, v in table.items() if v} == published
        assert {c for c, v in table.items() if not v} == hidden
        # trend: twelve months, this month's bar shows the gemeente figure
        await (
            page.locator("#trend svg rect.bar-value, #trend svg rect.bar-suppressed")
            .nth(11)
            .wait_for(state="attached")
        )
        # one buurt's trend: its name in the table opens it, with the API's figures
        await page.locator("#summary-table tbody tr[data-code='BU99990101'] th button").click()
        await page.locator("#trend[data-area='BU99990101']").wait_for(state="attached")
        doc = await (
            await client.get(
                "/api/v1/signals/trend?municipality=GM9999&area=BU99990101&category=graffiti"
                f"&to={month.label}",
                headers=an,
            )
        ).json()
        points = ", ".join(
            f"{p['period']} {'onderdrukt' if p['count'] is None else p['count']}" for p in doc["points"]
        )
        assert await page.locator("#trend svg").get_attribute("aria-label") == f"Trend: {points}"
        assert points.endswith(f"{month.label} {published['BU99990101']}")  # the same cell
        assert "Binnenstad" in await page.locator("#trend-sub").inner_text()
        await page.locator("#trend").scroll_into_view_if_needed()
        await b.shot("09a-trend-buurt")
        await page.locator("#trend-reset").click()
        await page.locator("#trend[data-area='GM9999']").wait_for(state="attached")
        assert await page.locator("#trend-reset").is_hidden()
        # informatiepositie with mismatch indicators
        await page.locator(
            "#ip-table tbody tr[data-code='BU99990101'][data-theme='woninginbraak']"
        ).wait_for()
        row = page.locator("#ip-table tbody tr[data-code='BU99990101'][data-theme='woninginbraak']")
        assert "onderrapportage" in await row.inner_text()
        await b.shot("09-analyse")

        # priorities: set a weight and a target, and the progress panel lists the theme
        await page.locator("#prio-edit summary").click()
        await page.locator("#prio-form input[name='w-woninginbraak']").fill("3")
        await page.locator("#prio-form input[name='t-woninginbraak']").fill("-10")
        await page.locator("#prio-form button[type=submit]").click()
        prog = page.locator("#progress-table tbody tr[data-theme='woninginbraak']")
        await prog.wait_for()
        assert "-10 %" in await prog.inner_text()
        saved_prio = await (await client.get("/api/v1/municipalities/GM9999/priorities", headers=an)).json()
        assert [(i["theme"], i["weight"], i["target_change_pct"]) for i in saved_prio["items"]] == [
            ("woninginbraak", 3, -10)
        ]
        await page.locator("#progress-table").scroll_into_view_if_needed()
        await b.shot("09b-priorities")

        # the CSV download holds exactly the API's figures
        async with page.expect_download() as info:
            await page.locator("#dl-csv").click()
        download = await info.value
        assert re.fullmatch(rf"buurtsignaal-GM9999-{month.label}-buurt\.csv", download.suggested_filename)
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
        assert {r["area_code"]: int(r["count"]) for r in rows if r["count"]} == published
        assert {r["area_code"] for r in rows if r["suppressed"] == "true"} == hidden
        async with page.expect_download() as info:
            await page.locator("#dl-geojson").click()
        download = await info.value
        geo = json.loads((await download.path()).read_text(encoding="utf-8"))
        assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 12

        # wijk level: four areas
        await page.locator("#f-level").select_option("wijk")
        await page.locator("#summary-table tbody tr[data-code='WK999901']").wait_for()
        await page.locator("#choropleth path.choro").nth(3).wait_for(state="attached")
        assert await page.locator("#choropleth path.choro").count() == 4
        b.problems = [p for p in b.problems if "status of 401" not in p and "status of 403" not in p]
        b.check()
