"""The safety report for the council: renders from demo-like data, prints on its own
(no external resources), shows no count below k anywhere (HTML, maps, CSV), and its
figures are the analysts' published figures."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.helpers.council import parse_report, seed_year

K = 5
ROUND = 5
URL = "/api/v1/reports/safety"


@pytest.fixture
async def seeded(db):
    await seed_year(db, 2025)


async def _html(client, headers, **params):
    resp = await client.get(URL, params={"municipality": "GM9999", "year": "2025", **params}, headers=headers)
    assert resp.status == 200, await resp.text()
    return resp, await resp.text()


async def _csv(client, headers, **params):
    resp = await client.get(
        URL,
        params={"municipality": "GM9999", "year": "2025", **params},
        headers={**headers, "Accept": "text/csv"},
    )
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/csv"
    return list(csv.DictReader(io.StringIO(await resp.text())))


def _published_ok(n: int) -> bool:
    return n >= K and n % ROUND == 0


async def test_report_renders_prints_alone_and_shows_no_count_below_k(client, staff, db, seeded):
    analyst = await staff("analyst", "GM9999")
    resp, html = await _html(client, analyst)
    assert resp.content_type == "text/html"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    page = parse_report(html)
    assert page.sections == ["signals", "trend", "informatiepositie", "alerts"]
    assert "@page" in html and "A4" in html and 'lang="nl"' in html
    assert "Veiligheidsrapportage Demostad 2025" in html
    # nothing to fetch: no script, no stylesheet link, no image or tile from elsewhere
    assert not page.external and not {"script", "link", "img", "iframe"} & page.tags
    assert "<svg" in html and not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html)
    # every count: published (>= k, rounded) or hidden; both occur
    published = [v for v in page.cells.values() if v is not None]
    hidden = [k for k, v in page.cells.items() if v is None]
    assert published and hidden
    assert all(_published_ok(v) for v in published), sorted(set(published))
    for text, is_hidden in page.count_texts:
        if is_hidden:
            assert text == "—"
        else:
            assert int(text.replace(".", "")) >= K
    # the map shades buurten by published counts only
    assert page.map_counts and all(_published_ok(v) for v in page.map_counts)
    buurten = await db.fetchval("SELECT count(*) FROM areas WHERE level = 'buurt'")
    assert len(page.map_counts) + page.map_hidden == buurten
    # the tiny police count (2) beside many signals is not shown
    tables = {t for t, _, _ in page.cells}
    assert {
        "signals_wijk_theme",
        "signals_buurt",
        "trend_quarter",
        "informatiepositie",
        "alerts_level",
    } <= tables
    regs = {k: v for k, v in page.cells.items() if k[0] == "informatiepositie" and k[2] == "registered"}
    assert regs
    assert all(v is None or _published_ok(v) for v in regs.values())
    # 7 regular alerts → 5, 2 missing-child alerts hidden, so the total is hidden too
    assert page.cells[("alerts_level", "regular", "alerts")] == 5
    assert page.cells[("alerts_level", "missing_child", "alerts")] is None
    assert page.cells[("alerts_level", "total", "alerts")] is None
    assert page.cells[("alerts_level", "regular", "tips")] == 20  # 21 tips


async def test_csv_has_the_same_figures(client, staff, seeded):
    analyst = await staff("analyst", "GM9999")
    _, html = await _html(client, analyst)
    page = parse_report(html)
    rows = await _csv(client, analyst)
    counts = {(r["table"], r["row_code"], r["column"]): r for r in rows if r["kind"] == "count"}
    assert set(counts) == set(page.cells)
    for key, r in counts.items():
        if page.cells[key] is None:
            assert r["value"] == "" and r["hidden"] == "true"
        else:
            assert int(r["value"]) == page.cells[key] and r["hidden"] == "false"
            assert _published_ok(int(r["value"]))
    # format=csv is the same document
    resp = await client.get(
        URL, params={"municipality": "GM9999", "year": "2025", "format": "csv"}, headers=analyst
    )
    assert resp.content_type == "text/csv"
    assert list(csv.DictReader(io.StringIO(await resp.text()))) == rows


async def test_figures_are_the_published_summary_figures(client, staff, seeded):
    analyst = await staff("analyst", "GM9999")
    _, html = await _html(client, analyst, quarter="2")
    page = parse_report(html)
    resp = await client.get(
        "/api/v1/signals/summary",
        params={"municipality": "GM9999", "level": "wijk", "period": "2025-Q2", "group": "all"},
        headers=analyst,
    )
    summary = {i["area_code"]: i["count"] for i in (await resp.json())["items"]}
    shown = {row: v for (t, row, col), v in page.cells.items() if t == "signals_wijk_theme" and col == "all"}
    assert {w: shown[w] for w in summary} == summary
    # a quarter's trend runs through that quarter: eight quarters
    cols = sorted({c for t, _, c in page.cells if t == "trend_quarter"})
    assert cols == ["2023-Q3", "2023-Q4", "2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2"]
    # a quarter's map has hidden buurten beside published ones
    assert page.map_hidden and page.map_counts


@pytest.mark.parametrize(
    ("role", "scope", "params", "status"),
    [
        ("analyst", "GM0001", {}, 403),
        ("operator", "GM9999", {}, 403),
        ("fieldworker", "GM9999", {}, 403),
        ("analyst", "GM9999", {"quarter": "5"}, 422),
        ("analyst", "GM9999", {"year": "1999"}, 422),
        ("analyst", "GM9999", {"municipality": "9999"}, 422),
        ("analyst", "GM0001", {"municipality": "GM0001"}, 404),
        ("admin", "GM9999", {}, 200),
    ],
)
async def test_access_and_bad_queries(client, staff, role, scope, params, status):
    headers = await staff(role, scope)
    resp = await client.get(URL, params={"municipality": "GM9999", "year": "2025", **params}, headers=headers)
    assert resp.status == status, await resp.text()
    if status != 200:
        assert resp.content_type == "application/problem+json"


async def test_a_year_without_data_renders_with_everything_hidden(client, staff):
    analyst = await staff("analyst", "GM9999")
    _, html = await _html(client, analyst, year="2024")
    page = parse_report(html)
    assert page.cells and all(v is None for v in page.cells.values())
    assert page.map_hidden and not page.map_counts
    assert "geen politieregistraties" in html
