"""The analyst's effectiveness table in a real browser: the rows are the API's published
figures per month and level, hidden ones say so, and the CSV download is the API's CSV."""

from __future__ import annotations

import csv
import io

import pytest

from tests.helpers.alerting import alert_body, create_and_send, enrol, settled
from tests.helpers.browser import browser, requires_chromium, sign_in

pytestmark = [requires_chromium]


@pytest.fixture
def service_roles():
    return {"web", "worker"}


async def test_analyst_effectiveness_table_and_csv(client, sandbox, db, staff, tmp_path):
    rows = await db.fetch("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 6")
    for i, row in enumerate(rows):
        await enrol(db, f"+3162001{i:04d}", row["id"])
    op = await staff("operator", "GM9999")
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    await settled(client, op, alert["id"])
    await sandbox.sms("+31620010000", "Ik zie hem bij de bakker")
    resp = await client.post(
        f"/api/v1/alerts/{alert['id']}/close",
        json={"message": "Aangehouden.", "outcome": "arrested"},
        headers=op,
    )
    assert resp.status == 202
    sent = await db.fetchval(
        "SELECT sent_at AT TIME ZONE 'Europe/Amsterdam' FROM alerts WHERE id = $1", alert["id"]
    )
    an = await staff("analyst", "GM9999")
    params = {"municipality": "GM9999", "from": f"{sent.year}-01-01", "to": f"{sent.year}-12-31"}
    doc = await (await client.get("/api/v1/alerts/stats", params=params, headers=an)).json()
    (row,) = doc["items"]
    assert row["alerts"] == 1 and "tips" in row["suppressed"] and "outcomes" in row["suppressed"]

    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, an, "/console/analyse")
        first = page.locator("#eff-table tbody tr").first
        await first.locator(f"th:text-is('{sent:%Y-%m}')").wait_for()
        assert await page.locator("#eff-year").input_value() == str(sent.year)
        cells = await first.locator("td").all_inner_texts()
        assert cells[0] == "Regulier" and cells[1] == "1"  # level, alerts
        assert cells[5] == "verborgen" and cells[9] == "verborgen"  # tips, outcomes: too few
        assert cells[4] == str(row["reached"])
        await page.locator("#eff-table").scroll_into_view_if_needed()
        await b.shot("10-effectiveness")
        async with page.expect_download() as info:
            await page.locator("#eff-csv").click()
        download = await info.value
        assert download.suggested_filename == f"alert-effectiveness-GM9999-{sent.year}-01-{sent.year}-12.csv"
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        api_csv = await (
            await client.get("/api/v1/alerts/stats", params={**params, "format": "csv"}, headers=an)
        ).text()
        assert list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8")))) == list(
            csv.reader(io.StringIO(api_csv))
        )
        # a level without alerts: no rows, and says so
        await page.locator("#eff-level").select_option("amber_national")
        await page.locator("#eff-table tbody td:has-text('Geen acties')").wait_for()
        b.check()
