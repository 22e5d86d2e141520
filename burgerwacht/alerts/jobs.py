"""Lost status callbacks: an SMS or call still 'sent' long after it went out is looked
up at the provider. Twilio does not retry a status callback the service could not take
(say, while PostgreSQL was restarting), so without this the delivery would stay 'sent'
for ever, the alert's progress would never complete and an undeliverable message would
never fall back to a call.

Up to BATCH per run (every minute), oldest first, only while the alert is live (after
expiry nothing can follow from the answer); one the provider still reports as sent (some
carriers never report delivery; a call still ringing or in progress) is asked again a
period later, so it does not hold up the others."""

from __future__ import annotations

import asyncio
import logging

from burgerwacht.alerts import callbacks, states, store
from burgerwacht.messaging import ProviderError
from burgerwacht.scheduler import job
from burgerwacht.web.keys import POOL, PROVIDER, SETTINGS

log = logging.getLogger(__name__)
BATCH = 500  # per run; the next run takes the rest
CONCURRENCY = 8  # provider lookups at once (GETs; Twilio's limits for them are generous)


@job("alerts-status-check", seconds=60)
async def check_stale_sends(app) -> dict[str, int]:
    pool, provider = app[POOL], app[PROVIDER]
    minutes = app[SETTINGS].alerts.status_check_after_minutes
    async with pool.acquire() as conn:
        rows = await store.stale_sent(conn, minutes, BATCH)
    counts = {"checked": len(rows), "applied": 0, "unchanged": 0, "failed": 0}
    ask_later: list[int] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(row) -> None:
        channel, sid = row["channel"], row["provider_sid"]
        async with gate:
            try:
                if channel == "sms":
                    message = await provider.fetch_message(sid)
                    status, error_code = message.status, message.error_code
                else:
                    status, error_code = (await provider.fetch_call(sid)).status, None
            except ProviderError as exc:
                counts["failed"] += 1
                log.warning("status check of delivery %s failed (%s)", row["id"], type(exc).__name__)
                ask_later.append(row["id"])
                return
        mapping = states.SMS_STATUS if channel == "sms" else states.CALL_STATUS
        new_state = mapping.get(status)
        if new_state is None or new_state in ("sending", "sent"):
            counts["unchanged"] += 1
            ask_later.append(row["id"])
            return
        async with pool.acquire() as conn:
            moved = await callbacks.apply_callback(
                conn, row["id"], row["attempts"], new_state, sid, error_code, channel
            )
        counts["applied" if moved else "unchanged"] += 1

    await asyncio.gather(*(one(r) for r in rows))
    if ask_later:  # some carriers never report, a lookup can fail: ask again later, others first
        async with pool.acquire() as conn:
            await store.checked_unchanged(conn, ask_later)
    if counts["applied"] or counts["failed"]:
        log.info("status check of stale sends", extra=counts)
    return counts
