"""Daily check that the audit chain is intact; a broken chain is logged as an error."""

from __future__ import annotations

import logging

from burgerwacht.audit import store
from burgerwacht.scheduler import job
from burgerwacht.web.keys import POOL

log = logging.getLogger(__name__)


@job("audit-verify", seconds=24 * 3600)
async def verify_audit_chain(app) -> dict:
    async with app[POOL].acquire() as conn:
        result = await store.verify(conn)
    if not result.ok:
        log.error("audit chain broken: %s", "; ".join(result.problems))
    return {"ok": result.ok, "checked": result.checked}
