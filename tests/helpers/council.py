"""Demo-like data for the council report and helpers for bulletin tests."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from burgerwacht.demo import DEMO_DIR
from burgerwacht.participation.service import import_kwb
from tests.helpers import signals
from tests.helpers.dispatch import enrol_bulk

CATEGORIES = {
    "zwerfafval": 9,
    "vernieling": 5,
    "graffiti": 6,
    "hondenpoep": 7,
    "dronken_mensen": 2,
    "drugs": 3,
    "burenoverlast": 4,
    "hangjongeren": 3,
    "te_hard_rijden": 8,
    "parkeeroverlast": 6,
    "woninginbraak": 2,
    "anders": 2,
}


async def seed_year(db, year: int, n: int = 600, seed: int = 18) -> None:
    """Signals spread unevenly over Demostad's buurten and categories for one year (as
    the demo does), police registrations per wijk and quarter for a few themes, and a few
    alerts with tips."""
    rnd = random.Random(seed)
    buurten = [r[0] for r in await db.fetch("SELECT code FROM areas WHERE level = 'buurt' ORDER BY code")]
    weights = [rnd.choice((1, 2, 4, 8)) for _ in buurten]
    cats, cat_w = list(CATEGORIES), list(CATEGORIES.values())
    rows: dict[tuple[str, str, date], int] = {}
    for _ in range(n):
        day = date(year, 1, 1) + timedelta(days=rnd.randrange(365))
        key = (rnd.choices(buurten, weights)[0], rnd.choices(cats, cat_w)[0], day)
        rows[key] = rows.get(key, 0) + 1
    await signals.insert(db, [(b, c, d, rnd.randint(1, 5), k) for (b, c, d), k in rows.items()])
    wijken = [r[0] for r in await db.fetch("SELECT code FROM areas WHERE level = 'wijk' ORDER BY code")]
    scan = []
    for w in wijken:
        for q in range(4):
            start = date(year, 3 * q + 1, 1)
            end = (date(year + (q == 3), (3 * q + 3) % 12 + 1, 1)) - timedelta(days=1)
            for theme in ("woninginbraak", "vernieling", "drugsoverlast", "verkeer"):
                scan.append(("GM9999", w, theme, start, end, rnd.choice((0, 1, 2, 3, 8, 14, 30))))
    # one buurt with a tiny registration count beside many signals
    scan.append(("GM9999", buurten[0], "vernieling", date(year, 1, 1), date(year, 12, 31), 2))
    await db.executemany(
        "INSERT INTO gebiedsscan (municipality_code, area_code, theme, period_start, period_end, "
        "registered_count, imported_by) VALUES ($1, $2, $3, $4, $5, $6, 'test')",
        scan,
    )
    for i, level in enumerate(["regular"] * 7 + ["missing_child"] * 2):
        sent = datetime(year, 1 + i, 5, 12, tzinfo=UTC)
        alert_id = await db.fetchval(
            "INSERT INTO alerts (reference, status, level, title, message, target, target_codes, municipalities, "
            "channels, expires_in_minutes, sent_at, expires_at) VALUES ($1, 'expired', $2, 't', 'm', '{}'::jsonb, "
            "ARRAY['GM9999'], ARRAY['GM9999'], ARRAY['sms'], 60, $3::timestamptz, $3::timestamptz + interval '1 hour') RETURNING id",
            f"R{i:03d}",
            level,
            sent,
        )
        for t in range(3 if level == "regular" else 1):
            await db.execute(
                "INSERT INTO tips (provider_sid, alert_id, channel, text, received_at) "
                "VALUES ($1, $2, 'sms', 'tip', $3)",
                f"SMtest{alert_id}x{t}",
                alert_id,
                sent,
            )


#: Closed alerts for the outcome shares: six regular ones in one month (>= k: shares
#: published) and two missing-child ones in another (< k: hidden).
CLOSED = [
    (10, "regular", "arrested"),
    (10, "regular", "arrested"),
    (10, "regular", "arrested"),
    (10, "regular", "not_found"),
    (10, "regular", "not_found"),
    (10, "regular", "false_alarm"),
    (11, "missing_child", "found_safe"),
    (11, "missing_child", "found_safe"),
]


async def seed_more(db, year: int) -> None:
    """Beside :func:`seed_year`: the year before as a baseline for progress, the demo's
    CBS figures and residents enrolled unevenly over the wijken (coverage), and closed
    alerts with outcomes (effectiveness). Priorities are set through the API by the test."""
    await seed_year(db, year - 1, seed=17)
    _, errors = await import_kwb(db, (DEMO_DIR / "kwb.csv").read_text(encoding="utf-8"), year=year)
    assert not errors, errors
    await enrol_bulk(db, 1, 90, ["WK999901"])
    await enrol_bulk(db, 200, 40, ["WK999902"])
    await enrol_bulk(db, 300, 3, ["WK999903"])
    for i, (month, level, outcome) in enumerate(CLOSED):
        sent = datetime(year, month, 3 + i, 12, tzinfo=UTC)
        await db.execute(
            "INSERT INTO alerts (reference, status, level, title, message, target, target_codes, municipalities, "
            "channels, expires_in_minutes, sent_at, expires_at, closed_at, outcome) VALUES ($1, 'closed', $2, 't', "
            "'m', '{}'::jsonb, ARRAY['GM9999'], ARRAY['GM9999'], ARRAY['sms'], 60, $3::timestamptz, "
            "$3::timestamptz + interval '1 hour', $3::timestamptz + interval '40 minutes', $4)",
            f"C{i:03d}",
            level,
            sent,
            outcome,
        )


class ReportParser(HTMLParser):
    """Every count cell of the page: (table, row, column) → published value or None
    (hidden), every percentage or other figure, the data-count of every map area, and
    what the page would load."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str], int | None] = {}
        #: percentages and other figures (no counts): (table, row, column) → value or None
        self.figures: dict[tuple[str, str, str], float | None] = {}
        self.map_counts: list[int] = []
        self.map_hidden = 0
        self.external: list[str] = []
        self.tags: set[str] = set()
        self.sections: list[str] = []
        self._table = self._row = ""
        self._cell: tuple[str, str, str] | None = None
        self._cell_text: list[str] = []
        self.count_texts: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        for name in ("src", "href", "xlink:href"):
            if a.get(name) and not str(a[name]).startswith("#"):
                self.external.append(str(a[name]))
        if tag == "section":
            self.sections.append(a.get("data-section") or "")
        if tag == "table":
            self._table = a.get("data-table") or ""
        if tag == "tr":
            self._row = a.get("data-row") or ""
        if tag == "td" and "n" in (a.get("class") or "").split():
            key = (self._table, self._row, a.get("data-col") or "")
            self.cells[key] = int(a["data-count"]) if a.get("data-count") else None
            assert a.get("data-count") or a.get("data-hidden"), (key, a)
            self._cell, self._cell_text = key, []
        if tag == "td" and {"pct", "fig"} & set((a.get("class") or "").split()):
            value = a.get("data-percent") or a.get("data-figure")
            self.figures[(self._table, self._row, a.get("data-col") or "")] = float(value) if value else None
        if tag == "path" and a.get("data-area"):
            if a.get("data-count"):
                self.map_counts.append(int(a["data-count"]))
            else:
                assert a.get("data-hidden"), a
                self.map_hidden += 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.count_texts.append(("".join(self._cell_text).strip(), self.cells[self._cell] is None))
            self._cell = None


def parse_report(html: str) -> ReportParser:
    p = ReportParser()
    p.feed(html)
    return p


async def opt_in_bulletins(pool: Any, resident_id: int) -> None:
    """Opt a resident in to buurt bulletins directly (set-up for many residents; the SMS
    keywords BERICHTEN AAN/UIT have their own test in tests/api/test_bulletins.py)."""
    await pool.execute("UPDATE residents SET bulletins_opt_in = true WHERE id = $1", resident_id)
