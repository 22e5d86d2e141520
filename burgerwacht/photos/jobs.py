"""Photos go with their page: public.page_days_after_close days after the alert ended;
a photo on a draft that was never sent goes DRAFT_PHOTO_DAYS after it was put there."""

from __future__ import annotations

from burgerwacht.photos import store
from burgerwacht.scheduler import job
from burgerwacht.web.keys import POOL, SETTINGS

DRAFT_PHOTO_DAYS = 30


@job("public-photo-purge", seconds=3600)
async def purge_photos(app) -> dict:
    async with app[POOL].acquire() as conn:
        days = app[SETTINGS].public.page_days_after_close
        return {"purged": await store.purge(conn, days, DRAFT_PHOTO_DAYS)}
