"""Theme priorities per municipality: a weight per gebiedsscan theme (ranking the
informatiepositie's priority list) and an optional target against a baseline year
("woninginbraak -10 % against last year"), with progress from published figures.

It exists apart from :mod:`burgerwacht.signals.scan` because priorities are a
municipality's own policy (stored, audited, edited by analysts), while the scan is
data. Themes without a stored priority keep the default weight of
``defaults/signals.toml``. Progress reads only protected figures (the signal cube and
the police cube), so it can tell nothing a summary does not.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from burgerwacht.audit import store as audit
from burgerwacht.config import Settings
from burgerwacht.errors import DomainError
from burgerwacht.signals import store
from burgerwacht.signals.cube import THEME_PREFIX, cube
from burgerwacht.signals.periods import Period, last_complete_month, today
from burgerwacht.signals.police import police_cube, year_to_date_parts
from burgerwacht.signals.taxonomy import taxonomy


def _item_view(row: Any) -> dict[str, Any]:
    tax = taxonomy()
    theme = tax.themes.get(row["theme"])
    return {
        "theme": row["theme"],
        "theme_name": theme.name if theme else row["theme"],
        "weight": float(row["weight"]),
        "target_change_pct": row["target_change_pct"],
        "baseline_year": row["baseline_year"],
    }


async def get(conn: asyncpg.Connection, municipality: str) -> dict[str, Any]:
    rows = await store.priorities(conn, municipality)
    tax = taxonomy()
    items = [_item_view(r) for r in rows if r["theme"] in tax.themes]
    defaults = {code: t.weight for code, t in tax.themes.items()}
    return {
        "municipality": municipality,
        "items": items,
        "themes": [
            {"theme": code, "theme_name": t.name, "default_weight": t.weight}
            for code, t in tax.themes.items()
        ],
        "default_weights": defaults,
        "weights": {**defaults, **{i["theme"]: i["weight"] for i in items}},
        "updated_at": max((r["updated_at"] for r in rows), default=None),
    }


async def weights(conn: asyncpg.Connection, municipality: str) -> dict[str, float]:
    return (await get(conn, municipality))["weights"]


async def put(
    conn: asyncpg.Connection, municipality: str, items: list[dict[str, Any]], *, actor: str
) -> dict[str, Any]:
    """Replace the municipality's priorities (all or nothing) and audit the change."""
    tax = taxonomy()
    errors = []
    seen: dict[str, int] = {}
    for n, item in enumerate(items):
        theme = item["theme"]
        if theme not in tax.themes:
            errors.append(
                {
                    "loc": f"body.items.{n}.theme",
                    "msg": f"unknown theme {theme!r}; known: {', '.join(sorted(tax.themes))}",
                    "type": "value_error",
                }
            )
        elif theme in seen:
            errors.append(
                {
                    "loc": f"body.items.{n}.theme",
                    "msg": f"theme {theme!r} is listed twice (items {seen[theme]} and {n})",
                    "type": "value_error",
                }
            )
        seen.setdefault(theme, n)
    if errors:
        raise DomainError(422, "invalid-priorities", errors[0]["msg"], errors=errors)
    async with conn.transaction():
        if not await store.municipality_exists(conn, municipality):
            raise DomainError(404, "not-found", f"no municipality {municipality}")
        before = await get(conn, municipality)
        await store.replace_priorities(conn, municipality, items, actor)
        after = await get(conn, municipality)
        await audit.append(
            conn,
            actor,
            "priorities.update",
            "municipality",
            municipality,
            {"before": before["items"], "after": after["items"]},
        )
    return after


# ----------------------------------------------------------------------- progress


def _change(current: int | None, baseline: int | None) -> float | None:
    if current is None or baseline is None or baseline == 0:
        return None
    return round(100.0 * (current - baseline) / baseline, 1)


def _span(year: int, last_month: int) -> dict[str, str]:
    end = Period(year, "month", last_month).end
    return {"from": date(year, 1, 1).isoformat(), "to": end.isoformat()}


def _last_month(year: int, now: date) -> int:
    """The last complete month of ``year`` as of ``now`` (0: none yet)."""
    if year < now.year:
        return 12
    if year > now.year:
        return 0
    last = last_complete_month(now)
    return last.index if last.year == year else 0


async def progress(
    conn: asyncpg.Connection,
    settings: Settings,
    municipality: str,
    year: int,
    items: list[dict[str, Any]],
    *,
    now: date | None = None,
) -> list[dict[str, Any]]:
    """Per priority theme: this year to date against the same months of the baseline
    year (default: the year before), for police registrations and for signals, at
    gemeente level. Each side is a sum of published figures (the year, whole quarters,
    then months); null when any of them is hidden or the police data does not answer
    those months (the reason is given)."""
    now = now or today()
    last = _last_month(year, now)
    out = []
    police: dict[int, Any] = {}
    signals: dict[int, Any] = {}

    async def pc(y: int):
        if y not in police:
            police[y] = await police_cube(conn, settings, municipality, y)
        return police[y]

    async def sc(y: int):
        if y not in signals:
            signals[y] = await cube(conn, settings, municipality, y)
        return signals[y]

    for item in items:
        theme = item["theme"]
        base_year = item.get("baseline_year") or year - 1
        target = item.get("target_change_pct")
        entry: dict[str, Any] = {
            "theme": theme,
            "theme_name": item.get("theme_name", theme),
            "weight": item["weight"],
            "target_change_pct": target,
            "baseline_year": base_year,
        }
        # police: through the last month the year's data answers (its grain), at most `last`
        now_cube = await pc(year)
        t = now_cube.themes.get(theme)
        reg: dict[str, Any] = {"span": None, "current": None, "baseline": None, "change_pct": None}
        if t is None or last == 0:
            reg["reason"] = "no_data" if t is None else "year_not_started"
        else:
            step = {"month": 1, "quarter": 3, "year": 12}[t.grain]
            through = (last // step) * step
            if through == 0:
                reg["reason"] = f"granularity_{t.grain}"
            else:
                parts_now = year_to_date_parts(year, through)
                parts_base = year_to_date_parts(base_year, through)
                base_cube = await pc(base_year)
                reg["span"] = _span(year, through)
                reg["current"] = now_cube.sum_of(municipality, theme, parts_now)
                reg["baseline"] = base_cube.sum_of(municipality, theme, parts_base)
                reg["change_pct"] = _change(reg["current"], reg["baseline"])
                if reg["current"] is None or reg["baseline"] is None:
                    reg["reason"] = _why(now_cube, base_cube, municipality, theme, parts_now, parts_base)
        entry["registrations"] = reg
        sig: dict[str, Any] = {"span": None, "current": None, "baseline": None, "change_pct": None}
        node = THEME_PREFIX + theme
        if last == 0:
            sig["reason"] = "year_not_started"
        else:
            c_now, c_base = await sc(year), await sc(base_year)
            sig["span"] = _span(year, last)
            sig["current"] = _signal_sum(c_now, municipality, node, year_to_date_parts(year, last))
            sig["baseline"] = _signal_sum(c_base, municipality, node, year_to_date_parts(base_year, last))
            sig["change_pct"] = _change(sig["current"], sig["baseline"])
            if sig["current"] is None or sig["baseline"] is None:
                sig["reason"] = "suppressed"
        entry["signals"] = sig
        change = reg["change_pct"]
        entry["on_track"] = None if target is None or change is None else change <= target
        out.append(entry)
    return out


def _signal_sum(c: Any, municipality: str, node: str, parts: list[Period]) -> int | None:
    total = 0
    for p in parts:
        n, _ = c.value(municipality, node, p)
        if n is None:
            return None
        total += n
    return total


def _why(now_cube: Any, base_cube: Any, municipality: str, theme: str, *parts: list[Period]) -> str:
    """The first reason a year-to-date police sum is missing."""
    for c, ps in zip((now_cube, base_cube), parts, strict=True):
        for p in ps:
            f = c.figure(municipality, theme, p)
            if f.value is None:
                if f.status == "coarser_period":
                    return f"granularity_{f.granularity}"
                return f.status
    return "not_delivered"
