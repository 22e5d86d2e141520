"""Scheduled work of the signals domain (each runs once per period cluster-wide):
the rollup, the weekly report per municipality and the retention purges."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from burgerwacht.scheduler import job
from burgerwacht.signals import cube, reports, store
from burgerwacht.signals.taxonomy import taxonomy
from burgerwacht.web.keys import POOL, SETTINGS

log = logging.getLogger(__name__)

# The job ticks every minute; the rollup itself runs when signals.rollup_interval_seconds
# has passed since the last run (the setting cannot size the tick: jobs register at import).
TICK_SECONDS = 60


@job("signals.rollup", seconds=TICK_SECONDS)
async def rollup(app: web.Application) -> dict[str, Any] | None:
    """Roll up the dirty days, then build the protected cubes of the years that changed
    (so the protection never runs on a request for data that has been rolled up)."""
    settings = app[SETTINGS]
    interval = settings.signals.rollup_interval_seconds
    async with app[POOL].acquire() as conn:
        last = await store.rollup_last_run(conn)
        if last is not None and (datetime.now(UTC) - last).total_seconds() < interval - 1:
            return {"skipped": True}
        result: dict[str, Any] = dict(await run_rollup(conn))
        result["cubes"] = await cube.prebuild_cubes(conn, settings)
        return result


async def run_rollup(conn) -> dict[str, int]:
    """Roll up every dirty day (in batches)."""
    total = {"days": 0, "months": 0}
    while True:
        result = await store.rollup(conn)
        total["days"] += result["days"]
        total["months"] += result["months"]
        if result["days"] == 0:
            return total


@job("signals.weekly_report", seconds=7 * 24 * 3600)
async def weekly_report(app: web.Application) -> dict[str, Any]:
    settings = app[SETTINGS]
    written = 0
    async with app[POOL].acquire() as conn:
        for municipality in await store.municipalities(conn):
            try:
                await reports.build_report(conn, settings, municipality)
                written += 1
            except Exception:
                log.exception("weekly signal report for %s failed", municipality)
    return {"reports": written}


@job("signals.retention", seconds=3600)
async def retention(app: web.Application) -> dict[str, Any]:
    async with app[POOL].acquire() as conn:
        cleared = await store.clear_old_texts(conn, taxonomy().text_retention_days)
        purged = await store.purge_rate(conn)
    return {"texts_cleared": cleared, "rate_rows_purged": purged}
