"""The fieldworker page on a phone-sized screen in a real browser (headless Chromium):
sign in, record a signal at the device's location and one by a tap on the map, then
triage an open signal (close it with a note the reporter reads through Open311)."""

from __future__ import annotations

import pytest

from tests.helpers.browser import browser, requires_chromium, sign_in, token_of

pytestmark = [requires_chromium]

BINNENSTAD = {"latitude": 52.05545, "longitude": 5.78865}


async def test_fieldworker_records_by_location_and_map_and_triages(client, db, staff, tmp_path):
    fieldworker = await staff("fieldworker", "GM9999", name="Veldwerker De Vries")
    base = str(client.make_url("/")).rstrip("/")
    resp = await client.get("/console/veld")
    assert resp.status == 200 and "geolocation=(self)" in resp.headers["Permissions-Policy"]

    async with browser(tmp_path, base, viewport=(390, 844)) as b:
        page = b.page
        await b.context.grant_permissions(["geolocation"], origin=base)
        await b.context.set_geolocation(BINNENSTAD)
        await sign_in(page, fieldworker, "/console/veld")
        await page.locator("#map svg path.area").first.wait_for()

        # 1. at the device's location
        await page.locator("#locate").click()
        await page.locator("#place-text:has-text('Binnenstad')").wait_for()
        await page.locator("#category").select_option("graffiti")
        await page.locator(".severity label:has-text('4')").click()
        await page.locator("#text").fill("Tags op de brug")
        await b.shot("veld-01-new")
        await page.locator("#save").click()
        await page.locator("#saved:has-text('Opgeslagen')").wait_for()
        row = await db.fetchrow("SELECT * FROM signals")
        assert row["buurt_code"] == "BU99990101" and row["category"] == "graffiti"
        assert row["severity"] == 4 and row["source"] == "schouw" and row["location"] is not None
        assert row["text"] == "Tags op de brug"
        assert row["created_by"].startswith("user:")

        # 2. a tap on the map, in the middle of another buurt's outline
        target = page.locator("#map svg path.area[data-code='BU99990202']")
        box = await target.bounding_box()
        await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        placed = await page.locator("#place-text").inner_text()
        await page.locator("#category").select_option("zwerfafval")
        await page.locator("#save").click()
        await page.locator("#saved:has-text('zwerfafval'), #saved:has-text('Zwerfafval')").wait_for()
        second = await db.fetchrow(
            "SELECT s.buurt_code, a.name FROM signals s JOIN areas a ON a.code = s.buurt_code "
            "WHERE s.category = 'zwerfafval'"
        )
        assert second["name"] in placed

        # 3. triage: the list shows both; close one with a note for the reporter
        await page.locator("#tab-list").click()
        await page.locator("#signals li button").nth(1).wait_for()
        assert await page.locator("#signals li button").count() == 2
        await page.locator("#signals li button:has-text('Tags op de brug')").click()
        await page.locator("#triage").wait_for(state="visible")
        await page.locator("#t-status").select_option("closed")
        await page.locator("#t-public").fill("De graffiti is verwijderd.")
        await b.shot("veld-02-triage")
        await page.locator("#t-save").click()
        await page.locator("#triage").wait_for(state="hidden")
        await page.locator("#signals li button").nth(1).wait_for(state="detached")
        done = await db.fetchrow(
            "SELECT status, public_note, public_id FROM signals WHERE id = $1", row["id"]
        )
        assert done["status"] == "closed" and done["public_note"] == "De graffiti is verwijderd."
        await b.shot("veld-03-list")
        b.check()

    [req] = await (await client.get(f"/open311/v2/requests/{done['public_id']}.json")).json()
    assert req["status"] == "closed" and req["status_notes"] == "De graffiti is verwijderd."


@pytest.mark.parametrize("role", ["analyst"])
async def test_other_roles_are_sent_to_their_page(client, staff, tmp_path, role):
    headers = await staff(role, "GM9999")
    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base, viewport=(390, 844)) as b:
        page = b.page
        await page.goto("/console/veld")
        await page.locator("#signin-token").fill(token_of(headers))
        await page.locator("#signin-form button[type=submit]").click()
        await page.locator("#signin-error:has-text('/console/analyse')").wait_for()
