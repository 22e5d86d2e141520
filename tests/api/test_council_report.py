"""The safety report for the council: renders from demo-like data, prints on its own
(no external resources), shows no count below k anywhere (HTML, maps, CSV), and its
figures are the analysts' published figures."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.helpers.council import parse_report, seed_more, seed_year

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
    assert page.sections == ["priorities", "signals", "trend", "informatiepositie", "participation", "alerts"]
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


# ------------------------------------------------------- priorities, coverage, outcomes

PRIORITIES = {
    "items": [
        {"theme": "woninginbraak", "weight": 3, "target_change_pct": -10},
        {"theme": "drugsoverlast", "weight": 1.5, "target_change_pct": -5},
        {"theme": "verkeer", "weight": 1},
    ]
}


@pytest.fixture
async def full(client, staff, db, seeded):
    """The seeded year plus a baseline year, priorities with targets, CBS figures,
    enrolled residents and closed alerts with outcomes; returns an analyst's headers."""
    await seed_more(db, 2025)
    analyst = await staff("analyst", "GM9999")
    resp = await client.put("/api/v1/municipalities/GM9999/priorities", json=PRIORITIES, headers=analyst)
    assert resp.status == 200, await resp.text()
    return analyst


NEW_TABLES = {"priorities", "priority_progress", "participation_wijk", "alerts_outcomes"}


async def test_all_sections_render_and_show_no_count_below_k(client, full):
    _, html = await _html(client, full)
    page = parse_report(html)
    assert page.sections == ["priorities", "signals", "trend", "informatiepositie", "participation", "alerts"]
    for title in ("Prioriteiten en voortgang", "Deelname (dekking)", "Afloop van de afgesloten acties"):
        assert title in html
    assert not page.external and "script" not in page.tags
    assert NEW_TABLES <= {t for t, _, _ in page.cells} | {t for t, _, _ in page.figures}
    for table in NEW_TABLES - {"priorities"}:  # the goals table holds no counts, only weights and shares
        shown = [v for (t, _, _), v in page.cells.items() if t == table and v is not None]
        assert shown, table  # each new table shows published counts, not only hidden ones
    assert all(_published_ok(v) for v in page.cells.values() if v is not None)
    for text, is_hidden in page.count_texts:
        assert text == "—" if is_hidden else int(text.replace(".", "")) >= K
    # the CSV holds the same counts, percentages and figures
    rows = await _csv(client, full)
    counts = {(r["table"], r["row_code"], r["column"]): r for r in rows if r["kind"] == "count"}
    assert set(counts) == set(page.cells)
    for key, r in counts.items():
        assert (None if r["hidden"] == "true" else int(r["value"])) == page.cells[key]
    others = {(r["table"], r["row_code"], r["column"]): r for r in rows if r["kind"] in ("percent", "figure")}
    assert set(others) == set(page.figures)
    for key, r in others.items():
        assert (float(r["value"]) if r["value"] else None) == page.figures[key], key
    # a weight of 1.5 and a target of -10 % read as Dutch
    assert "1,5" in html and "-10,0 %" in html


async def test_priority_progress_is_the_informatiepositie_progress(client, full):
    _, html = await _html(client, full)
    page = parse_report(html)
    resp = await client.get(
        "/api/v1/informatiepositie", params={"municipality": "GM9999", "period": "2025"}, headers=full
    )
    assert resp.status == 200
    progress = (await resp.json())["progress"]
    assert [p["theme"] for p in progress] == ["woninginbraak", "drugsoverlast", "verkeer"]
    goals = {(r, c): v for (t, r, c), v in page.figures.items() if t == "priorities"}
    shown = 0
    for p in progress:
        theme = p["theme"]
        assert goals[(theme, "weight")] == p["weight"]
        assert goals[(theme, "target_change_pct")] == p["target_change_pct"]
        for side in ("registrations", "signals"):
            for what in ("current", "baseline"):
                cell = page.cells[("priority_progress", theme, f"{side}_{what}")]
                assert cell == p[side][what], (theme, side, what)
                shown += cell is not None
            change = page.figures[("priority_progress", theme, f"{side}_change_pct")]
            assert change == p[side]["change_pct"]
        assert goals[(theme, "registrations_change_pct")] == p["registrations"]["change_pct"]
    assert shown  # the demo-like data publishes some progress figures
    on_track = {p["theme"]: p["on_track"] for p in progress}
    assert on_track["verkeer"] is None  # no target
    for theme, value in on_track.items():
        word = {True: "ja", False: "nee", None: "onbekend" if theme != "verkeer" else "geen doel"}[value]
        assert re.search(rf'data-row="{theme}".*?data-col="on_track">{word}</td>', html, re.S), (theme, word)


async def test_a_report_without_priorities_says_so(client, staff, seeded):
    _, html = await _html(client, await staff("analyst", "GM9999"))
    assert "geen prioriteiten met doelen vastgelegd" in html
    assert not {t for t, _, _ in parse_report(html).cells} & {"priorities", "priority_progress"}


async def test_coverage_per_wijk_is_the_participation_figure(client, full):
    _, html = await _html(client, full)
    page = parse_report(html)
    resp = await client.get(
        "/api/v1/participation", params={"municipality": "GM9999", "level": "wijk"}, headers=full
    )
    assert resp.status == 200
    items = (await resp.json())["items"]
    assert {r for t, r, _ in page.cells if t == "participation_wijk"} == {i["area_code"] for i in items}
    for i in items:
        code = i["area_code"]
        for col in ("enrolled", "sms", "voice"):
            assert page.cells[("participation_wijk", code, col)] == i[col], (code, col)
        assert page.figures[("participation_wijk", code, "per_1000")] == i["per_1000"]
        assert page.figures[("participation_wijk", code, "inhabitants")] == i["inhabitants"]
        if i["suppressed"]:
            assert page.cells[("participation_wijk", code, "enrolled")] is None
    assert any(i["suppressed"] for i in items) and any(not i["suppressed"] for i in items)
    assert "gemeente" not in {r for t, r, _ in page.cells if t == "participation_wijk"}  # no total


async def test_outcome_shares_come_from_the_protected_statistics(client, full):
    _, html = await _html(client, full)
    page = parse_report(html)
    resp = await client.get(
        "/api/v1/alerts/stats",
        params={"municipality": "GM9999", "from": "2025-01-01", "to": "2025-12-31"},
        headers=full,
    )
    stats = (await resp.json())["items"]
    october = next(i for i in stats if i["level"] == "regular" and i["month"] == "2025-10")
    assert october["closed"] == 6 and october["outcomes"] is not None
    # the only regular month with closed alerts: its published shares are the period's
    for outcome, share in october["outcomes"].items():
        assert page.figures[("alerts_outcomes", "regular", outcome)] == round(100 * share, 1)
    assert page.figures[("alerts_outcomes", "regular", "arrested")] == 50.0
    assert page.cells[("alerts_outcomes", "regular", "closed")] == 5  # 6 closed, rounded
    # two closed missing-child alerts: the stats hide their shares, and so does the report
    november = next(i for i in stats if i["level"] == "missing_child" and i["month"] == "2025-11")
    assert november["closed"] == 2 and november["outcomes"] is None
    assert page.cells[("alerts_outcomes", "missing_child", "closed")] is None
    assert all(
        v is None for (t, r, c), v in page.figures.items() if t == "alerts_outcomes" and r == "missing_child"
    )
    assert "Gevonden, ongedeerd" in html


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
