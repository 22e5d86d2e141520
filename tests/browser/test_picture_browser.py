"""The analyst page in a real browser for a wijkagent: the map, the tables and the new
coverage map show only their own wijken; the coverage map's figures are the API's."""

from __future__ import annotations

import asyncpg
import pytest

from burgerwacht.auth.service import create_user_with_token
from burgerwacht.db.pool import init_connection
from burgerwacht.demo import DEMO_DIR
from burgerwacht.participation.service import import_kwb
from burgerwacht.signals.periods import last_complete_month, today
from tests.helpers.alerting import enrol
from tests.helpers.browser import browser, requires_chromium, sign_in
from tests.helpers.signals import insert

pytestmark = [requires_chromium]


@pytest.fixture
def service_roles():
    return {"web"}


async def test_wijkagent_sees_their_wijken_and_coverage(client, sandbox, db, db_url, tmp_path):
    month = last_complete_month(today())
    await insert(
        db, [("BU99990101", "graffiti", month.start, 3, 23), ("BU99990301", "graffiti", month.start, 3, 40)]
    )
    _, errors = await import_kwb(db, (DEMO_DIR / "kwb.csv").read_text(encoding="utf-8"), year=2026)
    assert not errors
    rows = await db.fetch(
        "SELECT id, buurt_code FROM addresses WHERE wijk_code = 'WK999901' ORDER BY id LIMIT 60"
    )
    for i, r in enumerate(rows):
        await enrol(db, f"+31620{i:06d}", r["id"])
    conn = await asyncpg.connect(db_url)
    try:
        await init_connection(conn)
        _, token = await create_user_with_token(
            conn, name="Agent", role="wijkagent", municipalities=["GM9999"], wijken=["WK999901"], ttl_days=1
        )
    finally:
        await conn.close()
    expected = await (
        await client.get(
            "/api/v1/participation?municipality=GM9999&level=buurt",
            headers={"Authorization": f"Bearer {token}"},
        )
    ).json()
    assert {i["area_code"] for i in expected["items"]} == {"BU99990101", "BU99990102", "BU99990103"}

    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, token, "/console/analyse")
        assert "WK999901" in await page.locator("#user-name").inner_text()
        # the signals map: the three buurten of Centrum, nothing of Havenkwartier
        await page.locator("#choropleth path.choro").nth(2).wait_for(state="attached")
        codes = await page.evaluate(
            "() => Array.from(document.querySelectorAll('#choropleth path.choro')).map((p) => p.dataset.code)"
        )
        assert sorted(codes) == ["BU99990101", "BU99990102", "BU99990103"]
        # the trend opens on their wijk, not the whole municipality (which they may not read)
        await page.locator("#trend[data-area='WK999901']").wait_for(state="attached")
        # the coverage map: the API's per-1,000 figures, hidden ones hatched
        await page.locator("#coverage-map path.area").nth(2).wait_for(state="attached")
        shown = await page.evaluate(
            "() => Object.fromEntries(Array.from(document.querySelectorAll('#coverage-map path.area'))"
            ".map((p) => [p.dataset.code, p.dataset.per1000]))"
        )
        assert shown == {
            i["area_code"]: "" if i["per_1000"] is None else str(i["per_1000"]).removesuffix(".0")
            for i in expected["items"]
        }
        await page.locator("#coverage-table tbody tr").nth(2).wait_for()
        assert await page.locator("#coverage-table tbody tr").count() == 3
        assert await page.locator("#error").is_hidden()
        await page.locator("#coverage-map").scroll_into_view_if_needed()
        await b.shot("20-wijkagent-coverage")
