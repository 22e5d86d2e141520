"""Gebiedsscan and informatiepositie: police registrations per area, theme and period,
imported from CSV (every line checked, all or nothing), and compared with the signals
(straatkennis next to systeemkennis) per area and theme.

It exists apart from the summaries because it is the only place where a second source
(the police's counts) meets the signals. The signal side still comes from the
protected cube (:mod:`burgerwacht.signals.cube`) only: counts per area and theme,
never a signal row; the police side from the protected police cube
(:mod:`burgerwacht.signals.police`): the same k rule, rounding and complementary
suppression, and periods the data cannot answer say so instead of showing 0.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from burgerwacht.config import Settings
from burgerwacht.signals import priorities, store
from burgerwacht.signals.cube import THEME_PREFIX, cube
from burgerwacht.signals.periods import Period, PeriodError, from_dates
from burgerwacht.signals.police import LEVELS, police_cube
from burgerwacht.signals.summary import privacy_info
from burgerwacht.signals.taxonomy import taxonomy

# ------------------------------------------------------------------- gebiedsscan

GEBIEDSSCAN_COLUMNS = ("area_code", "theme", "period_start", "period_end", "registered_count")
MAX_LINES = 100_000


@dataclass
class LineError:
    line: int
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        loc = f"line {self.line}" + (f": {self.column}" if self.column else "")
        return {
            "line": self.line,
            "column": self.column,
            "loc": loc,
            "msg": self.message,
            "type": "value_error",
        }


def _parse_date(text: str) -> date:
    t = text.strip()
    for fmt in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{t!r} is not a date (YYYY-MM-DD)")


def parse_gebiedsscan(text: str) -> tuple[list[dict[str, Any]], list[LineError]]:
    """CSV (``,`` or ``;``) with a header naming the columns; rows and per-line errors."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].strip():
        return [], [LineError(1, None, f"empty file; expected a header: {','.join(GEBIEDSSCAN_COLUMNS)}")]
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in GEBIEDSSCAN_COLUMNS if c not in header]
    if missing:
        return [], [
            LineError(1, None, f"header lacks {', '.join(missing)}; expected {','.join(GEBIEDSSCAN_COLUMNS)}")
        ]
    col = {name: header.index(name) for name in GEBIEDSSCAN_COLUMNS}
    rows: list[dict[str, Any]] = []
    errors: list[LineError] = []
    tax = taxonomy()
    for line_no, fields in enumerate(reader, start=2):
        if line_no > MAX_LINES:
            errors.append(LineError(line_no, None, f"more than {MAX_LINES} lines"))
            break
        if not any(f.strip() for f in fields):
            continue
        if len(fields) < len(header):
            errors.append(LineError(line_no, None, f"expected {len(header)} fields, found {len(fields)}"))
            continue
        row: dict[str, Any] = {"line": line_no}
        bad = False
        code = fields[col["area_code"]].strip().upper()
        if not code:
            errors.append(LineError(line_no, "area_code", "area_code is empty"))
            bad = True
        row["area_code"] = code
        theme = fields[col["theme"]].strip().lower()
        if theme not in tax.themes:
            errors.append(
                LineError(
                    line_no, "theme", f"unknown theme {theme!r}; known: {', '.join(sorted(tax.themes))}"
                )
            )
            bad = True
        row["theme"] = theme
        for name in ("period_start", "period_end"):
            try:
                row[name] = _parse_date(fields[col[name]])
            except ValueError as exc:
                errors.append(LineError(line_no, name, str(exc)))
                bad = True
        if "period_start" in row and "period_end" in row:
            if row["period_end"] < row["period_start"]:
                errors.append(LineError(line_no, "period_end", "period_end is before period_start"))
                bad = True
            else:
                try:
                    row["period"] = from_dates(row["period_start"], row["period_end"])
                except PeriodError:
                    errors.append(
                        LineError(
                            line_no,
                            "period_end",
                            "a row covers one calendar month, quarter or year "
                            "(e.g. 2025-01-01..2025-03-31); other date ranges cannot be compared "
                            "with the published periods",
                        )
                    )
                    bad = True
        raw = fields[col["registered_count"]].strip()
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
            errors.append(LineError(line_no, "registered_count", f"{raw!r} is not a whole number >= 0"))
            bad = True
        else:
            row["registered_count"] = int(raw)
        if not bad:
            rows.append(row)
    return rows, errors


def _span(start: date, end: date) -> str:
    return f"{start.isoformat()}..{end.isoformat()}"


def _overlaps_in_file(rows: list[dict[str, Any]]) -> list[LineError]:
    """Rows of one area and theme whose dates overlap another line of the file (one
    error on the later line of each pair found, at most one per line)."""
    found: dict[int, LineError] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["area_code"], r["theme"]), []).append(r)
    for group in groups.values():
        if len(group) < 2:
            continue
        first_of: dict[tuple[date, date], int] = {}
        for r in sorted(group, key=lambda r: r["line"]):
            span = (r["period_start"], r["period_end"])
            if span in first_of:
                found.setdefault(
                    r["line"], LineError(r["line"], "period_start", f"duplicate of line {first_of[span]}")
                )
            first_of.setdefault(span, r["line"])
        reach: dict[str, Any] | None = None  # the row reaching furthest so far
        for r in sorted(group, key=lambda r: (r["period_start"], r["line"])):
            if reach is not None and r["period_start"] <= reach["period_end"]:
                first, later = sorted((reach, r), key=lambda x: x["line"])
                found.setdefault(
                    later["line"],
                    LineError(
                        later["line"],
                        "period_start",
                        f"overlaps line {first['line']} ({first['area_code']}, {first['theme']}, "
                        f"{_span(first['period_start'], first['period_end'])})",
                    ),
                )
            if reach is None or r["period_end"] > reach["period_end"]:
                reach = r
    return list(found.values())


async def import_gebiedsscan(
    conn: asyncpg.Connection, text: str, *, actor: str, can_access: Any, replace: bool = False
) -> tuple[dict[str, Any], list[LineError]]:
    """Validate every line (area exists, in scope, one calendar period, no overlap with
    another line or, unless ``replace``, with a stored row of the same area and theme),
    then store all rows in one transaction, or nothing when any line is wrong. With
    ``replace`` the stored rows a line overlaps are deleted in that transaction."""
    rows, errors = parse_gebiedsscan(text)
    codes = sorted({r["area_code"] for r in rows})
    known = {r["code"]: r for r in await store.areas_by_codes(conn, codes)}
    good: list[dict[str, Any]] = []
    for r in rows:
        area = known.get(r["area_code"])
        if area is None:
            errors.append(LineError(r["line"], "area_code", f"unknown area {r['area_code']}"))
            continue
        if not can_access(area["municipality_code"]):
            errors.append(LineError(r["line"], "area_code", f"{r['area_code']} is outside your scope"))
            continue
        r["municipality_code"] = area["municipality_code"]
        good.append(r)
    errors += _overlaps_in_file(good)
    if not good and not errors:
        return {}, [LineError(2, None, "the file has no data lines")]
    keys = [(r["area_code"], r["theme"], r["period_start"], r["period_end"]) for r in good]
    municipalities = sorted({r["municipality_code"] for r in good})
    async with conn.transaction():
        await store.lock_gebiedsscan(conn, municipalities)
        stored = await store.overlapping_registrations(conn, keys)
        if not replace:
            for s in stored:
                r = good[s["n"]]
                same = (s["period_start"], s["period_end"]) == (r["period_start"], r["period_end"])
                errors.append(
                    LineError(
                        r["line"],
                        "period_start",
                        ("the same period as" if same else "overlaps")
                        + f" a stored row ({s['area_code']}, {s['theme']}, "
                        f"{_span(s['period_start'], s['period_end'])}); import with replace=true to replace it",
                    )
                )
        if errors:
            errors.sort(key=lambda e: e.line)
            return {}, errors
        ids = sorted({s["id"] for s in stored})
        replaced = await store.delete_registrations(conn, ids) if ids else 0
        exact = {(s["area_code"], s["theme"], s["period_start"], s["period_end"]) for s in stored}
        inserted = await store.insert_registrations(
            conn,
            [
                (r["municipality_code"], *key, r["registered_count"])
                for r, key in zip(good, keys, strict=True)
            ],
            actor,
        )
    updated = sum(1 for key in keys if key in exact)
    return {
        "rows": len(good),
        "inserted": inserted - updated,
        "updated": updated,
        "replaced": replaced,
        "municipalities": municipalities,
    }, []


# ------------------------------------------------------------------- informatiepositie


def _mismatch(s_share: float, r_share: float | None, signals_hidden: bool, registered: int | None) -> str:
    """From published figures only: a hidden or unavailable registration count gives
    ``insufficient_data`` (a flag computed from the true count would tell it)."""
    if registered is None or r_share is None:
        return "insufficient_data"
    if s_share == 0 and r_share == 0:
        return "no_signals_or_registrations"
    ratio = (s_share + 0.02) / (r_share + 0.02)
    if ratio >= 2 and not signals_hidden:
        return "possible_underreporting"
    if ratio <= 0.5 and registered > 0:
        return "not_bothered_or_not_reached"
    return "in_line"


REASONS = {
    "possible_underreporting": "veel signalen, weinig registraties: mogelijk onderrapportage bij de politie",
    "not_bothered_or_not_reached": "veel registraties, weinig signalen: bewoners ervaren weinig hinder of worden niet bereikt",
    "in_line": "signalen en registraties wijzen dezelfde kant op",
    "no_signals_or_registrations": "geen signalen en geen registraties",
    "insufficient_data": "te weinig gepubliceerde politiecijfers voor een vergelijking "
    "(onderdrukt, of niet per deze periode of dit gebied geleverd)",
}


async def informatiepositie(
    conn: asyncpg.Connection,
    settings: Settings,
    municipality: str,
    period: Period,
    *,
    limit: int = 20,
    now: date | None = None,
) -> dict[str, Any]:
    """Signals and police registrations per area and theme, both as published (the
    protected signal cube and the protected police cube), with shares, a mismatch flag
    and a priority score computed from those published figures only; and progress per
    priority theme of the municipality (:mod:`burgerwacht.signals.priorities`)."""
    tax = taxonomy()
    c = await cube(conn, settings, municipality, period.year)
    police = await police_cube(conn, settings, municipality, period.year)
    prio = await priorities.get(conn, municipality)
    weights = prio["weights"]
    items: list[dict[str, Any]] = []
    for theme in sorted(t for t in police.themes if t in tax.themes):
        node = THEME_PREFIX + theme
        if node not in c.nodes.index:
            continue
        for level in LEVELS:  # levels finer than the data say so (registered_status)
            areas = [a for a in c.areas.labels if c.area_level[a] == level]
            values = {a: c.value(a, node, period)[0] for a in areas}
            figures = {a: police.figure(a, theme, period) for a in areas}
            s_sum = sum(v for v in values.values() if v is not None)
            r_sum = sum(f.value for f in figures.values() if f.value is not None)
            for a in areas:
                s = values[a]
                f = figures[a]
                r = f.value
                s_share = (s or 0) / s_sum if s_sum else 0.0
                r_share = None if r is None else (r / r_sum if r_sum else 0.0)
                mismatch = _mismatch(s_share, r_share, s is None, r)
                weight = weights.get(theme, tax.themes[theme].weight)
                score = round(weight * 100 * (s_share + (r_share or 0.0)) / 2, 2)
                items.append(
                    {
                        "area_code": a,
                        "area_name": c.area_name.get(a, a),
                        "level": level,
                        "theme": theme,
                        "theme_name": tax.themes[theme].name,
                        "categories": list(tax.themes[theme].categories),
                        "signals": s,
                        "signals_suppressed": s is None,
                        "registered": r,
                        "registered_suppressed": f.status == "suppressed",
                        "registered_status": f.status,
                        "granularity": f.granularity if f.status == "coarser_period" else None,
                        "area_granularity": f.area_granularity if f.status == "coarser_area" else None,
                        "signal_share": round(s_share, 3),
                        "registered_share": None if r_share is None else round(r_share, 3),
                        "mismatch": mismatch,
                        "score": score,
                        "weight": weight,
                    }
                )
    ranked = sorted(
        (i for i in items if i["level"] != "gemeente" and i["score"] > 0),
        key=lambda i: (-i["score"], i["area_code"], i["theme"]),
    )[:limit]
    ranking = [
        {
            "rank": n + 1,
            "area_code": i["area_code"],
            "area_name": i["area_name"],
            "level": i["level"],
            "theme": i["theme"],
            "score": i["score"],
            "mismatch": i["mismatch"],
            "reason": REASONS[i["mismatch"]],
        }
        for n, i in enumerate(ranked)
    ]
    return {
        "municipality": municipality,
        "period": period.as_dict(),
        "privacy": privacy_info(settings),
        "items": items,
        "priorities": ranking,
        "weights": weights,
        "progress": await priorities.progress(
            conn, settings, municipality, period.year, prio["items"], now=now
        ),
        "next": None,
    }


INFORMATIEPOSITIE_CSV_COLUMNS = (
    "area_code",
    "area_name",
    "level",
    "theme",
    "theme_name",
    "signals",
    "signals_suppressed",
    "registered",
    "registered_suppressed",
    "registered_status",
    "granularity",
    "area_granularity",
    "signal_share",
    "registered_share",
    "mismatch",
    "score",
    "weight",
)
