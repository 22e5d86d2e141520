"""Retention: tip text, numbers and recordings, relay entries and call context expire."""

from __future__ import annotations

from burgerwacht.scheduler import job
from burgerwacht.tips import store
from burgerwacht.web.keys import POOL, SETTINGS


@job("tips-retention", seconds=3600)
async def purge_tips(app) -> dict:
    r = app[SETTINGS].retention
    async with app[POOL].acquire() as conn:
        return await store.purge(conn, r.tips_days, r.relay_hours)
