"""The operator console's follow-up box, widening by drawing the next ring (with the
residents it would add) and the alert's timeline, in a real browser (headless Chromium)
against the service and the simulator. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import pytest
from playwright.async_api import Error as PlaywrightError

from tests.helpers.alerting import address, alert_body, circle, create_and_send, enrol
from tests.helpers.browser import browser, requires_chromium, sign_in
from tests.helpers.lifecycle import in_ring, quiet_queue

pytestmark = [requires_chromium]


@pytest.fixture
def service_roles():
    return {"web", "worker"}


def phone(i: int) -> str:
    return f"+316500{i:05d}"


async def test_follow_up_widen_by_drawing_and_timeline(client, sandbox, db, staff, tmp_path):
    centre = await address(db, "9991AA", 75)
    for i, home in enumerate(await in_ring(db, centre, 0, 140, 3)):
        await enrol(db, phone(i), home)
    for i, home in enumerate(await in_ring(db, centre, 180, 280, 2)):
        await enrol(db, phone(10 + i), home)
    op = await staff("operator", "GM9999", name="Centralist Jansen")
    alert = await create_and_send(client, op, alert_body(circle(centre, 150)))
    await quiet_queue(db)
    base = str(client.make_url("/")).rstrip("/")

    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, op, watching=alert["id"])
        await page.locator("#update-card").wait_for(state="visible")

        # a follow-up: the meter, who it reaches, then sent; the timeline shows it
        await page.locator("#update-message").fill("Verdachte nu richting station, zonder jas.")
        assert "GSM-7" in await page.locator("#update-meter").inner_text()
        await page.locator("#update-reach:has-text('Gaat naar 3 bewoner(s)')").wait_for()
        await page.locator("#send-update").click()
        await page.locator("#update-result:has-text('Vervolgbericht 1')").wait_for()
        await page.locator("#wave-timeline li:has-text('Vervolgbericht 1')").wait_for()

        # the next ring is drawn around the alert's circle, 1.5× wider; 300 m reaches the two
        assert await page.locator("#widen-radius").input_value() == "225"
        assert await page.locator("#watch-map circle.proposal").count() == 1
        await page.locator("#widen-radius").fill("300")
        await page.locator("#widen-reach:has-text('voegt 2 bewoner(s) toe')").wait_for()
        await b.shot("lifecycle-01-ring")
        await page.locator("#widen-send").click()
        await page.locator("#widen-result:has-text('Golf 1: 2 bewoner(s) erbij')").wait_for()
        await page.locator("#wave-timeline li:has-text('Golf 1')").wait_for()
        await page.locator("#watch-map path.wave").wait_for()

        # drawing with the pointer: a click for the centre, another for the radius. The
        # watch view redraws its map on every progress event: wait until the wave went
        # out, so the map stands still under the pointer
        await quiet_queue(db)
        box = None
        for attempt in range(20):  # a late delivery report may still redraw it
            try:
                await page.locator("#watch-map svg").scroll_into_view_if_needed()
                box = await page.locator("#watch-map svg").bounding_box()
            except PlaywrightError:
                if attempt == 19:
                    raise
            if box is not None:
                break
            await page.wait_for_timeout(250)
        assert box is not None, "the watch map never stood still"
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        await page.mouse.click(cx, cy)
        await page.mouse.click(cx + 30, cy)
        drawn = int(await page.locator("#widen-radius").input_value())
        assert drawn > 10 and drawn != 300
        await page.locator("#widen-reach:has-text('Deze ring voegt')").wait_for()
        await b.shot("lifecycle-02-drawn")
        b.check()

    await quiet_queue(db)
    bodies = {m["to"]: m["body"] for m in await sandbox.outbound()}
    assert "UPDATE: Verdachte nu richting station" in bodies[phone(10)]  # the wave carried the news
