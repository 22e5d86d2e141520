"""The weekly report: per municipality, the last complete month's summaries (gemeente,
wijk, buurt) against the month before, stored in the database and written as CSV to
``signals.export_dir``.

It exists because a report is a stored artefact with its own life (the weekly job
writes it, analysts list and fetch it later), built from the same protected summaries
as the API (:mod:`burgerwacht.signals.summary`), never from signal rows.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from burgerwacht.config import Settings
from burgerwacht.signals import store
from burgerwacht.signals.periods import AMSTERDAM, last_complete_month
from burgerwacht.signals.summary import SummaryRequest, privacy_info, rows_to_csv, summary

log = logging.getLogger(__name__)


async def build_report(
    conn: asyncpg.Connection, settings: Settings, municipality: str, now: datetime | None = None
) -> asyncpg.Record:
    """The weekly report: the last complete month per buurt, wijk and gemeente and
    category, against the month before; stored and written as CSV."""
    now = now or datetime.now(UTC)
    local = now.astimezone(AMSTERDAM).date()
    period = last_complete_month(local)
    items: list[dict[str, Any]] = []
    for level in ("gemeente", "wijk", "buurt"):
        doc = await summary(conn, settings, SummaryRequest(municipality, level, period))
        items.extend(doc["items"])
    iso = local.isocalendar()
    label = f"{iso.year}-W{iso.week:02d}"
    csv_text = rows_to_csv(items)
    directory = Path(settings.signals.export_dir) / municipality
    path = directory / f"buurtsignaal-{municipality}-{label}-{period.label}.csv"
    written: str | None = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".csv.tmp")
        tmp.write_text(csv_text, encoding="utf-8")
        tmp.replace(path)
        written = str(path)
    except OSError as exc:
        log.warning("report CSV not written to %s: %s", directory, exc)
    content = {
        "municipality": municipality,
        "period": period.as_dict(),
        "previous_period": period.previous().as_dict(),
        "generated_at": now.isoformat(),
        "privacy": privacy_info(settings),
        "items": items,
    }
    return await store.save_report(
        conn,
        municipality_code=municipality,
        kind="weekly",
        period_label=label,
        period_start=period.start,
        period_end=period.end,
        rows=len(items),
        content=content,
        csv_path=written,
    )


def report_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "municipality": row["municipality_code"],
        "kind": row["kind"],
        "label": row["period_label"],
        "period": {"from": row["period_start"].isoformat(), "to": row["period_end"].isoformat()},
        "created_at": row["created_at"],
        "rows": row["rows"],
        "csv_file": Path(row["csv_path"]).name if row["csv_path"] else None,
    }
