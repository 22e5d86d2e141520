"""Retention for resident-side records: code requests, enrolments, delivery history and
remembered webhook replies (an AANMELDEN reply names the address)."""

from __future__ import annotations

from burgerwacht.residents import store
from burgerwacht.scheduler import job
from burgerwacht.web.keys import POOL, SETTINGS


@job("residents-retention", seconds=3600)
async def purge_resident_records(app) -> dict:
    r = app[SETTINGS].retention
    async with app[POOL].acquire() as conn:
        return await store.purge(conn, deliveries_days=r.deliveries_days)
