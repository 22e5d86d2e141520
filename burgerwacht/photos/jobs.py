"""Photos go with their page: public.page_days_after_close days after the alert ended."""

from __future__ import annotations

from burgerwacht.photos import store
from burgerwacht.scheduler import job
from burgerwacht.web.keys import POOL, SETTINGS


@job("public-photo-purge", seconds=3600)
async def purge_photos(app) -> dict:
    async with app[POOL].acquire() as conn:
        return {"purged": await store.purge(conn, app[SETTINGS].public.page_days_after_close)}
