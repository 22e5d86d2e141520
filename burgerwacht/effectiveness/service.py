"""Effectiveness figures per level and month, and the joint picture per buurt.

Definitions (README "Outcomes and effectiveness" repeats them):

- an alert belongs to the calendar month (Europe/Amsterdam) it was sent in, and to every
  municipality it was sent for; drafts are never counted, cancelled alerts are;
- ``reached``: residents with a message of the alert (not the closing message) sent or
  delivered, distinct per alert, summed over the row's alerts;
- ``tips``: tips linked to the row's alerts; ``first_tip_minutes``: per alert with a tip,
  minutes from its send to its first tip; ``first_useful``: the same for the first tip
  marked ``led_to_outcome``; medians and 90th percentiles over the row's alerts that
  have such a tip, by linear interpolation between the closest ranks (PostgreSQL's
  ``percentile_cont``: for sorted values v₀…vₙ₋₁ the p-quantile is at rank p·(n−1));
- ``outcomes``: shares of the row's closed alerts per outcome (all six keys);
  ``close_minutes_median``: minutes from send to close over the closed alerts.

Operators see exact figures; analysts the protected ones (``privacy.py``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import asyncpg

from burgerwacht.alerts.models import OUTCOMES
from burgerwacht.auth.models import StaffUser
from burgerwacht.config import Settings
from burgerwacht.effectiveness import privacy, store
from burgerwacht.effectiveness.models import (
    PictureAlerts,
    PictureBuurt,
    PictureOut,
    StatsOut,
    StatsRow,
)
from burgerwacht.signals.cube import noise_of

#: Roles that see exact figures (they read the tips themselves anyway).
EXACT_ROLES = frozenset({"operator"})
TOUCHES = "the alert's target contains at least one address of the buurt"


def month_after(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _minutes(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _shares(outcomes: list[str]) -> dict[str, float] | None:
    if not outcomes:
        return None
    return {o: round(outcomes.count(o) / len(outcomes), 4) for o in OUTCOMES}


def _stats_row(r: asyncpg.Record, extra: dict[str, int], exact: bool, settings: Settings) -> StatsRow:
    k, round_to, noise = settings.privacy.k, settings.privacy.round_to, noise_of(settings)
    outcomes = list(r["outcomes"])
    row: dict[str, Any] = {
        "level": r["level"],
        "month": r["month"],
        "alerts": r["alerts"],
        "closed": len(outcomes),
        "reached": r["reached"],
        "updates": extra["updates"],
        "waves": extra["waves"],
        "tips": r["tips"],
        "first_tip_minutes_median": _minutes(r["first_tip_median"]),
        "first_tip_minutes_p90": _minutes(r["first_tip_p90"]),
        "first_useful_tip_minutes_median": _minutes(r["first_useful_median"]),
        "first_useful_tip_minutes_p90": _minutes(r["first_useful_p90"]),
        "outcomes": _shares(outcomes),
        "close_minutes_median": _minutes(r["close_median"]),
    }
    hidden: list[str] = []
    if not exact:
        row["reached"] = privacy.publish(r["reached"], r["reached_key"], k=k, round_to=round_to, noise=noise)
        row["tips"] = privacy.publish(r["tips"], r["tips_key"], k=k, round_to=round_to, noise=noise)
        hidden += [f for f in ("reached", "tips") if row[f] is None and r[f] > 0]
        for name, base in (
            ("first_tip_minutes", r["with_tip"]),
            ("first_useful_tip_minutes", r["with_useful"]),
        ):
            if 0 < base < k:
                row[f"{name}_median"] = row[f"{name}_p90"] = None
                hidden += [f"{name}_median", f"{name}_p90"]
        if 0 < len(outcomes) < k:
            row["outcomes"] = None
            hidden.append("outcomes")
    reached, tips = row["reached"], row["tips"]
    row["tips_per_1000"] = round(1000 * tips / reached, 1) if reached and tips is not None else None
    return StatsRow(**row, suppressed=hidden)


async def stats(
    conn: asyncpg.Connection,
    settings: Settings,
    user: StaffUser,
    municipality: str,
    first: date,
    last: date,
    level: str | None,
) -> StatsOut:
    start, after = first.replace(day=1), month_after(last)
    rows = await store.stats(
        conn, municipality, start, after, level, privacy.secret(settings.security.secret_key)
    )
    extra = await store.count_updates_waves(conn, [i for r in rows for i in r["alert_ids"]])
    exact = user.role in EXACT_ROLES
    items = []
    for r in rows:
        totals = {key: sum(extra[i][key] for i in r["alert_ids"]) for key in store.UPDATE_WAVE_TABLES}
        items.append(_stats_row(r, totals, exact, settings))
    return StatsOut(
        municipality=municipality,
        from_=start,
        to=date.fromordinal(after.toordinal() - 1),
        protected=not exact,
        items=items,
    )


async def picture(conn: asyncpg.Connection, settings: Settings, municipality: str, year: int) -> PictureOut:
    """Alerts per buurt, month and level (exact), and per buurt for the year the tips for
    those alerts (cell key, k, rounding) and outcome shares (over at least k closed)."""
    k, round_to, noise = settings.privacy.k, settings.privacy.round_to, noise_of(settings)
    rows = await store.picture(
        conn,
        municipality,
        date(year, 1, 1),
        date(year + 1, 1, 1),
        privacy.secret(settings.security.secret_key),
    )
    areas = await store.buurten(conn, municipality)
    names = {a["code"]: a["name"] for a in areas}
    per_cell: dict[tuple[str, str, str], int] = defaultdict(int)
    per_buurt: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        per_cell[(r["buurt_code"], r["month"], r["level"])] += 1
        per_buurt[r["buurt_code"]].append(r)
    alerts = [
        PictureAlerts(area_code=b, area_name=names.get(b, b), month=m, level=lvl, alerts=n)
        for (b, m, lvl), n in sorted(per_cell.items())
    ]
    buurten = []
    for a in areas:
        mine = per_buurt.get(a["code"], [])
        outcomes = [r["outcome"] for r in mine if r["status"] == "closed" and r["outcome"]]
        true_tips = sum(r["tips"] for r in mine)
        tips = privacy.publish(
            true_tips, int(sum(r["tips_key"] for r in mine)), k=k, round_to=round_to, noise=noise
        )
        shares = _shares(outcomes) if len(outcomes) >= k else None
        hidden = (["tips"] if tips is None and true_tips > 0 else []) + (
            ["outcomes"] if shares is None and outcomes else []
        )
        buurten.append(
            PictureBuurt(
                area_code=a["code"],
                area_name=a["name"],
                wijk_code=a["district_code"],
                alerts=len(mine),
                closed=len(outcomes),
                tips=tips,
                outcomes=shares,
                suppressed=hidden,
            )
        )
    return PictureOut(
        municipality=municipality,
        year=year,
        k=k,
        round_to=round_to,
        touches=TOUCHES,
        alerts=alerts,
        buurten=buurten,
    )


STATS_COLUMNS = [
    "level",
    "month",
    "alerts",
    "closed",
    "reached",
    "updates",
    "waves",
    "tips",
    "tips_per_1000",
    "first_tip_minutes_median",
    "first_tip_minutes_p90",
    "first_useful_tip_minutes_median",
    "first_useful_tip_minutes_p90",
    *(f"outcome_{o}" for o in OUTCOMES),
    "close_minutes_median",
    "suppressed",
]


def stats_csv_rows(out: StatsOut) -> list[list[Any]]:
    """The rows of the JSON answer, one CSV line each (outcome shares one column each,
    ``suppressed`` joined by ';'; empty cells for null)."""
    lines: list[list[Any]] = [STATS_COLUMNS]
    for item in out.items:
        d = item.model_dump()
        shares = d.pop("outcomes") or {}
        d.update({f"outcome_{o}": shares.get(o) for o in OUTCOMES})
        d["suppressed"] = ";".join(d["suppressed"])
        lines.append(["" if d[c] is None else d[c] for c in STATS_COLUMNS])
    return lines
