"""Tip photos in the console (issue 17), in a real browser: a picture message to an alert
being watched shows up live with its thumbnail (fetched with the operator's token into
a blob URL, under the console's CSP) and a note for a medium that was not kept."""

from __future__ import annotations

import base64

import pytest

from tests.helpers.alerting import alert_body, create_and_send, enrol, settled
from tests.helpers.browser import browser, requires_chromium, sign_in
from tests.helpers.photos import png

pytestmark = [requires_chromium]
RESIDENT = "+31620099001"


@pytest.fixture
def service_roles():
    return {"web", "worker"}


async def test_picture_tip_shows_its_thumbnail_live(client, sandbox, db, staff, tmp_path):
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    await enrol(db, RESIDENT, aid)
    op = await staff("operator", "GM9999")
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    await settled(client, op, alert["id"])
    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, op, watching=alert["id"])
        await page.locator("#stream-state.open").wait_for()
        await sandbox.sms(
            RESIDENT,
            "Hier is hij, zie foto",
            media=[
                {"content_type": "image/png", "data": base64.b64encode(png(320, 240)).decode()},
                {"content_type": "video/mp4", "data": base64.b64encode(b"\x00\x00\x00\x18ftypmp42").decode()},
            ],
        )
        tip = page.locator("#tips li.tip").first
        await tip.locator("text=zie foto").wait_for(timeout=5_000)
        img = tip.locator(".tip-photos img[src^='blob:']")
        await img.wait_for(timeout=10_000)
        assert await img.evaluate("(i) => i.complete && i.naturalWidth") == 320
        assert "(320×240)" in await img.get_attribute("alt")
        await tip.locator("text=Foto 2 niet bewaard").wait_for()
        assert "formulier" not in await tip.locator(".chan").inner_text()
        await b.shot("tip-photo")
