"""The console's photo upload on the draft in a real browser: the chosen JPEG (with GPS
tags) goes to the draft when the operator asks for the preview, and the preview shows
the photo as the server re-encoded it (its size, no metadata)."""

from __future__ import annotations

import pytest

from tests.helpers.browser import browser, requires_chromium, sign_in, wait_image_loaded
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
        await sign_in(page, op)
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
        await wait_image_loaded(img)
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


async def test_the_watch_view_shows_the_sent_photo_and_takes_it_off_the_page(
    client, sandbox, db, staff, settings, tmp_path
):
    from urllib.parse import urlsplit

    from tests.helpers.alerting import address, alert_body, create, enrol, wait_until

    op = await staff("operator", "GM9999")
    centre = await address(db, "9991AA", 75)
    await enrol(db, "+31630000009", centre["id"])
    alert = await create(
        client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}, title="Gestolen bakfiets")
    )
    resp = await client.put(
        f"/api/v1/alerts/{alert['id']}/photo",
        data=jpeg_with_gps(1600, 1200),
        params={"alt": "Groene bakfiets"},
        headers={**op, "Content-Type": "image/jpeg"},
    )
    assert resp.status == 200
    assert (await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=op)).status == 202
    sent = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
    public_photo = urlsplit(sent["photo_url"]).path
    assert (await client.get(public_photo)).status == 200
    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, op)
        await page.locator(".alert-item", has_text="Gestolen bakfiets").click()
        await page.locator("#watch-photo").wait_for(state="visible")
        img = page.locator("#watch-photo-img")
        await wait_image_loaded(img)
        photo = sent["photo"]
        assert await img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [
            photo["width"],
            photo["height"],
        ]
        assert await img.get_attribute("alt") == "Groene bakfiets"
        assert (
            f"{photo['width']} × {photo['height']} pixels"
            in await page.locator("#watch-photo-info").inner_text()
        )
        await b.shot("watch-photo")
        # taking it off takes a second click
        await page.locator("#watch-photo-remove").click()
        assert (await client.get(public_photo)).status == 200
        await page.locator("#watch-photo-confirm").click()
        await page.locator("#watch-photo").wait_for(state="hidden")
        b.check()
    out = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
    assert out["photo"] is None and out["photo_url"] is None

    # off the page once the service's own short page cache (public.page_cache_seconds) runs out
    async def withdrawn() -> bool:
        return (await client.get(public_photo)).status == 404

    await wait_until(withdrawn, timeout=settings.public.page_cache_seconds + 3, interval=0.1)
