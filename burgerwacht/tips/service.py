"""Tip intake (SMS, anonymous SMS, voice recordings), linking to alerts, operators'
handling, the anonymous relay, live events, erasure and retention.

Linking: a tip belongs to the active alert its sender most recently received. With
several active alerts, a leading reference ("B7K ...") decides; without one the tip is
kept unlinked (with the candidates) and the sender is asked which alert it is about.
With none it goes to the general queue of the sender's municipality.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import asyncpg
from aiohttp import web

from burgerwacht import crypto, metrics
from burgerwacht.audit import store as audit
from burgerwacht.auth.models import StaffUser
from burgerwacht.config import Settings
from burgerwacht.db.batch import GroupCommit
from burgerwacht.events import publish
from burgerwacht.messaging import ProviderError, TwilioProvider, analyse
from burgerwacht.residents import service as residents
from burgerwacht.residents.keywords import leading_reference, split_reference
from burgerwacht.texts import text
from burgerwacht.tips import store
from burgerwacht.tips.models import STATUS_RANK, TipOut, TipPatch
from burgerwacht.web.keys import LAZY, POOL

log = logging.getLogger(__name__)
RELAY_PURPOSE = "tip-relay"
PHONE_HASH_PURPOSE = "tip-phone"


class TipError(Exception):
    def __init__(self, status: int, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail


def phone_hash(settings: Settings, phone: str) -> bytes:
    return crypto.keyed_hash(settings.security.secret_key, PHONE_HASH_PURPOSE, phone)


@dataclass(frozen=True)
class Link:
    alert_id: int | None
    candidates: list[int] | None
    municipalities: list[str]
    text: str
    ask: list[str] | None  # references to ask about


async def link(
    conn: asyncpg.Connection, phone: str | None, body: str, delivery_id: int | None = None
) -> Link:
    if delivery_id is not None:
        a = await store.alert_for_delivery(conn, delivery_id)
        if a is not None:
            return Link(a["id"], None, list(a["municipalities"]), body, None)
    alerts = await store.active_alerts_received(conn, phone) if phone else []
    if len(alerts) == 1:
        _, rest = split_reference(body, [alerts[0]["reference"]])
        return Link(alerts[0]["id"], None, list(alerts[0]["municipalities"]), rest or body, None)
    if len(alerts) > 1:
        ref, rest = split_reference(body, [a["reference"] for a in alerts])
        if ref is not None:
            a = next(a for a in alerts if a["reference"] == ref)
            return Link(a["id"], None, list(a["municipalities"]), rest, None)
        munis = sorted({m for a in alerts for m in a["municipalities"]})
        return Link(None, [a["id"] for a in alerts], munis, body, [a["reference"] for a in alerts])
    resident = await store.resident_of(conn, phone) if phone else None
    return Link(None, None, sorted(resident["municipalities"]) if resident else [], body, None)


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
        received_at=row["received_at"],
        erased=row["erased_at"] is not None,
    )


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


def intake_for(app: web.Application) -> GroupCommit[store.SmsTip, asyncpg.Record]:
    """The app's group commit for SMS tips: during a big alert's burst of replies, the
    tips that arrive while others are being stored go in together (db/batch.py)."""
    intake = app[LAZY].get("tip-intake")
    if intake is None:
        pool = app[POOL]
        intake = app[LAZY]["tip-intake"] = GroupCommit(
            lambda tips: store.sms_intake_batch(pool, tips),
            lambda tip: store.sms_intake(pool, tip),
            max_size=64,
            # two batches in the database at once: one commits while the next fills.
            # Measured side by side (bench_tips, 32 concurrent): 2 and 4 reach the same
            # ~2,100 tips/s, but 2 costs ~10 % less CPU per tip (0.21 + 0.29 ms in the
            # service and PostgreSQL, against 0.22 + 0.33 ms): fewer, larger commits
            max_in_flight=2,
            name="tip-intake",
        )
    return intake


async def intake_sms(
    intake: GroupCommit[store.SmsTip, asyncpg.Record],
    settings: Settings,
    sid: str,
    phone: str,
    body: str,
    *,
    anonymous: bool,
) -> str | None:
    """An SMS tip, stored and linked in one round trip (shared with the tips arriving at
    the same moment); None for an empty tip (the caller then answers with a hint)."""
    body = body.strip()
    if not body:
        return None
    ref, rest = leading_reference(body)
    cipher = crypto.encrypt(settings.security.secret_key, RELAY_PURPOSE, phone) if anonymous else None
    tip: store.SmsTip = (
        sid,
        phone,
        body,
        ref,
        rest,
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
    found = await link(conn, phone, "", ctx["delivery_id"] if ctx else None)
    resident = await store.resident_of(conn, phone) if phone else None
    row = await store.insert_tip(
        conn,
        provider_sid=recording_sid,
        alert_id=found.alert_id,
        candidate_alerts=found.candidates,
        municipalities=found.municipalities,
        channel="voice",
        recording_url=url,
        recording_seconds=seconds,
        anonymous=phone is None,
        phone=phone,
        resident_id=resident["id"] if resident else None,
    )
    if row is None:
        return None
    await _announce(conn, row["id"])  # the caller counts the tip once its transaction committed
    return row["id"]


# ------------------------------------------------------------------ operators


def _visible(user: StaffUser, row: asyncpg.Record) -> bool:
    return user.national or bool(set(row["municipalities"]) & set(user.municipalities))


async def get_for(
    conn: asyncpg.Connection, user: StaffUser, tip_id: int, *, lock: bool = False
) -> asyncpg.Record:
    row = await store.tip(conn, tip_id, lock=lock)
    if row is None or not _visible(user, row):
        raise TipError(404, "not-found", f"no tip {tip_id}")
    return row


async def patch(conn: asyncpg.Connection, user: StaffUser, tip_id: int, body: TipPatch) -> TipOut:
    async with conn.transaction():
        row = await get_for(conn, user, tip_id, lock=True)
        if body.status is not None and STATUS_RANK[body.status] < STATUS_RANK[row["status"]]:
            raise TipError(
                409, "status-backwards", f"a tip that is {row['status']} cannot become {body.status}"
            )
        await store.update_tip(conn, tip_id, body.status, body.note)
        await audit.append(
            conn,
            user.actor,
            "tip.update",
            "tip",
            tip_id,
            {"status": body.status, "note_changed": body.note is not None},
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
            raise TipError(
                410,
                "tipster-unreachable",
                "the tipster can no longer be reached (anonymous relay expired, or data erased)",
            )
        lang = await residents.language_of(conn, phone)
    body = text("tip_reply", lang, message=message)
    try:
        await provider.send_sms(phone, body, validity_period=3600)
    except ProviderError as exc:
        raise TipError(502, "provider-error", f"the reply could not be sent ({type(exc).__name__})") from None
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
    await store.erase_resident(conn, resident_id, phone, phone_hash(settings, phone))


async def export_tips(conn: asyncpg.Connection, resident_id: int, phone: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await store.tips_of(conn, phone)]


residents.on_erasure(on_erasure)
residents.EXPORT_HOOKS["tips"] = export_tips
