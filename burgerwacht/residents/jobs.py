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


@job("deliveries-partitions", seconds=24 * 3600)
async def make_delivery_partitions(app) -> dict:
    """The month partitions of deliveries (sql/0032), this month and the next two, made
    ahead so the default partition stays empty (a partition made after its month began
    would have to take rows out of it)."""
    async with app[POOL].acquire() as conn:
        return {"made": await store.make_delivery_partitions(conn, months_ahead=2)}
