"""Helpers for the effectiveness tests: an alert's timeline put at known times (there is
no API to send in the past), and stand-ins for the follow-up and wave tables."""

from __future__ import annotations

from datetime import datetime, timedelta


async def place_alert(db, alert_id: int, sent_at: datetime, close_after_minutes: float | None = None) -> None:
    """The alert sent at ``sent_at`` (and, if closed, closed ``close_after_minutes`` later)."""
    closed_at = sent_at + timedelta(minutes=close_after_minutes) if close_after_minutes is not None else None
    await db.execute(
        "UPDATE alerts SET sent_at = $2, closed_at = coalesce($3, closed_at) WHERE id = $1",
        alert_id,
        sent_at,
        closed_at,
    )


async def place_tip(db, tip_id: int, sent_at: datetime, minutes_after: float) -> None:
    await db.execute(
        "UPDATE tips SET received_at = $2 WHERE id = $1", tip_id, sent_at + timedelta(minutes=minutes_after)
    )


async def tip_id(db, alert_id: int, phone: str) -> int:
    tid = await db.fetchval(
        "SELECT id FROM tips WHERE alert_id = $1 AND phone = $2 ORDER BY id DESC LIMIT 1", alert_id, phone
    )
    assert tid is not None, (alert_id, phone)
    return tid
