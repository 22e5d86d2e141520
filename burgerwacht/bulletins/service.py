"""Bulletins: the SMS text and its limits, sending one to an area, and the views.

A bulletin goes through the alerts' dispatch queue (``deliveries`` rows of kind
'bulletin' whose alert_id is minus the bulletin's id): the same workers claim and send
them under the same rate limit, with the same exactly-once and reconciliation rules;
:func:`sms_body` is what the worker sends.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from burgerwacht.audit import store as audit
from burgerwacht.auth.models import StaffUser
from burgerwacht.bulletins import store
from burgerwacht.config import Settings
from burgerwacht.council.report import publish
from burgerwacht.errors import DomainError
from burgerwacht.messaging.encoding import analyse
from burgerwacht.phone import mask_phones_in
from burgerwacht.texts import LANGUAGES, text
from burgerwacht.web.api import check_scope


def sms_body(message: str, language: str | None) -> str:
    return text("bulletin", language or "nl", message=message)


def sms_info(message: str) -> dict[str, Any]:
    """The costliest of the languages residents read it in."""
    worst = max((analyse(sms_body(message, lang)) for lang in LANGUAGES), key=lambda a: a.segments)
    return {"encoding": worst.encoding, "segments": worst.segments, "characters": worst.characters}


async def send(
    conn: asyncpg.Connection, settings: Settings, user: StaffUser, area_code: str, message: str
) -> dict[str, Any]:
    """Store the bulletin and queue its deliveries in one transaction (the caller's)."""
    message = mask_phones_in(message)
    info = sms_info(message)
    limit = settings.bulletins.max_segments
    if info["segments"] > limit:
        raise DomainError(
            422,
            "message-too-long",
            f"message: the SMS would take {info['segments']} segments ({info['encoding']}, "
            f"{info['characters']} characters with its opening and closing words); at most {limit} allowed",
            field="message",
            sms=info,
        )
    area = await store.area(conn, area_code)
    if area is None or area["level"] not in ("buurt", "wijk"):
        raise DomainError(
            422, "unknown-area", f"area_code: unknown buurt or wijk {area_code}", field="area_code"
        )
    check_scope(user, [area["municipality_code"]])
    bulletin_id = await store.insert(
        conn,
        municipality=area["municipality_code"],
        area_code=area_code,
        level=area["level"],
        message=message,
        actor=user.actor,
    )
    counts = await store.materialise(
        conn,
        bulletin_id,
        area_code=area_code,
        municipality=area["municipality_code"],
        max_per_month=settings.bulletins.max_per_month,
        ttl=timedelta(hours=settings.bulletins.ttl_hours),
    )
    await conn.execute("SELECT pg_notify('bw_dispatch', $1)", str(-bulletin_id))
    await audit.append(
        conn,
        user.actor,
        "bulletin.send",
        "bulletin",
        bulletin_id,
        {"area_code": area_code, "segments": info["segments"], **counts},
    )
    row = await store.bulletin(conn, bulletin_id)
    assert row is not None
    return {**view(row, settings), "sms": info}


async def export(conn: asyncpg.Connection, resident_id: int, phone: str) -> dict[str, Any]:
    """The AVG access export's ``bulletins`` section."""
    row = await store.received_by(conn, resident_id)
    return {"opted_in": bool(row and row["opted_in"]), "received": list(row["received"]) if row else []}


def view(row: asyncpg.Record, settings: Settings) -> dict[str, Any]:
    """Counts of residents under the k rule (zero included, so a hidden count never
    says "at least one"): staff never learn that one or two residents of a buurt opted in."""
    k, r = settings.privacy.k, settings.privacy.round_to
    counts = {name: publish(row[name], k, r) for name in ("recipients", "deferred", "over_cap")}
    return {
        "id": row["id"],
        "municipality_code": row["municipality_code"],
        "area_code": row["area_code"],
        "area_level": row["area_level"],
        "area_name": row["area_name"],
        "message": row["message"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        **counts,
        "suppressed": any(v is None for v in counts.values()),
    }
