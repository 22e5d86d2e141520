"""Gebiedsscan and informatiepositie: police registrations per area, theme and period,
imported from CSV (every line checked, all or nothing), and compared with the signals
(straatkennis next to systeemkennis) per area and theme.

It exists apart from the summaries because it is the only place where a second source
(the police's counts) meets the signals. The signal side still comes from the
protected cube (:mod:`burgerwacht.signals.cube`) only: counts per area and theme,
never a signal row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from burgerwacht.config import Settings
from burgerwacht.signals import store
from burgerwacht.signals.cube import THEME_PREFIX, cube
from burgerwacht.signals.periods import Period
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
        if "period_start" in row and "period_end" in row and row["period_end"] < row["period_start"]:
            errors.append(LineError(line_no, "period_end", "period_end is before period_start"))
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


async def import_gebiedsscan(
    conn: asyncpg.Connection, text: str, *, actor: str, can_access: Any
) -> tuple[dict[str, Any], list[LineError]]:
    """Validate every line (area exists, in scope, no duplicates), then store all rows
    in one transaction, or nothing when any line is wrong."""
    rows, errors = parse_gebiedsscan(text)
    codes = sorted({r["area_code"] for r in rows})
    known = {r["code"]: r for r in await store.areas_by_codes(conn, codes)}
    seen: dict[tuple[Any, ...], int] = {}
    good: list[tuple[Any, ...]] = []
    for r in rows:
        area = known.get(r["area_code"])
        if area is None:
            errors.append(LineError(r["line"], "area_code", f"unknown area {r['area_code']}"))
            continue
        if not can_access(area["municipality_code"]):
            errors.append(LineError(r["line"], "area_code", f"{r['area_code']} is outside your scope"))
            continue
        key = (r["area_code"], r["theme"], r["period_start"], r["period_end"])
        if key in seen:
            errors.append(LineError(r["line"], None, f"duplicate of line {seen[key]}"))
            continue
        seen[key] = r["line"]
        good.append((area["municipality_code"], *key, r["registered_count"]))
    errors.sort(key=lambda e: e.line)
    if errors:
        return {}, errors
    if not good:
        return {}, [LineError(2, None, "the file has no data lines")]
    async with conn.transaction():
        inserted = await store.upsert_registrations(conn, good, actor)
    return {
        "rows": len(good),
        "inserted": inserted,
        "updated": len(good) - inserted,
        "municipalities": sorted({g[0] for g in good}),
    }, []


# ------------------------------------------------------------------- informatiepositie


def _mismatch(s_share: float, r_share: float, signals_hidden: bool, registered: int) -> str:
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
}


async def informatiepositie(
    conn: asyncpg.Connection, settings: Settings, municipality: str, period: Period, *, limit: int = 20
) -> dict[str, Any]:
    tax = taxonomy()
    c = await cube(conn, settings, municipality, period.year)
    regs = await store.registrations(conn, municipality, period.start, period.end)
    themes = sorted({r["theme"] for r in regs if r["theme"] in tax.themes})
    registered: dict[tuple[str, str], int] = {(r["area_code"], r["theme"]): r["registered"] for r in regs}
    levels = sorted(
        {c.area_level[r["area_code"]] for r in regs if r["area_code"] in c.area_level},
        key=["buurt", "wijk", "gemeente"].index,
    )
    items: list[dict[str, Any]] = []
    for level in levels:
        areas = [a for a in c.areas.labels if c.area_level[a] == level]
        for theme in themes:
            node = THEME_PREFIX + theme
            if node not in c.nodes.index:
                continue
            values = {a: c.value(a, node, period)[0] for a in areas}
            regs_here = {a: registered.get((a, theme), 0) for a in areas}
            s_sum = sum(v for v in values.values() if v is not None)
            r_sum = sum(regs_here.values())
            for a in areas:
                s = values[a]
                r = regs_here[a]
                s_share = (s or 0) / s_sum if s_sum else 0.0
                r_share = r / r_sum if r_sum else 0.0
                mismatch = _mismatch(s_share, r_share, s is None, r)
                weight = tax.themes[theme].weight
                score = round(weight * 100 * (s_share + r_share) / 2, 2)
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
                        "signal_share": round(s_share, 3),
                        "registered_share": round(r_share, 3),
                        "mismatch": mismatch,
                        "score": score,
                    }
                )
    ranked = sorted(
        (i for i in items if i["level"] != "gemeente" and i["score"] > 0),
        key=lambda i: (-i["score"], i["area_code"], i["theme"]),
    )[:limit]
    priorities = [
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
        "privacy": {"k": settings.privacy.k, "round_to": settings.privacy.round_to},
        "items": items,
        "priorities": priorities,
        "next": None,
    }
