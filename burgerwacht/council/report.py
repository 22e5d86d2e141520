"""A report as data: sections of tables whose cells know what they hold (a published
count, a hidden count, a percentage, text), rendered once as a printable HTML page and
once as CSV, so both always show the same figures.

A count cell holds only a figure that already passed the privacy rules (the protected
cube, or :func:`publish` for figures from elsewhere): ``None`` means hidden, and the
renderers mark it as such. Nothing here reads the database.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from burgerwacht import csvsafe

HIDDEN = "—"  # what a hidden count shows (never "<5": a hidden cell may hold 0)


def publish(n: int | None, k: int, round_to: int) -> int | None:
    """A count from outside the protected cube under the same rules: hidden below
    ``k`` (zero included), else rounded to the nearest multiple of ``round_to`` (halves
    up), never shown below ``k`` or ``round_to``."""
    if n is None or n < k:
        return None
    rounded = ((2 * n + round_to) // (2 * round_to)) * round_to
    floor = max(k, round_to)
    while rounded < floor:
        rounded += round_to
    return rounded


@dataclass(frozen=True)
class Count:
    """A published count, or hidden (``value`` None)."""

    value: int | None

    kind = "count"


@dataclass(frozen=True)
class Percent:
    value: float | None
    signed: bool = False  # a change: "+5,0 %" rather than "5,0 %"

    kind = "percent"


@dataclass(frozen=True)
class Text:
    value: str

    kind = "text"


@dataclass(frozen=True)
class Figure:
    """A figure that is no count of people or records: a public reference figure (CBS
    inhabitants), a rate computed from published counts, a weight. Shown as given with
    ``decimals`` decimals; ``None`` shows as not available."""

    value: float | int | None
    decimals: int = 0

    kind = "figure"


Cell = Count | Percent | Figure | Text


@dataclass
class Row:
    code: str  # stable key (area code, theme, level) for the CSV and the test
    label: str
    cells: list[Cell]
    emphasis: bool = False


@dataclass
class Table:
    key: str
    title: str
    columns: list[tuple[str, str]]  # (key, Dutch header)
    rows: list[Row]
    note: str = ""


@dataclass
class Section:
    """One part of the report: a title, a few sentences, tables and figures (inline
    SVG, already rendered; their numbers come from the tables)."""

    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


@dataclass
class Report:
    municipality: str
    municipality_name: str
    period_label: str
    period_name: str
    generated_at: datetime
    k: int
    round_to: int
    sections: list[Section]


# ------------------------------------------------------------------ HTML

STYLE = """
@page { size: A4; margin: 16mm 14mm 18mm; }
* { box-sizing: border-box; }
body { font-family: "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1a1a1a;
       font-size: 10.5pt; line-height: 1.4; max-width: 190mm; margin: 0 auto; padding: 8mm 0; }
h1 { font-size: 20pt; margin: 0 0 2mm; color: #01689b; }
h2 { font-size: 14pt; margin: 8mm 0 2mm; color: #01689b; border-bottom: 1px solid #cce0f1;
     break-after: avoid; page-break-after: avoid; }
h3 { font-size: 11pt; margin: 4mm 0 1mm; break-after: avoid; page-break-after: avoid; }
p { margin: 1mm 0 2mm; }
.meta { color: #555; font-size: 9pt; }
.privacy { background: #f3f7fb; border-left: 3px solid #01689b; padding: 2mm 3mm; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm; font-size: 9pt;
        break-inside: auto; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th, td { border-bottom: 1px solid #ddd; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eef4f9; font-weight: 600; }
td.n, td.pct, td.fig { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.n { text-align: right; hyphens: auto; overflow-wrap: break-word; }
th.t { text-align: left; }
table.wide { font-size: 8pt; }
td.hidden { color: #888; }
tr.total td { font-weight: 600; border-top: 1px solid #999; }
.note { color: #555; font-size: 8.5pt; }
figure { margin: 2mm 0 4mm; break-inside: avoid; page-break-inside: avoid; }
figure svg { width: 100%; height: auto; max-height: 120mm; }
figcaption { font-size: 8.5pt; color: #555; }
section { break-inside: auto; }
@media print { body { padding: 0; max-width: none; } a { color: inherit; text-decoration: none; } }
"""


def _fmt_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # Dutch thousands separator


def _fmt_pct(v: float, signed: bool = False) -> str:
    return (f"{v:+.1f}" if signed else f"{v:.1f}").replace(".", ",") + " %"


def _fmt_figure(cell: Figure) -> str:
    assert cell.value is not None
    text = f"{cell.value:,.{cell.decimals}f}"
    return text.translate(str.maketrans({",": ".", ".": ","}))  # Dutch separators


def _figure_csv(cell: Figure) -> int | float:
    """The figure as a number (so the CSV writer never treats a negative one as text)."""
    assert cell.value is not None
    return round(cell.value) if cell.decimals == 0 else round(float(cell.value), cell.decimals)


def _cell_html(cell: Cell, col: str) -> str:
    attrs = f' data-col="{escape(col)}"'
    if isinstance(cell, Count):
        if cell.value is None:
            return f'<td class="n hidden" data-hidden="1"{attrs} title="afgeschermd">{HIDDEN}</td>'
        return f'<td class="n" data-count="{cell.value}"{attrs}>{_fmt_int(cell.value)}</td>'
    if isinstance(cell, Percent):
        if cell.value is None:
            return f'<td class="pct"{attrs}>{HIDDEN}</td>'
        return (
            f'<td class="pct" data-percent="{cell.value:.1f}"{attrs}>{_fmt_pct(cell.value, cell.signed)}</td>'
        )
    if isinstance(cell, Figure):
        if cell.value is None:
            return f'<td class="fig"{attrs}>{HIDDEN}</td>'
        return f'<td class="fig" data-figure="{_figure_csv(cell)}"{attrs}>{_fmt_figure(cell)}</td>'
    return f"<td{attrs}>{escape(cell.value)}</td>"


def _table_html(t: Table) -> str:
    out = [f"<h3>{escape(t.title)}</h3>"] if t.title else []
    wide = ' class="wide"' if len(t.columns) > 6 else ""
    out.append(f'<table data-table="{escape(t.key)}"{wide}><thead><tr><th></th>')
    first = t.rows[0].cells if t.rows else []
    for i, (_, header) in enumerate(t.columns):
        cls = "t" if i < len(first) and isinstance(first[i], Text) else "n"
        out.append(f'<th scope="col" class="{cls}">{escape(header)}</th>')
    out.append("</tr></thead><tbody>")
    for row in t.rows:
        cls = ' class="total"' if row.emphasis else ""
        out.append(f'<tr{cls} data-row="{escape(row.code)}"><th scope="row">{escape(row.label)}</th>')
        out.extend(_cell_html(c, key) for c, (key, _) in zip(row.cells, t.columns, strict=True))
        out.append("</tr>")
    out.append("</tbody></table>")
    if not t.rows:
        out.append('<p class="note">Geen gegevens voor deze periode.</p>')
    if t.note:
        out.append(f'<p class="note">{escape(t.note)}</p>')
    return "".join(out)


def render_html(r: Report) -> str:
    title = f"Veiligheidsrapportage {r.municipality_name} {r.period_name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="nl"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
        f'<p class="meta">Gemeente {escape(r.municipality_name)} ({escape(r.municipality)}) · '
        f"periode {escape(r.period_label)} · opgesteld {r.generated_at:%d-%m-%Y %H:%M} · "
        "voor de gemeenteraad en de lokale driehoek</p>",
        '<p class="privacy">Privacy: alle aantallen zijn afgerond op veelvouden van '
        f"{r.round_to}; aantallen kleiner dan {r.k} (ook nul) worden niet getoond "
        f"({HIDDEN}), net als aantallen waaruit een verborgen aantal terug te rekenen is. "
        "Het rapport bevat geen gegevens over personen.</p></header>",
    ]
    for s in r.sections:
        parts.append(f'<section data-section="{escape(s.key)}"><h2>{escape(s.title)}</h2>')
        if s.intro:
            parts.append(f"<p>{escape(s.intro)}</p>")
        parts.extend(s.figures)
        parts.extend(_table_html(t) for t in s.tables)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------ CSV

CSV_COLUMNS = ("section", "table", "row_code", "row_label", "column", "kind", "value", "hidden")


def csv_rows(r: Report) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for s in r.sections:
        for t in s.tables:
            for row in t.rows:
                for cell, (col, _) in zip(row.cells, t.columns, strict=True):
                    hidden = isinstance(cell, Count) and cell.value is None
                    value: Any = "" if cell.value is None else cell.value
                    if isinstance(cell, Percent) and cell.value is not None:
                        value = round(float(cell.value), 1)  # a number: "-10.0", not "'-10.0"
                    if isinstance(cell, Figure) and cell.value is not None:
                        value = _figure_csv(cell)
                    rows.append(
                        (
                            s.key,
                            t.key,
                            row.code,
                            row.label,
                            col,
                            cell.kind,
                            value,
                            "true" if hidden else "false",
                        )
                    )
    return rows


def render_csv(r: Report) -> str:
    out = io.StringIO()
    w = csvsafe.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    w.writerows(csv_rows(r))
    return out.getvalue()
