"""Creating, previewing, sending, closing and cancelling alerts.

Sending is one transaction: the alert becomes 'sending' and the recipient query writes
one delivery per (alert, resident, channel) with INSERT … SELECT; workers are woken
with NOTIFY (a hint — they poll anyway).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg

from burgerwacht.alerts import language_checks, store
from burgerwacht.alerts.models import (
    AlertIn,
    AlertOut,
    CapSource,
    Counts,
    Preview,
    QuietHoursCount,
    Recipients,
    SmsInfo,
)
from burgerwacht.alerts.store import DISPATCH_CHANNEL as DISPATCH_CHANNEL  # the workers LISTEN on it
from burgerwacht.alerts.store import RecipientQuery
from burgerwacht.alerts.targets import Resolved, stored
from burgerwacht.audit import store as audit
from burgerwacht.auth.models import StaffUser
from burgerwacht.config import Settings
from burgerwacht.errors import DomainError
from burgerwacht.events import publish
from burgerwacht.geo import GeoError
from burgerwacht.messaging import analyse, gsm7_fold

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I/O/0/1: read aloud and typed back
CLOSING_TTL = timedelta(hours=6)


# ------------------------------------------------------------------ texts


def sms_text(reference: str, message: str) -> str:
    return f"Burgerwacht {reference}: {message}"


def closing_text(reference: str, message: str) -> str:
    return f"Burgerwacht {reference} afgelopen: {message}"


def sms_info(reference: str, message: str) -> SmsInfo:
    text = sms_text(reference, message)
    a = analyse(text)
    suggestion = None
    if a.encoding == "UCS-2":
        folded = gsm7_fold(message)
        if folded != message and analyse(sms_text(reference, folded)).encoding == "GSM-7":
            suggestion = folded
    return SmsInfo(
        encoding=a.encoding,
        segments=a.segments,
        characters=a.characters,
        ucs2_characters=list(a.ucs2_characters),
        text=text,
        gsm7_suggestion=suggestion,
    )


# ------------------------------------------------------------------ targets


async def resolve_target(conn: asyncpg.Connection, settings: Settings, body: AlertIn) -> Resolved:
    """The body's target checked and in RD New (each type in ``alerts/targets.py``)."""
    try:
        return await body.target.resolve(settings.alerts, partial(store.areas_by_code, conn))
    except GeoError as exc:
        raise DomainError(422, "invalid-target", f"target: {exc}", field="target") from None


async def _reachable_municipalities(conn: asyncpg.Connection, user: StaffUser, target: Resolved) -> list[str]:
    """Municipalities the target touches that the user may reach; 403 when none."""
    if target.municipalities is not None:  # named CBS areas: every one must be in scope
        outside = sorted(m for m in target.municipalities if not user.can_access(m))
        if outside:
            raise DomainError(
                403, "forbidden-scope", f"target.codes lie outside your scope: {', '.join(outside)}"
            )
        return list(target.municipalities)
    touched = await store.municipalities_in_target(conn, target)
    if user.national:
        return touched
    reachable = [m for m in touched if user.can_access(m)]
    if touched and not reachable:
        raise DomainError(
            403, "forbidden-scope", f"the target lies outside your scope (it covers {', '.join(touched)})"
        )
    return reachable or list(user.municipalities)


def area_of(row: asyncpg.Record) -> dict[str, Any] | None:
    """The alert's area as GeoJSON for a map (None for a target no type reads)."""
    try:
        return stored(row["target"]).area()
    except (ValueError, DomainError):
        return None


async def _new_reference(conn: asyncpg.Connection) -> str:
    for length in (3, 3, 3, 4, 4, 5):
        ref = secrets.choice(REFERENCE_ALPHABET[:24]) + "".join(
            secrets.choice(REFERENCE_ALPHABET) for _ in range(length - 1)
        )
        if not await store.live_reference_exists(conn, ref):
            return ref
    raise DomainError(503, "no-reference", "could not find a free alert reference; try again")


async def create(
    pool: asyncpg.Pool,
    settings: Settings,
    user: StaffUser,
    body: AlertIn,
    *,
    cap_source: dict[str, Any] | None = None,
) -> int:
    """A draft alert; ``cap_source`` (identifier, sender, sent) when imported from CAP."""
    if body.expires_in_minutes > settings.alerts.max_expires_minutes:
        raise DomainError(
            422,
            "expiry-too-long",
            f"expires_in_minutes: at most {settings.alerts.max_expires_minutes}",
            field="expires_in_minutes",
        )
    async with pool.acquire() as conn, conn.transaction():
        target = await resolve_target(conn, settings, body)
        municipalities = await _reachable_municipalities(conn, user, target)
        reference = await _new_reference(conn)
        alert_id = await store.insert_alert(
            conn,
            reference=reference,
            level=body.level,
            title=body.title,
            message=body.message,
            voice_message=body.voice_message,
            message_en=body.message_en,
            voice_message_en=body.voice_message_en,
            target=body.target.model_dump(mode="json"),
            **target.columns(),
            municipalities=municipalities,
            channels=list(body.channels),
            expires_in_minutes=body.expires_in_minutes,
            family_consent=body.family_consent,
            created_by=user.id,
            scope=user.scope(),
            cap_source_identifier=(cap_source or {}).get("identifier"),
            cap_source_sender=(cap_source or {}).get("sender"),
            cap_source_sent=(cap_source or {}).get("sent"),
        )
        await audit.append(
            conn,
            user.actor,
            "alert.create",
            "alert",
            alert_id,
            {
                "level": body.level,
                "target": body.target.model_dump(mode="json"),
                "channels": list(body.channels),
                "municipalities": municipalities,
            },
        )
    return alert_id


async def load_for(
    conn: asyncpg.Connection, user: StaffUser, alert_id: int, *, lock: bool = False
) -> asyncpg.Record:
    row = await store.alert(conn, alert_id, lock=lock)
    if row is None or not (user.national or set(row["municipalities"]) & set(user.municipalities)):
        raise DomainError(404, "not-found", f"no alert {alert_id}")
    return row


def recipient_query(settings: Settings, row: asyncpg.Record, expires_at: datetime) -> RecipientQuery:
    return RecipientQuery(
        alert_id=row["id"],
        target=Resolved.from_row(row),
        channels=list(row["channels"]),
        scope=row["scope"],
        level=row["level"],
        expires_at=expires_at,
        regular_per_day=settings.alerts.regular_per_resident_per_day,
    )


async def preview(pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int) -> Preview:
    async with pool.acquire() as conn:
        row = await load_for(conn, user, alert_id)
        expires_at = row["expires_at"] or datetime.now(UTC) + timedelta(minutes=row["expires_in_minutes"])
        query = recipient_query(settings, row, expires_at)
        by, total = await store.recipient_counts(conn, query)
        outside = 0
        if query.scope is not None:  # residents in the target that this operator may not reach
            everyone = await store.distinct_residents(conn, query.national())
            outside = max(0, everyone - await store.distinct_residents(conn, query))

        def count(channel: str | None = None, *dispositions: str) -> int:
            return sum(
                n for (c, d), n in by.items() if (channel is None or c == channel) and d in dispositions
            )

        sms_now, voice_now = by.get(("sms", "now"), 0), by.get(("voice", "now"), 0)
        t = settings.twilio
        # the channels have separate provider limits and go out side by side
        estimate = round(max(sms_now / t.sms_per_second, voice_now / t.calls_per_second), 2)
        result = Preview(
            recipients=Recipients(
                total=total,
                sms=count("sms", "now", "quiet_defer"),
                voice=count("voice", "now", "quiet_defer"),
            ),
            quiet_hours=QuietHoursCount(
                deferred=count(None, "quiet_defer"), skipped=count(None, "quiet_skip")
            ),
            over_budget=count(None, "budget"),
            outside_scope=outside,
            sms=sms_info(row["reference"], row["message"]),
            estimated_seconds=estimate,
            area=area_of(row),
        )
        await language_checks.add_to_preview(conn, settings, row, query, result)
        await store.save_estimate(
            conn,
            alert_id,
            {
                "estimated_seconds": estimate,
                "sms_now": sms_now,
                "voice_now": voice_now,
                "at": datetime.now(UTC).isoformat(),
            },
        )
    return result


async def send(pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int) -> dict[str, int]:
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] != "draft":
            raise DomainError(
                409, "already-sent", f"alert {alert_id} is {row['status']}; it can be sent once"
            )
        times = await store.mark_sending(conn, alert_id, None)
        n = await store.materialise(conn, recipient_query(settings, row, times["expires_at"]))
        counts = per_state(await store.counts(conn, [alert_id]), alert_id, "alert") or {}
        await audit.append(
            conn,
            user.actor,
            "alert.send",
            "alert",
            alert_id,
            {"target": row["target"], "deliveries": n, "counts": counts},
        )
        await store.notify_dispatch(conn, alert_id)
        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
    return counts


async def close(pool: asyncpg.Pool, user: StaffUser, alert_id: int, message: str) -> dict[str, int]:
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] == "draft":
            raise DomainError(409, "not-sent", "a draft was never sent; cancel it instead")
        if row["status"] in ("closed", "cancelled"):
            raise DomainError(409, "already-ended", f"alert {alert_id} is already {row['status']}")
        cancelled = await store.cancel_unsent(conn, alert_id)
        await store.set_status(conn, alert_id, "closed", message)
        n = await store.materialise_closing(conn, alert_id, datetime.now(UTC) + CLOSING_TTL)
        await audit.append(
            conn,
            user.actor,
            "alert.close",
            "alert",
            alert_id,
            {"closing_deliveries": n, "cancelled": cancelled},
        )
        await store.notify_dispatch(conn, alert_id)
        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
    return {"closing_deliveries": n, "cancelled": cancelled}


async def cancel(pool: asyncpg.Pool, user: StaffUser, alert_id: int) -> int:
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] in ("closed", "cancelled", "expired"):
            raise DomainError(409, "already-ended", f"alert {alert_id} is already {row['status']}")
        cancelled = await store.cancel_unsent(conn, alert_id)
        await store.set_status(conn, alert_id, "cancelled")
        await audit.append(conn, user.actor, "alert.cancel", "alert", alert_id, {"cancelled": cancelled})
        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
    return cancelled


CountsByKey = dict[tuple[int, str, str], dict[str, int]]  # (alert, kind, channel) → state → n


def per_state(counts: CountsByKey, alert_id: int, kind: str) -> dict[str, int] | None:
    """Deliveries of one alert and kind per state, summed over channels; None if none."""
    out: dict[str, int] = {}
    found = False
    for (a, k, _channel), states in counts.items():
        if a == alert_id and k == kind:
            found = True
            for state, n in states.items():
                out[state] = out.get(state, 0) + n
    return out if found else None


def by_alert(counts: CountsByKey) -> dict[int, CountsByKey]:
    """The counts of many alerts split per alert, so each alert's view reads its own
    few entries (a list of 200 alerts read all entries three times per alert)."""
    out: dict[int, CountsByKey] = {}
    for key, states in counts.items():
        out.setdefault(key[0], {})[key] = states
    return out


def _cap_source(row: asyncpg.Record) -> CapSource | None:
    source = {k: row[f"cap_source_{k}"] for k in ("identifier", "sender", "sent")}
    return CapSource(**source) if any(v is not None for v in source.values()) else None


def to_out(row: asyncpg.Record, counts: CountsByKey) -> AlertOut:
    closing = per_state(counts, row["id"], "closing")
    return AlertOut(
        id=row["id"],
        status=row["status"],
        level=row["level"],
        title=row["title"],
        message=row["message"],
        voice_message=row["voice_message"],
        message_en=row["message_en"],
        voice_message_en=row["voice_message_en"],
        target=row["target"],
        channels=list(row["channels"]),
        reference=row["reference"],
        municipalities=list(row["municipalities"]),
        expires_in_minutes=row["expires_in_minutes"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        closed_at=row["closed_at"],
        expires_at=row["expires_at"],
        closing_message=row["closing_message"],
        cap_source=_cap_source(row),
        counts=Counts(**(per_state(counts, row["id"], "alert") or {})),
        counts_by_channel={
            channel: Counts(**states)
            for (a, kind, channel), states in sorted(counts.items())
            if a == row["id"] and kind == "alert"
        },
        closing_counts=Counts(**closing) if closing else None,
    )


async def view(conn: asyncpg.Connection, user: StaffUser, alert_id: int, *, area: bool = False) -> AlertOut:
    """One alert; with ``area`` its area as GeoJSON too (for a map)."""
    row = await load_for(conn, user, alert_id)
    out = to_out(row, await store.counts(conn, [alert_id]))
    if area:
        out.area = area_of(row)
    return out
