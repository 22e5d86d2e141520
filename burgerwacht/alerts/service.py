"""Creating, previewing, sending, closing and cancelling alerts.

Sending is one transaction: the alert becomes 'sending' and the recipient query writes
one delivery per (alert, resident, channel) with INSERT … SELECT; workers are woken
with NOTIFY (a hint — they poll anyway).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from asyncpg.types import Circle, Point, Polygon

from burgerwacht.alerts import store
from burgerwacht.alerts.models import (
    AlertIn,
    AlertOut,
    AreasTarget,
    CircleTarget,
    Counts,
    Preview,
    QuietHoursCount,
    Recipients,
    SmsInfo,
)
from burgerwacht.audit import store as audit
from burgerwacht.auth.models import StaffUser
from burgerwacht.config import Settings
from burgerwacht.events import publish
from burgerwacht.geo import (
    RD_NEW,
    WGS84,
    GeoError,
    circle_to_projected,
    parse_geojson_polygon,
    transform_geometry,
)
from burgerwacht.messaging import analyse, gsm7_fold

DISPATCH_CHANNEL = "bw_dispatch"
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I/O/0/1: read aloud and typed back
CLOSING_TTL = timedelta(hours=6)


class AlertError(Exception):
    def __init__(self, status: int, slug: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail, self.extra = status, slug, detail, extra


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


@dataclass(frozen=True)
class ResolvedTarget:
    kind: str
    value: Any  # Circle | Polygon | list[str]

    def columns(self) -> dict[str, Any]:
        return {
            "target_circle": self.value if self.kind == "circle" else None,
            "target_polygon": self.value if self.kind == "polygon" else None,
            "target_codes": self.value if self.kind == "areas" else None,
        }


def target_from_row(row: asyncpg.Record) -> ResolvedTarget:
    if row["target_circle"] is not None:
        return ResolvedTarget("circle", row["target_circle"])
    if row["target_polygon"] is not None:
        return ResolvedTarget("polygon", row["target_polygon"])
    return ResolvedTarget("areas", list(row["target_codes"]))


async def resolve_target(conn: asyncpg.Connection, settings: Settings, body: AlertIn) -> ResolvedTarget:
    t = body.target
    limits = settings.alerts
    try:
        if isinstance(t, CircleTarget):
            if t.radius_m > limits.max_radius_m:
                raise AlertError(
                    422,
                    "radius-too-large",
                    f"target.radius_m: {t.radius_m:g} m is more than the maximum of {limits.max_radius_m} m",
                    field="target.radius_m",
                )
            x, y, r = circle_to_projected(t.center.lat, t.center.lon, t.radius_m, epsg=RD_NEW)
            return ResolvedTarget("circle", Circle(Point(x, y), r))
        if isinstance(t, AreasTarget):
            found = {r["code"]: r for r in await store.areas_by_code(conn, t.codes)}
            unknown = [c for c in t.codes if c not in found]
            if unknown:
                raise AlertError(
                    422,
                    "unknown-area",
                    f"target.codes: unknown CBS area code(s): {', '.join(unknown)}",
                    field="target.codes",
                    unknown=unknown,
                )
            return ResolvedTarget("areas", t.codes)
        poly = parse_geojson_polygon(t.coordinates, max_vertices=limits.max_polygon_vertices)
        rd = transform_geometry(poly, WGS84, RD_NEW)
        return ResolvedTarget("polygon", Polygon(*[Point(x, y) for x, y in list(rd.exterior.coords)[:-1]]))
    except GeoError as exc:
        raise AlertError(422, "invalid-target", f"target: {exc}", field="target") from None


async def _reachable_municipalities(
    conn: asyncpg.Connection, user: StaffUser, target: ResolvedTarget
) -> list[str]:
    """Municipalities the target touches that the user may reach; 403 when none."""
    if target.kind == "areas":
        rows = await store.areas_by_code(conn, target.value)
        touched = sorted({r["municipality_code"] for r in rows})
        outside = sorted(m for m in touched if not user.can_access(m))
        if outside:
            raise AlertError(
                403, "forbidden-scope", f"target.codes lie outside your scope: {', '.join(outside)}"
            )
        return touched
    touched = await store.municipalities_in_target(conn, target.kind, target.value)
    if user.national:
        return touched
    reachable = [m for m in touched if user.can_access(m)]
    if touched and not reachable:
        raise AlertError(
            403, "forbidden-scope", f"the target lies outside your scope (it covers {', '.join(touched)})"
        )
    return reachable or list(user.municipalities)


async def _new_reference(conn: asyncpg.Connection) -> str:
    for length in (3, 3, 3, 4, 4, 5):
        ref = secrets.choice(REFERENCE_ALPHABET[:24]) + "".join(
            secrets.choice(REFERENCE_ALPHABET) for _ in range(length - 1)
        )
        if not await store.live_reference_exists(conn, ref):
            return ref
    raise AlertError(503, "no-reference", "could not find a free alert reference; try again")


async def create(pool: asyncpg.Pool, settings: Settings, user: StaffUser, body: AlertIn) -> int:
    if body.expires_in_minutes > settings.alerts.max_expires_minutes:
        raise AlertError(
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
            target=body.target.model_dump(mode="json"),
            **target.columns(),
            municipalities=municipalities,
            channels=list(body.channels),
            expires_in_minutes=body.expires_in_minutes,
            family_consent=body.family_consent,
            created_by=user.id,
            scope=user.scope(),
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
        raise AlertError(404, "not-found", f"no alert {alert_id}")
    return row


def _recipient_args(settings: Settings, row: asyncpg.Record, expires_at: datetime) -> tuple[Any, ...]:
    target = target_from_row(row)
    return (
        row["id"],
        target.value,
        list(row["channels"]),
        row["scope"],
        row["level"],
        expires_at,
        settings.alerts.regular_per_resident_per_day,
    )


async def preview(pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int) -> Preview:
    async with pool.acquire() as conn:
        row = await load_for(conn, user, alert_id)
        expires_at = row["expires_at"] or datetime.now(UTC) + timedelta(minutes=row["expires_in_minutes"])
        args = _recipient_args(settings, row, expires_at)
        kind = target_from_row(row).kind
        by, total = await store.recipient_counts(conn, kind, args)
        outside = 0
        if row["scope"] is not None:  # residents in the target that this operator may not reach
            everyone = await store.distinct_residents(conn, kind, (*args[:3], None, *args[4:]))
            outside = max(0, everyone - await store.distinct_residents(conn, kind, args))

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
        )
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
            raise AlertError(409, "already-sent", f"alert {alert_id} is {row['status']}; it can be sent once")
        times = await store.mark_sending(conn, alert_id, None)
        n = await store.materialise(
            conn, target_from_row(row).kind, _recipient_args(settings, row, times["expires_at"])
        )
        counts = per_state(await store.counts(conn, [alert_id]), alert_id, "alert") or {}
        await audit.append(
            conn,
            user.actor,
            "alert.send",
            "alert",
            alert_id,
            {"target": row["target"], "deliveries": n, "counts": counts},
        )
        await conn.execute("SELECT pg_notify($1, $2)", DISPATCH_CHANNEL, str(alert_id))
        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
    return counts


async def close(pool: asyncpg.Pool, user: StaffUser, alert_id: int, message: str) -> dict[str, int]:
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] == "draft":
            raise AlertError(409, "not-sent", "a draft was never sent; cancel it instead")
        if row["status"] in ("closed", "cancelled"):
            raise AlertError(409, "already-ended", f"alert {alert_id} is already {row['status']}")
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
        await conn.execute("SELECT pg_notify($1, $2)", DISPATCH_CHANNEL, str(alert_id))
        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
    return {"closing_deliveries": n, "cancelled": cancelled}


async def cancel(pool: asyncpg.Pool, user: StaffUser, alert_id: int) -> int:
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] in ("closed", "cancelled", "expired"):
            raise AlertError(409, "already-ended", f"alert {alert_id} is already {row['status']}")
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


def to_out(row: asyncpg.Record, counts: CountsByKey) -> AlertOut:
    closing = per_state(counts, row["id"], "closing")
    return AlertOut(
        id=row["id"],
        status=row["status"],
        level=row["level"],
        title=row["title"],
        message=row["message"],
        voice_message=row["voice_message"],
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
        counts=Counts(**(per_state(counts, row["id"], "alert") or {})),
        counts_by_channel={
            channel: Counts(**states)
            for (a, kind, channel), states in sorted(counts.items())
            if a == row["id"] and kind == "alert"
        },
        closing_counts=Counts(**closing) if closing else None,
    )


async def view(conn: asyncpg.Connection, user: StaffUser, alert_id: int) -> AlertOut:
    row = await load_for(conn, user, alert_id)
    return to_out(row, await store.counts(conn, [alert_id]))
