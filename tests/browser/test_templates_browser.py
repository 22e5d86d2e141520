"""The template picker in the operator console, in headless Chromium: choosing a starter
template fills level, lifetime and radius, a field per placeholder fills the texts, an
empty one is asked for, and the alert records the template and reaches residents with
the filled text."""

from __future__ import annotations

import pytest

from burgerwacht.templates import service as templates
from tests.helpers.alerting import address, addresses_near, enrol, settled
from tests.helpers.browser import browser, requires_chromium, sign_in

pytestmark = [requires_chromium]


@pytest.fixture
def service_roles():
    return {"web", "worker"}


async def test_operator_makes_an_alert_from_a_starter_template(client, sandbox, db, staff, tmp_path):
    await templates.load_starters(db)
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 500)
    for i in range(3):
        await enrol(db, f"+316300000{i:02d}", near[i])
    op = await staff("operator", "GM9999")
    base = str(client.make_url("/")).rstrip("/")

    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, op, ready="#template-row")
        await page.locator("#template").select_option(label="Woninginbraak (landelijk)")
        assert await page.locator("#c-radius").input_value() == "500"
        assert await page.locator("#title").input_value() == "Inbraak in de {straat}"
        await page.locator("#tf-straat").fill("Dorpsstraat")
        assert await page.locator("#title").input_value() == "Inbraak in de Dorpsstraat"
        await page.locator("#c-lat").fill(f"{centre['lat']:.6f}")
        await page.locator("#c-lon").fill(f"{centre['lon']:.6f}")
        await page.locator("#to-preview").click()
        error = page.locator("#compose-error")
        await error.wait_for(state="visible")
        assert "een waarde voor kenmerken" in await error.inner_text()
        await page.locator("#tf-kenmerken").fill("man, zwarte jas, rugzak")
        message = await page.locator("#message").input_value()
        assert "Dorpsstraat" in message and "zwarte jas" in message and "{" not in message
        await page.locator("#to-preview").click()
        await page.locator("#preview").wait_for(state="visible")
        assert await page.locator("#pv-total").inner_text() == "3"
        await b.shot("templates-01-preview")
        await page.locator("#confirm").check()
        await page.locator("#send").click()
        await page.locator("#watch").wait_for(state="visible")
        alert_id = int(await page.evaluate("sessionStorage.getItem('burgerwacht.watching')"))
        b.check()

    alert = await settled(client, op, alert_id)
    tid = next(
        t["id"]
        for t in (await (await client.get("/api/v1/templates", headers=op)).json())["items"]
        if t["name"] == "Woninginbraak"
    )
    assert alert["template_id"] == tid and alert["message"] == message
    sent = await sandbox.outbound()
    # the filled text, then (link auto, a two-segment text) the alert's public page
    start = f"Burgerwacht {alert['reference']}: {message}"
    assert len(sent) == 3 and all(m["body"].startswith(start) for m in sent), sent
