"""Mijn Burgerwacht in a real browser (headless Chromium through Playwright) against the
service and the Twilio simulator: a resident signs in with the code the simulator
received, changes settings and an address's time window, pauses, downloads their data
and erases everything; the session cookie is out of the page's reach (HttpOnly)."""

from __future__ import annotations

import json

import pytest

from tests.helpers.browser import browser, requires_chromium

pytestmark = [requires_chromium]
PHONE = "+31612345678"


@pytest.fixture
def service_roles():
    return {"web"}


async def _code(sandbox) -> str:
    sent = [m for m in await sandbox.outbound(PHONE) if "Burgerwacht is " in m["body"]]
    return sent[-1]["body"].split(" is ")[1][:6]


async def test_resident_signs_in_edits_exports_and_erases(client, sandbox, db, tmp_path):
    assert "Welkom" in (await sandbox.sms(PHONE, "AANMELDEN 9991AA 75"))["reply"]
    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base) as b:
        page = b.page
        await page.goto("/mijn")
        await page.get_by_label("Uw telefoonnummer").fill("06 12345678")
        await page.get_by_role("button", name="Stuur mij een code").click()
        await page.locator("#code-form").wait_for(state="visible")
        assert "code per sms" in await page.locator("#status").inner_text()
        await page.get_by_label("De code uit de sms (6 cijfers)").fill(await _code(sandbox))
        await page.get_by_role("button", name="Inloggen").click()
        await page.locator("#mine").wait_for(state="visible")
        await b.shot("mijn-01-signed-in")
        assert await page.evaluate("document.cookie") == ""  # HttpOnly: not readable by scripts
        assert "1) 9991 AA 75 (thuis)" in await page.locator("#addresses").inner_text()
        assert (
            "*" in await page.locator("#who").inner_text()
            or "\u2022" in await page.locator("#who").inner_text()
        )

        # settings: bulletins on, slow speech
        await page.get_by_label("Ja, stuur mij ook nieuwsberichten").check()
        await page.get_by_label("Langzaam spreken bij een oproep").check()
        await page.locator("#save-settings").click()
        await page.locator("#status").get_by_text("Opgeslagen.").wait_for()
        r = await db.fetchrow("SELECT bulletins_opt_in, slow_speech FROM residents")
        assert r["bulletins_opt_in"] and r["slow_speech"]

        # a time window for the address: ma-vr 08:00-18:00 (the default of a new window)
        await page.locator("#a1-add-window").click()
        await page.locator("#address-1 .w-end").fill("17:30")
        await page.locator("#a1-save").click()
        await page.locator("#status").get_by_text("Opgeslagen.").wait_for()
        windows = await db.fetchval("SELECT time_windows FROM resident_addresses")
        assert windows == [{"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "17:30"}]

        # pause for 3 days, then stop it
        await page.get_by_label("Aantal dagen").fill("3")
        await page.get_by_role("button", name="Pauze starten").click()
        await page.locator("#pause-state").get_by_text("Pauze tot").wait_for()
        assert await db.fetchval("SELECT paused_until > now() + interval '2 days' FROM residents")
        await page.get_by_role("button", name="Pauze stoppen").click()
        await page.locator("#pause-state").get_by_text("Geen pauze").wait_for()

        # English: the page follows the resident's language
        await page.locator("#lang-en").check()
        await page.locator("#save-settings").click()
        await page.get_by_role("heading", name="Your settings").wait_for()
        assert await db.fetchval("SELECT language FROM residents") == "en"
        await b.shot("mijn-02-english")

        # download my data
        async with page.expect_download() as info:
            await page.get_by_role("link", name="Download my data").click()
        download = await info.value
        doc = json.loads((await download.path()).read_text())
        assert doc["phone"] == PHONE and doc["resident"]["bulletins_opt_in"] is True

        # erase, after confirming
        await page.get_by_role("button", name="Erase everything").click()
        await page.get_by_role("button", name="Yes, erase everything").click()
        await page.locator("#login").wait_for(state="visible")
        assert "erased" in await page.locator("#status").inner_text()
        assert await db.fetchval("SELECT count(*) FROM residents") == 0
        await b.shot("mijn-03-erased")
        b.check()
