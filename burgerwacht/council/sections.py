"""The sections of the council report, in the order the report shows them.

A section is an async function of the :class:`ReportContext` that returns a
:class:`~burgerwacht.council.report.Section` (or None to leave it out). Counts in its
tables are published figures only: read from the protected cube (``ctx.cube``), or
passed through ``ctx.publish`` when they come from elsewhere (also figures another
module already published: the rule leaves those as they are). Sections read what the
analysts' APIs publish (the informatiepositie with its progress per priority, the
participation rows, the protected alert statistics), never raw counts. To add a section,
write such a function and add it to :data:`SECTIONS` where it belongs; the HTML, the CSV
and the privacy test pick it up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

from burgerwacht.alerts.models import OUTCOMES
from burgerwacht.auth.models import StaffUser
from burgerwacht.config import Settings
from burgerwacht.council import store
from burgerwacht.council.report import Count, Figure, Percent, Row, Section, Table, Text, publish
from burgerwacht.council.svg import MapArea, choropleth
from burgerwacht.effectiveness import service as effectiveness
from burgerwacht.participation import service as participation
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
    _informatiepositie: dict[str, Any] | None = None

    async def cube(self, year: int) -> Cube:
        """The protected cube of a year (every signal figure comes from one)."""
        if year not in self._cubes:
            self._cubes[year] = await cube(self.conn, self.settings, self.municipality, year)
        return self._cubes[year]

    async def informatiepositie(self) -> dict[str, Any]:
        """The analysts' informatiepositie document of the period (mismatches, and
        progress per priority theme), built once for every section that reads it."""
        if self._informatiepositie is None:
            self._informatiepositie = await scan.informatiepositie(
                self.conn, self.settings, self.municipality, self.period, limit=1
            )
        return self._informatiepositie

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


# ------------------------------------------------------------------ priorities

_PROGRESS_REASONS = {
    "no_data": "geen politiecijfers voor dit thema in dit jaar",
    "year_not_started": "het jaar heeft nog geen volledige maand",
    "granularity_month": "nog geen volledige maand aan politiecijfers",
    "granularity_quarter": "politiecijfers per kwartaal: nog geen volledig kwartaal",
    "granularity_year": "politiecijfers per jaar: het jaar is nog niet compleet",
    "suppressed": "afgeschermd (te kleine aantallen)",
    "not_delivered": "politiecijfers niet (volledig) geleverd",
    "coarser_area": "politiecijfers alleen voor een groter gebied",
}

HIDDEN_NOTE = "— betekent afgeschermd, niet geleverd of niet te berekenen (zie de toelichting)."


def _reason(code: str | None) -> str:
    if not code:
        return ""
    return _PROGRESS_REASONS.get(code, code.replace("_", " "))


def _until(span: dict[str, str] | None) -> str:
    if not span:
        return "—"
    return "t/m " + date.fromisoformat(span["to"]).strftime("%d-%m-%Y")


def _on_track(p: dict[str, Any]) -> tuple[str, str]:
    """(op koers, toelichting) of one progress entry."""
    reg = p["registrations"]
    if p["target_change_pct"] is None:
        return "geen doel", "geen doel vastgelegd; het gewicht telt wel mee in de rangschikking"
    if p["on_track"] is None:
        why = _reason(reg.get("reason")) or "geen vergelijking met het basisjaar mogelijk"
        return "onbekend", why
    change = f"{reg['change_pct']:+.1f}".replace(".", ",")
    target = f"{p['target_change_pct']:+g}".replace(".", ",")
    word = "binnen" if p["on_track"] else "boven"
    return ("ja" if p["on_track"] else "nee"), f"registraties {change} %, {word} het doel van {target} %"


async def priorities(ctx: ReportContext) -> Section:
    """The municipality's priority themes with weight and target, and their progress
    exactly as the informatiepositie publishes it (sums of protected figures)."""
    doc = await ctx.informatiepositie()
    progress: list[dict[str, Any]] = doc["progress"]
    title = "Prioriteiten en voortgang"
    if not progress:
        return Section(
            "priorities",
            title,
            "De gemeente heeft (nog) geen prioriteiten met doelen vastgelegd; alle thema's wegen met "
            "hun standaardgewicht.",
        )
    goals, steps = [], []
    for p in progress:
        reg, sig = p["registrations"], p["signals"]
        on_track, why = _on_track(p)
        goals.append(
            Row(
                p["theme"],
                p["theme_name"],
                [
                    Figure(p["weight"], 1),
                    Percent(p["target_change_pct"], signed=True),
                    Text(str(p["baseline_year"])),
                    Percent(reg["change_pct"], signed=True),
                    Text(on_track),
                    Text(why),
                ],
            )
        )
        steps.append(
            Row(
                p["theme"],
                p["theme_name"],
                [
                    Text(_until(reg["span"])),
                    Count(ctx.publish(reg["current"])),
                    Count(ctx.publish(reg["baseline"])),
                    Percent(reg["change_pct"], signed=True),
                    Text(_until(sig["span"])),
                    Count(ctx.publish(sig["current"])),
                    Count(ctx.publish(sig["baseline"])),
                    Percent(sig["change_pct"], signed=True),
                ],
            )
        )
    year = ctx.period.year
    goal_table = Table(
        "priorities",
        "Prioritaire thema's, doelen en stand",
        [
            ("weight", "Gewicht"),
            ("target_change_pct", "Doel"),
            ("baseline_year", "Basisjaar"),
            ("registrations_change_pct", "Verandering registraties"),
            ("on_track", "Op koers"),
            ("explanation", "Toelichting"),
        ],
        goals,
        note="Doel: gewenste verandering van de politieregistraties tegenover het basisjaar "
        "(bijv. −10 %). Op koers: de verandering is gelijk aan of lager dan het doel.",
    )
    progress_table = Table(
        "priority_progress",
        f"Voortgang: {year} tot en met de laatste volledige maand, tegenover dezelfde maanden van het basisjaar",
        [
            ("registrations_span", "Registraties"),
            ("registrations_current", f"Registraties {year}"),
            ("registrations_baseline", "Registraties basisjaar"),
            ("registrations_change_pct", "Verandering"),
            ("signals_span", "Signalen"),
            ("signals_current", f"Signalen {year}"),
            ("signals_baseline", "Signalen basisjaar"),
            ("signals_change_pct", "Verandering"),
        ],
        steps,
        note="Sommen van gepubliceerde (afgeronde, afgeschermde) cijfers voor de hele gemeente; "
        f"{HIDDEN_NOTE} Politiecijfers tellen tot en met het laatste volledige kwartaal of jaar "
        "waarin ze geleverd zijn.",
    )
    return Section(
        "priorities",
        title,
        "De thema's die de gemeente in het lokale veiligheidsplan voorop zet, met hun gewicht in de "
        "rangschikking van de informatiepositie, hun doel en de voortgang: dit jaar tot nu toe tegenover "
        "het basisjaar, zoals ook de informatiepositie het toont.",
        [goal_table, progress_table],
    )


# ------------------------------------------------------------------ participation


async def coverage(ctx: ReportContext) -> Section:
    """Residents enrolled per wijk beside CBS inhabitants, as GET /api/v1/participation
    (level=wijk) publishes them (noise, k rule, rounding, complementary suppression)."""
    doc = await participation.participation(ctx.conn, ctx.settings, ctx.municipality, "wijk")
    k = ctx.settings.privacy.k
    rows = []
    for i in doc["items"]:
        inhabitants = i["inhabitants"]
        rows.append(
            Row(
                i["area_code"],
                i["area_name"],
                [
                    Count(ctx.publish(i["enrolled"])),
                    Count(ctx.publish(i["sms"])),
                    Count(ctx.publish(i["voice"])),
                    # a public CBS figure, shown as published; a tiny one is left out all the same
                    Figure(inhabitants if inhabitants is not None and inhabitants >= k else None),
                    Figure(i["per_1000"], 1),
                ],
            )
        )
    table = Table(
        "participation_wijk",
        "Deelnemers per wijk",
        [
            ("enrolled", "Deelnemers"),
            ("sms", "Via sms"),
            ("voice", "Via spraakoproep"),
            ("inhabitants", "Inwoners (CBS)"),
            ("per_1000", "Deelnemers per 1.000 inwoners"),
        ],
        rows,
        note="Stand bij het opstellen van dit rapport (niet per periode). Aantallen deelnemers zijn "
        "verstoord met een kleine vaste ruis, afgerond en onder de drempel afgeschermd; een deelnemer met "
        "sms én spraakoproep telt in beide kanalen. Inwoners: CBS Kerncijfers wijken en buurten.",
    )
    return Section(
        "participation",
        "Deelname (dekking)",
        "Hoeveel inwoners per wijk zich voor Burgernet hebben aangemeld, naast het aantal inwoners. "
        "Waar de dekking laag is, bereikt een actie weinig mensen en zijn ook andere kanalen nodig.",
        [table],
    )


_MISMATCH = ("possible_underreporting", "not_bothered_or_not_reached")


async def informatiepositie(ctx: ReportContext) -> Section:
    doc = await ctx.informatiepositie()
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
        "Hoeveel acties er uitgingen, hoeveel berichten aankwamen en hoeveel tips er terugkwamen, en hoe "
        "de afgesloten acties afliepen.",
        [table, await _outcomes(ctx)],
    )


OUTCOME_NAMES = {
    "found_safe": "Gevonden, ongedeerd",
    "found_other": "Gevonden, niet ongedeerd",
    "arrested": "Aanhouding",
    "not_found": "Niet gevonden",
    "false_alarm": "Loos alarm",
    "other": "Anders",
}


async def _outcomes(ctx: ReportContext) -> Table:
    """Outcome shares per level over the period, from the analysts' protected figures
    of GET /api/v1/alerts/stats: those give shares per month only over at least k closed
    alerts, so the period's shares combine the months that publish them (weighted by
    their closed alerts) and say how many closed alerts stand behind them. Months with
    fewer than k closed are left out, never recomputed from raw outcomes (that would
    give a hidden month's outcomes back by difference)."""
    viewer = StaffUser(id=0, name="council report", role="analyst", municipalities=(ctx.municipality,))
    out = await effectiveness.stats(
        ctx.conn,
        ctx.settings,
        viewer,
        ctx.municipality,
        ctx.period.start,
        ctx.period.end,
        None,
    )
    closed: dict[str, int] = {}
    basis: dict[str, int] = {}
    weighted: dict[str, dict[str, float]] = {}
    for item in out.items:
        closed[item.level] = closed.get(item.level, 0) + item.closed
        if item.outcomes is None:
            continue
        basis[item.level] = basis.get(item.level, 0) + item.closed
        acc = weighted.setdefault(item.level, dict.fromkeys(OUTCOMES, 0.0))
        for o in OUTCOMES:
            acc[o] += item.outcomes.get(o, 0.0) * item.closed
    levels = list(LEVELS) + sorted(set(closed) - set(LEVELS))
    rows = []
    for level in levels:
        n = basis.get(level, 0)
        shares = [Percent(round(100 * weighted[level][o] / n, 1) if n else None) for o in OUTCOMES]
        rows.append(
            Row(
                level,
                LEVELS.get(level, level),
                [Count(ctx.publish(closed.get(level, 0))), Count(ctx.publish(n)), *shares],
            )
        )
    return Table(
        "alerts_outcomes",
        "Afloop van de afgesloten acties, per soort",
        [("closed", "Afgesloten"), ("basis", "In de verdeling"), *((o, OUTCOME_NAMES[o]) for o in OUTCOMES)],
        rows,
        note=f"Verdeling over de maanden met minstens {ctx.settings.privacy.k} afgesloten acties van die "
        "soort (zoals de effectiviteitscijfers voor analisten); andere maanden tellen niet mee in de "
        "verdeling. Oefenacties tellen niet mee.",
    )


#: The report's sections in order. Add new ones here (see the module docstring).
SECTIONS: list[SectionFn] = [priorities, signals_by_theme, trend, informatiepositie, coverage, alerts]


def period_name(p: Period) -> str:
    if p.kind == "quarter":
        return f"{p.index}e kwartaal {p.year}"
    if p.kind == "month":
        return f"{date(p.year, p.index, 1):%m-%Y}"
    return str(p.year)
