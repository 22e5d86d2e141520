"""Ended /mijn sessions and old login codes go."""

from __future__ import annotations

from burgerwacht.mijn import store
from burgerwacht.scheduler import job
from burgerwacht.web.keys import POOL


@job("mijn-sessions-purge", seconds=3600)
async def purge_mijn_sessions(app) -> dict:
    async with app[POOL].acquire() as conn:
        return await store.purge(conn)
