"""Old rate-limit windows of the public tip form go."""

from __future__ import annotations

from burgerwacht.public import store
from burgerwacht.scheduler import job
from burgerwacht.web.keys import POOL


@job("public-tip-rate-purge", seconds=3600)
async def purge_tip_rates(app) -> dict:
    async with app[POOL].acquire() as conn:
        return {"purged": await store.purge_rates(conn)}
