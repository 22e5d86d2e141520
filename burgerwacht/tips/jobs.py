"""Retention: tip text, numbers, recordings and photos, relay entries and call context
expire. The media of picture messages are fetched (and deleted at the provider) by
``tips-media`` whenever the webhook's own fetch did not finish them (tips/media.py)."""

from __future__ import annotations

from burgerwacht.scheduler import job
from burgerwacht.tips import media, store
from burgerwacht.web.keys import POOL, SETTINGS


@job("tips-retention", seconds=3600)
async def purge_tips(app) -> dict:
    r = app[SETTINGS].retention
    async with app[POOL].acquire() as conn:
        return await store.purge(conn, r.tips_days, r.relay_hours)


@job("tips-media", seconds=30)
async def fetch_media(app) -> dict:
    return await media.process_due(app)
