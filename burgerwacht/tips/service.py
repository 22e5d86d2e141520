"""Tip intake (SMS, anonymous SMS, voice recordings), linking to alerts, operators'
handling, the anonymous relay, live events, erasure and retention.

Linking: a tip belongs to the active alert its sender most recently received. With
several active alerts, a leading reference ("B7K ...") decides; without one the tip is
kept unlinked (with the candidates) and the sender is asked which alert it is about.
With none it goes to the general queue of the sender's municipality. These rules exist
once, as the SQL function ``tip_link`` (``sql/functions/tips.sql``), which both the SMS
intake (in the same statement) and voice recordings (:func:`recording`) use.
"""

from __future__ import annotations

import json
import logging
import uuid
from functools import cache
from typing import Any

import asyncpg

from burgerwacht import crypto, metrics
from burgerwacht.audit import store as audit
from burgerwacht.auth.models import StaffUser
from burgerwacht.config import Settings
from burgerwacht.db.batch import GroupCommit
from burgerwacht.errors import DomainError
from burgerwacht.events import publish
from burgerwacht.media.images import Photo
from burgerwacht.messaging import ProviderError, TwilioProvider, analyse
from burgerwacht.phone import number_pattern
from burgerwacht.residents import service as residents
from burgerwacht.residents.keywords import leading_reference
from burgerwacht.texts import text
from burgerwacht.tips import store
from burgerwacht.tips.media import media_out
from burgerwacht.tips.models import STATUS_RANK, TipOut, TipPatch

log = logging.getLogger(__name__)
RELAY_PURPOSE = "tip-relay"
PHONE_HASH_PURPOSE = "tip-phone"


def phone_hash(settings: Settings, phone: str) -> bytes:
    return crypto.keyed_hash(settings.security.secret_key, PHONE_HASH_PURPOSE, phone)


def to_out(row: asyncpg.Record | dict[str, Any]) -> TipOut:
    return TipOut(
        id=row["id"],
        alert_id=row["alert_id"],
        reference=row.get("reference") if isinstance(row, dict) else row["reference"],
        candidate_alerts=list(row["candidate_alerts"]) if row["candidate_alerts"] else None,
        channel=row["channel"],
        text=row["text"],
        recording_url=row["recording_url"],
        recording_seconds=row["recording_seconds"],
        anonymous=row["anonymous"],
        phone=None if row["anonymous"] else row["phone"],
        status=row["status"],
        note=row["note"],
        led_to_outcome=row.get("led_to_outcome") or False,
        received_at=row["received_at"],
        erased=row["erased_at"] is not None,
        media=media_out(row["id"], _get(row, "media")),
    )


def _get(row: asyncpg.Record | dict[str, Any], key: str) -> Any:
    return row.get(key) if isinstance(row, dict) else (row[key] if key in row.keys() else None)


async def announce(conn: asyncpg.Connection, tip_id: int) -> None:
    """The tip (as operators see it) to its live feeds: the municipalities', the alert's."""
    await _announce(conn, tip_id)


async def _announce(conn: asyncpg.Connection, tip_id: int) -> None:
    row = await store.tip(conn, tip_id)
    doc = to_out(row).model_dump(mode="json")
    topics = ["tips:*", *(f"tips:{m}" for m in row["municipalities"])]
    if row["alert_id"]:
        topics.append(f"alert:{row['alert_id']}")
    for alert_id in row["candidate_alerts"] or []:
        topics.append(f"alert:{alert_id}")
    await publish(conn, topics, {"type": "tip", "tip": doc})


@cache
def _reply_texts() -> str:
    """The reply texts for the intake function, per language, as JSON (built once)."""
    return json.dumps(
        {
            lang: {
                "thanks": text("tip_thanks", lang),
                "which": text("tip_which_alert", lang, example="{example}", references="{references}"),
            }
            for lang in ("nl", "en")
        }
    )


async def intake_sms(
    intake: GroupCommit[store.SmsTip, asyncpg.Record],
    settings: Settings,
    sid: str,
    phone: str,
    body: str,
    *,
    kind: str,
    anonymous: bool,
    has_media: bool = False,
) -> str | None:
    """An SMS tip, stored and linked in one round trip (shared with the tips arriving at
    the same moment); None for an empty tip (the caller then answers with a hint),
    unless pictures came with it (``has_media``: a picture alone is a tip)."""
    body = body.strip()
    if not body and not has_media:
        return None
    ref, rest = leading_reference(body)
    cipher = crypto.encrypt(settings.security.secret_key, RELAY_PURPOSE, phone) if anonymous else None
    tip: store.SmsTip = (
        sid,
        phone,
        body,
        ref,
        rest,
        kind,
        anonymous,
        cipher,
        phone_hash(settings, phone) if anonymous else None,
        _reply_texts(),
    )
    row = await intake.submit(tip)
    if row["tip_id"] is not None:
        metrics.TIPS.labels("sms").inc()
        log.info(
            "tip received", extra={"tip": row["tip_id"], "linked": row["linked"], "anonymous": anonymous}
        )
    return row["reply"]


async def empty_tip(conn: asyncpg.Connection, phone: str) -> str:
    return text("tip_empty", await residents.language_of(conn, phone))


async def voice_call_started(
    conn: asyncpg.Connection, settings: Settings, call_sid: str, phone: str | None, delivery_id: int | None
) -> str:
    """Remember who is on the tip line (the recording callback does not say); language."""
    valid = phone if phone and phone.startswith("+") else None
    await store.save_call(conn, call_sid, valid, phone_hash(settings, valid) if valid else None, delivery_id)
    return await residents.language_of(conn, valid) if valid else "nl"


async def recording(
    conn: asyncpg.Connection, recording_sid: str, call_sid: str, url: str, seconds: int
) -> int | None:
    ctx = await store.call_context(conn, call_sid)
    phone = ctx["phone"] if ctx else None
    found = await store.link(conn, phone, ctx["delivery_id"] if ctx else None)
    row = await store.insert_tip(
        conn,
        provider_sid=recording_sid,
        alert_id=found["alert_id"],
        candidate_alerts=found["candidate_alerts"],
        municipalities=found["municipalities"],
        channel="voice",
        recording_url=url,
        recording_seconds=seconds,
        anonymous=phone is None,
        phone=phone,
        resident_id=found["resident_id"],
    )
    if row is None:
        return None
    await _announce(conn, row["id"])  # the caller counts the tip once its transaction committed
    return row["id"]


# ------------------------------------------------------------------ live line (issue 17)

CONNECTED_NOTE = "verbonden met meldkamer"


def control_room(settings: Settings, municipalities: list[str]) -> str | None:
    """The control-room number for an alert's municipalities (the first, by code, that
    has one in ``tips.control_room_numbers``); None keeps the recording flow."""
    numbers = settings.tips.control_room_numbers
    return next((numbers[m] for m in sorted(municipalities) if m in numbers), None)


def live_line_numbers(settings: Settings, alert: asyncpg.Record) -> list[str]:
    """Whom the live line rings, one after the other: the own control-room number of the
    operator who sent the alert (``PATCH /api/v1/me``), then the control room of the
    alert's municipality (``tips.control_room_numbers``); each number once."""
    numbers = [alert["operator_number"], control_room(settings, list(alert["municipalities"]))]
    return list(dict.fromkeys(n for n in numbers if n))


async def dial_target(
    conn: asyncpg.Connection, settings: Settings, phone: str | None, delivery_id: int | None
) -> tuple[asyncpg.Record, list[str]] | None:
    """The alert and the numbers to connect this caller to (:func:`live_line_numbers`):
    the alert the tip would be linked to (digit 2: the call's alert; tip line: the one
    active alert the caller received), when it has a number to ring."""
    alert = await store.linked_alert(conn, phone if phone and phone.startswith("+") else None, delivery_id)
    if alert is None:
        return None
    numbers = live_line_numbers(settings, alert)
    return (alert, numbers) if numbers else None


async def alert_brief(conn: asyncpg.Connection, alert_id: int) -> asyncpg.Record:
    alert = await store.alert_brief(conn, alert_id)
    if alert is None:
        raise DomainError(404, "not-found", f"no alert {alert_id}")
    return alert


async def connected(conn: asyncpg.Connection, call_sid: str, alert_id: int) -> int | None:
    """The caller spoke with the control room: a voice tip without recording, linked to
    the alert, noted as connected, so the operators' tip list shows the call. Once per
    call (a retried webhook stores nothing twice); None when it was stored before."""
    alert = await alert_brief(conn, alert_id)
    ctx = await store.call_context(conn, call_sid)
    phone = ctx["phone"] if ctx else None
    found = await store.link(conn, phone, ctx["delivery_id"] if ctx else None)
    async with conn.transaction():
        row = await store.insert_tip(
            conn,
            provider_sid=f"dial:{call_sid}",
            alert_id=alert["id"],
            candidate_alerts=None,
            municipalities=list(alert["municipalities"]),
            channel="voice",
            anonymous=phone is None,
            phone=phone,
            resident_id=found["resident_id"],
            note=CONNECTED_NOTE,
        )
        if row is None:
            return None
        await _announce(conn, row["id"])
    metrics.TIPS.labels("voice").inc()
    log.info("tip line connected to the control room", extra={"tip": row["id"], "alert": alert_id})
    return row["id"]


async def intake_web(
    conn: asyncpg.Connection,
    alert_id: int,
    municipalities: list[str],
    body: str,
    phone: str | None,
    photo: Photo | None = None,
) -> int:
    """A tip from the form on the alert's public page: linked to that alert, anonymous
    unless a phone number (E.164, checked by the caller) is given, with its photo
    (re-encoded by the caller) as media n = 0; announced to the alert's and the
    municipalities' live feeds once committed."""
    async with conn.transaction():
        row = await store.insert_tip(
            conn,
            provider_sid=f"web:{uuid.uuid4()}",
            alert_id=alert_id,
            candidate_alerts=None,
            municipalities=municipalities,
            channel="web",
            text=body,
            anonymous=phone is None,
            phone=phone,
        )
        if photo is not None:
            await store.add_photo(conn, row["id"], 0, photo.data, photo.width, photo.height)
        await _announce(conn, row["id"])
    metrics.TIPS.labels("web").inc()
    log.info(
        "tip received", extra={"tip": row["id"], "linked": True, "anonymous": phone is None, "web": True}
    )
    return row["id"]


# ------------------------------------------------------------------ operators


def _visible(user: StaffUser, row: asyncpg.Record) -> bool:
    return user.national or bool(set(row["municipalities"]) & set(user.municipalities))


async def get_for(
    conn: asyncpg.Connection, user: StaffUser, tip_id: int, *, lock: bool = False
) -> asyncpg.Record:
    row = await store.tip(conn, tip_id, lock=lock)
    if row is None or not _visible(user, row):
        raise DomainError(404, "not-found", f"no tip {tip_id}")
    return row


async def patch(conn: asyncpg.Connection, user: StaffUser, tip_id: int, body: TipPatch) -> TipOut:
    async with conn.transaction():
        row = await get_for(conn, user, tip_id, lock=True)
        if body.status is not None and STATUS_RANK[body.status] < STATUS_RANK[row["status"]]:
            raise DomainError(
                409, "status-backwards", f"a tip that is {row['status']} cannot become {body.status}"
            )
        if body.led_to_outcome and row["alert_id"] is None:
            raise DomainError(
                409,
                "tip-not-linked",
                "only a tip linked to an alert can have led to its outcome",
                field="led_to_outcome",
            )
        await store.update_tip(conn, tip_id, body.status, body.note, body.led_to_outcome)
        await audit.append(
            conn,
            user.actor,
            "tip.update",
            "tip",
            tip_id,
            {
                "status": body.status,
                "note_changed": body.note is not None,
                "led_to_outcome": body.led_to_outcome,
            },
        )
        return to_out(await store.tip(conn, tip_id))


async def reply(
    pool: asyncpg.Pool,
    provider: TwilioProvider,
    settings: Settings,
    user: StaffUser,
    tip_id: int,
    message: str,
) -> int:
    async with pool.acquire() as conn:
        row = await get_for(conn, user, tip_id)
        phone = row["phone"]
        if row["anonymous"] and row["relay_id"]:
            cipher = await store.relay_cipher(conn, row["relay_id"])
            phone = crypto.decrypt(settings.security.secret_key, RELAY_PURPOSE, cipher) if cipher else None
        if not phone:
            raise DomainError(
                410,
                "tipster-unreachable",
                "the tipster can no longer be reached (anonymous relay expired, or data erased)",
            )
        lang = await residents.language_of(conn, phone)
    body = text("tip_reply", lang, message=message)
    try:
        await provider.send_sms(phone, body, validity_period=3600)
    except ProviderError as exc:
        raise DomainError(
            502, "provider-error", f"the reply could not be sent ({type(exc).__name__})"
        ) from None
    async with pool.acquire() as conn:
        await audit.append(
            conn,
            user.actor,
            "tip.reply",
            "tip",
            tip_id,
            {"anonymous": row["anonymous"], "characters": len(message)},
        )
    return analyse(body).segments


async def on_erasure(conn: asyncpg.Connection, resident_id: int, phone: str, settings: Settings) -> None:
    await store.erase_resident(conn, resident_id, phone, phone_hash(settings, phone), number_pattern(phone))


async def export_tips(conn: asyncpg.Connection, resident_id: int, phone: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await store.tips_of(conn, phone)]
