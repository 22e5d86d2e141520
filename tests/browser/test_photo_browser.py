"""The console's photo upload on the draft in a real browser: the chosen JPEG (with GPS
tags) goes to the draft when the operator asks for the preview, and the preview shows
the photo as the server re-encoded it (its size, no metadata)."""

from __future__ import annotations

import pytest

from tests.helpers.browser import browser, requires_chromium, token_of
from tests.helpers.photos import has_exif, jpeg_with_gps

pytestmark = [requires_chromium]


@pytest.fixture
def service_roles():
    return {"web"}


async def test_operator_puts_a_photo_on_the_draft_and_sees_the_result(client, sandbox, db, staff, tmp_path):
    op = await staff("operator", "GM9999")
    photo = tmp_path / "sam.jpg"
    photo.write_bytes(jpeg_with_gps(1600, 1200))
    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base) as b:
        page = b.page
        await page.goto("/console/")
        await page.locator("#signin-token").fill(token_of(op))
        await page.locator("#signin-form button[type=submit]").click()
        await page.locator("#app").wait_for(state="visible")
        await page.locator("#title").fill("Vermiste jongen Sam")
        await page.locator("#message").fill("Sam (8) is vermist. Hij draagt een groene jas. Bel 112.")
        await page.locator("#mode-areas").check()
        await page.locator("#bu-BU99990101").check()
        await page.locator("#photo-row summary").click()
        await page.locator("#photo").set_input_files(str(photo))
        await page.locator("#photo-alt").fill("Sam in een groene jas")
        await page.locator("#to-preview").click()
        await page.locator("#preview-photo").wait_for(state="visible")
        img = page.locator("#preview-photo-img")
        await page.wait_for_function("document.querySelector('#preview-photo-img').naturalWidth > 0")
        [draft] = (await (await client.get("/api/v1/alerts?status=draft", headers=op)).json())["items"]
        width, height = draft["photo"]["width"], draft["photo"]["height"]
        assert max(width, height) <= 1280 and draft["photo"]["alt"] == "Sam in een groene jas"
        # the browser shows the stored (re-encoded) photo, not the file it was given
        assert await img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [width, height]
        assert await img.get_attribute("alt") == "Sam in een groene jas"
        assert f"{width} × {height} pixels" in await page.locator("#preview-photo-info").inner_text()
        await b.shot("photo-preview")
        stored = await (await client.get(f"/api/v1/alerts/{draft['id']}/photo", headers=op)).read()
        assert not has_exif(stored)
        b.check()
