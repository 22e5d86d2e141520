"""The sections of the council report, in the order the report shows them.

A section is an async function of the :class:`ReportContext` that returns a
:class:`~burgerwacht.council.report.Section` (or None to leave it out). Counts in its
tables are published figures only: read from the protected cube (``ctx.cube``), or
passed through ``ctx.publish`` when they come from elsewhere. To add a section (e.g.
priorities with progress, participation coverage), write such a function and add it to
:data:`SECTIONS` where it belongs; the HTML, the CSV and the privacy test pick it up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

from burgerwacht.config import Settings
from burgerwacht.council import store
from burgerwacht.council.report import Count, Row, Section, Table, Text, publish
from burgerwacht.council.svg import MapArea, choropleth
from burgerwacht.signals import scan
from burgerwacht.signals.cube import THEME_PREFIX, Cube, cube
from burgerwacht.signals.periods import Period, today
from burgerwacht.signals.taxonomy import TOTAL, taxonomy


@dataclass
class ReportContext:
    conn: asyncpg.Connection
    settings: Settings
    municipality: str
    municipality_name: str
    period: Period
    areas: list[asyncpg.Record]  # wijken and buurten with their outlines (RD New)
    _cubes: dict[int, Cube] = field(default_factory=dict)

    async def cube(self, year: int) -> Cube:
        """The protected cube of a year (every signal figure comes from one)."""
        if year not in self._cubes:
            self._cubes[year] = await cube(self.conn, self.settings, self.municipality, year)
        return self._cubes[year]

    def publish(self, n: int | None) -> int | None:
        """A count from outside the cube under the k rule and rounding."""
        return publish(n, self.settings.privacy.k, self.settings.privacy.round_to)

    @property
    def last_quarter(self) -> Period:
        p = self.period
        return p if p.kind == "quarter" else Period(p.year, "quarter", 4)


SectionFn = Callable[[ReportContext], Awaitable[Section | None]]


def _themes(c: Cube) -> list[tuple[str, str]]:
    tax = taxonomy()
    return [
        (THEME_PREFIX + t.code, t.name) for t in tax.themes.values() if THEME_PREFIX + t.code in c.nodes.index
    ]


async def signals_by_theme(ctx: ReportContext) -> Section:
    c = await ctx.cube(ctx.period.year)
    columns = [*_themes(c), (TOTAL, "Totaal")]
    nodes = [n for n, _ in columns]
    wijken = [a for a in c.areas.labels if c.area_level.get(a) == "wijk"]
    buurten = [a for a in c.areas.labels if c.area_level.get(a) == "buurt"]
    counts, _ = c.block([*wijken, ctx.municipality], nodes, ctx.period)
    rows = [
        Row(code, c.area_name.get(code, code), [Count(v) for v in vals], emphasis=code == ctx.municipality)
        for code, vals in zip([*wijken, ctx.municipality], counts, strict=True)
    ]
    by_wijk = Table("signals_wijk_theme", "Signalen per wijk en thema", [(n, h) for n, h in columns], rows)
    totals, _ = c.block(buurten, [TOTAL], ctx.period)
    buurt_rows = [
        Row(code, c.area_name.get(code, code), [Count(vals[0])])
        for code, vals in zip(buurten, totals, strict=True)
    ]
    by_buurt = Table(
        "signals_buurt", "Signalen per buurt (alle categorieën)", [(TOTAL, "Signalen")], buurt_rows
    )
    published = {code: vals[0] for code, vals in zip(buurten, totals, strict=True)}
    outlines = [
        MapArea(a["code"], a["name"], a["geometry"], published.get(a["code"]))
        for a in ctx.areas
        if a["level"] == "buurt" and a["code"] in published
    ]
    figure = choropleth(outlines, title=f"Signalen per buurt, {ctx.period.label} (alle categorieën)")
    return Section(
        "signals",
        "Signalen per thema en wijk",
        "Buurtsignalen van bewoners, schouw en handhaving (straatkennis), per wijk en per thema "
        "uit het lokale veiligheidsplan. Een signaal kan onder geen enkel thema vallen, "
        "daarom is het totaal groter dan de som van de thema's.",
        [by_wijk, by_buurt],
        [figure] if figure else [],
    )


async def trend(ctx: ReportContext) -> Section:
    quarters = [ctx.last_quarter]
    while len(quarters) < 8:
        quarters.append(quarters[-1].previous())
    now = today()
    quarters = [q for q in reversed(quarters) if q.start <= now]
    first = await ctx.cube(ctx.period.year)
    themes = [*_themes(first), (TOTAL, "Totaal")]
    rows = []
    for node, name in themes:
        cells = []
        for q in quarters:
            n, _ = (await ctx.cube(q.year)).value(ctx.municipality, node, q)
            cells.append(Count(n))
        rows.append(Row(node, name, cells, emphasis=node == TOTAL))
    table = Table(
        "trend_quarter", "Signalen per kwartaal, hele gemeente", [(q.label, q.label) for q in quarters], rows
    )
    return Section(
        "trend",
        "Trend per kwartaal",
        "Het aantal signalen per thema in de laatste acht kwartalen tot en met de rapportageperiode.",
        [table],
    )


_MISMATCH = ("possible_underreporting", "not_bothered_or_not_reached")


async def informatiepositie(ctx: ReportContext) -> Section:
    doc = await scan.informatiepositie(ctx.conn, ctx.settings, ctx.municipality, ctx.period, limit=1)
    items: list[dict[str, Any]] = [
        i for i in doc["items"] if i["level"] in ("wijk", "buurt") and i["mismatch"] in _MISMATCH
    ]
    items.sort(key=lambda i: (-i["score"], i["area_code"], i["theme"]))
    rows = []
    for i in items[:30]:
        registered = i.get("registered")
        hidden = registered is None or bool(i.get("registered_suppressed"))
        rows.append(
            Row(
                f"{i['area_code']}:{i['theme']}",
                i["area_name"],
                [
                    Text(i["theme_name"]),
                    Count(i["signals"]),  # already published (the protected cube)
                    Count(None if hidden else ctx.publish(registered)),
                    Text(scan.REASONS[i["mismatch"]]),
                ],
            )
        )
    intro = (
        "Waar signalen van bewoners (straatkennis) en politieregistraties uit de gebiedsscan "
        "(systeemkennis) uiteenlopen, per gebied en thema, gerangschikt naar het gewicht van het thema."
    )
    if not any(i.get("registered") for i in doc["items"]):
        intro += " Voor deze periode zijn geen politieregistraties ingelezen."
    table = Table(
        "informatiepositie",
        "Gebieden waar signalen en registraties uiteenlopen",
        [("theme", "Thema"), ("signals", "Signalen"), ("registered", "Registraties"), ("reading", "Duiding")],
        rows,
        note="Registraties volgen dezelfde regels als signalen: afgerond, en kleine aantallen afgeschermd.",
    )
    return Section("informatiepositie", "Informatiepositie: signalen naast registraties", intro, [table])


LEVELS = {
    "regular": "Burgernet-actie",
    "missing_child": "Vermist kind",
    "amber_regional": "AMBER Alert (regionaal)",
    "amber_national": "AMBER Alert (landelijk)",
}


async def alerts(ctx: ReportContext) -> Section:
    rows_db = {
        r["level"]: r
        for r in await store.alerts_per_level(
            ctx.conn, ctx.municipality, ctx.period.start, ctx.period.end_exclusive
        )
    }
    columns = [("alerts", "Acties"), ("reached", "Berichten afgeleverd"), ("tips", "Tips ontvangen")]
    levels = list(LEVELS) + sorted(set(rows_db) - set(LEVELS))
    rows = []
    hidden_in: set[str] = set()
    for level in levels:
        r = rows_db.get(level)
        cells = []
        for col, _ in columns:
            v = ctx.publish(r[col] if r else 0)
            if v is None:
                hidden_in.add(col)
            cells.append(Count(v))
        rows.append(Row(level, LEVELS.get(level, level), cells))
    # the total of a column with a hidden level is hidden too: otherwise total minus the
    # published levels would give the hidden one
    total_cells = []
    for col, _ in columns:
        total = sum(r[col] for r in rows_db.values())
        total_cells.append(Count(None if col in hidden_in else ctx.publish(total)))
    rows.append(Row("total", "Totaal", total_cells, emphasis=True))
    table = Table(
        "alerts_level",
        "Burgernet-acties in de periode, per soort",
        columns,
        rows,
        note="Acties die (ook) deze gemeente bereikten; afgeleverde berichten en tips tellen over het hele "
        "gebied van de actie.",
    )
    return Section(
        "alerts",
        "Burgernet-acties en hun effect",
        "Hoeveel acties er uitgingen, hoeveel berichten aankwamen en hoeveel tips er terugkwamen.",
        [table],
    )


#: The report's sections in order. Add new ones here (see the module docstring).
SECTIONS: list[SectionFn] = [signals_by_theme, trend, informatiepositie, alerts]


def period_name(p: Period) -> str:
    if p.kind == "quarter":
        return f"{p.index}e kwartaal {p.year}"
    if p.kind == "month":
        return f"{date(p.year, p.index, 1):%m-%Y}"
    return str(p.year)
