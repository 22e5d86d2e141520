"""Residents changing their own settings by SMS (issue 19): channel, language, pause,
moving, their list of addresses, visits, bulletins.

Every handler runs in the inbound message's transaction (``webhooks/inbound.py``),
answers in the resident's language (after a language change: the new one), and writes
an audit entry that names the resident by id, never by number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from burgerwacht.audit import store as audit
from burgerwacht.config import Settings
from burgerwacht.residents import keywords, store
from burgerwacht.residents.address import AddressQuery
from burgerwacht.texts import text

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ACTOR = "resident"


def when(at: datetime) -> str:
    """``12-06 14:00`` in Dutch local time (both languages: short and unambiguous)."""
    return at.astimezone(AMSTERDAM).strftime("%d-%m %H:%M")


def label_of(rec: asyncpg.Record | dict[str, Any]) -> str:
    return AddressQuery(
        rec["postcode"], rec["house_number"], rec["house_letter"] or None, rec["addition"] or None
    ).label


async def _audit(conn: asyncpg.Connection, resident_id: int, action: str, **details: Any) -> None:
    await audit.append(conn, ACTOR, f"resident.{action}", "resident", resident_id, {"via": "sms", **details})


async def handle(
    conn: asyncpg.Connection, settings: Settings, phone: str, cmd: keywords.Command
) -> str | None:
    """The reply to a self-service keyword; None when ``cmd`` is not one, or when a JA
    confirms nothing (then it is an ordinary tip)."""
    if not isinstance(cmd, keywords.SelfService):
        return None
    r = await store.resident_by_phone(conn, phone, lock=True)
    if r is None:
        return None if isinstance(cmd, keywords.Confirm) else text("not_enrolled")
    rid, lang = r["id"], r["language"]
    e = settings.enrolment
    match cmd:
        case keywords.SetChannel(channel="voice"):
            await store.set_channels(conn, rid, ["voice"])
            await store.set_sms_only(conn, rid, False)
            await _audit(conn, rid, "channel", channel="voice")
            return text("channel_voice", lang)
        case keywords.SetChannel():
            if r["phone_kind"] == "landline":  # a landline stays voice
                return text("channel_landline", lang)
            await store.set_channels(conn, rid, ["sms"])
            await _audit(conn, rid, "channel", channel="sms")
            return text("channel_sms", lang)
        case keywords.SetLanguage(language=language):
            await store.set_language(conn, rid, language)
            await _audit(conn, rid, "language", language=language)
            return text("language_set", language)
        case keywords.Pause(days=days, all=everything):
            n = min(days or e.pause_default_days, e.pause_max_days)
            until = await store.set_pause(conn, rid, n, everything)
            await _audit(conn, rid, "pause", days=n, all=everything)
            return text("paused_all" if everything else "paused", lang, until=when(until))
        case keywords.EndPause():
            was = r["paused_until"] is not None and r["paused_until"] > datetime.now(r["paused_until"].tzinfo)
            await store.set_pause(conn, rid, None, False)
            await _audit(conn, rid, "resume")
            return text("pause_ended" if was else "not_paused", lang)
        case keywords.Move():
            return await _move(conn, settings, r, cmd)
        case keywords.Confirm():
            return await _confirm(conn, r)
        case keywords.ListAddresses():
            return await _list(conn, rid, lang)
        case keywords.RemoveAddress(number=n):
            return await _remove(conn, rid, lang, n)
        case keywords.Visit():
            return await _visit(conn, settings, r, cmd)
        case keywords.Bulletins(on=on):
            await store.set_bulletins(conn, rid, on)
            await _audit(conn, rid, "bulletins", on=on)
            return text("bulletins_on" if on else "bulletins_off", lang)
    return None


def _home(addresses: list[asyncpg.Record]) -> asyncpg.Record | None:
    lasting = [a for a in addresses if a["visit_until"] is None]
    return next((a for a in lasting if a["label"] == "thuis"), lasting[0] if lasting else None)


async def _move(conn: asyncpg.Connection, settings: Settings, r: asyncpg.Record, cmd: keywords.Move) -> str:
    lang = r["language"]
    if cmd.address is None:
        return text("move_usage", lang)
    q = cmd.address
    new = await store.find_address(conn, q.postcode, q.house_number, q.house_letter, q.addition)
    if new is None:
        return text("address_unknown", lang, address=q.label)
    addresses = await store.resident_addresses(conn, r["id"])
    if any(a["address_id"] == new["id"] and a["visit_until"] is None for a in addresses):
        return text("move_same", lang, address=label_of(new))
    home = _home(addresses)
    if home is None:
        return text("no_addresses", lang)
    minutes = settings.enrolment.move_confirm_minutes
    await store.set_pending_move(conn, r["id"], new["id"], home["enrolment_id"], minutes)
    await _audit(conn, r["id"], "move.requested")
    return text("move_confirm", lang, old=label_of(home), new=label_of(new), minutes=minutes)


async def _confirm(conn: asyncpg.Connection, r: asyncpg.Record) -> str | None:
    lang = r["language"]
    pending = await store.pending_move(conn, r["id"])
    if pending is None:
        return None  # nothing to confirm: "ja" is a tip
    await store.set_pending_move(conn, r["id"], None, None, 0)
    if pending["expired"]:
        return text("move_expired", lang)
    # a visit of the new address (or an earlier enrolment of it) makes way for the move
    existing = await store.enrolment_row(conn, r["id"], pending["move_address_id"])
    if existing is not None and existing["id"] != pending["move_from_id"]:
        await store.delete_enrolment_row(conn, existing["id"], r["id"])
    if not await store.move_enrolment(conn, pending["move_from_id"], r["id"], pending["move_address_id"]):
        return text("move_expired", lang)  # the address it replaced is gone meanwhile
    await _audit(conn, r["id"], "move.confirmed")
    new = next(
        a
        for a in await store.resident_addresses(conn, r["id"])
        if a["address_id"] == pending["move_address_id"]
    )
    return text("moved", lang, address=label_of(new))


def _listing(addresses: list[asyncpg.Record], lang: str) -> str:
    parts = []
    for i, a in enumerate(addresses, 1):
        item = f"{i}) {label_of(a)}"
        if a["visit_until"] is not None:
            item += f" ({'bezoek tot' if lang == 'nl' else 'visit until'} {when(a['visit_until'])})"
        parts.append(item)
    return ", ".join(parts)


async def _list(conn: asyncpg.Connection, rid: int, lang: str) -> str:
    addresses = await store.resident_addresses(conn, rid)
    if not addresses:
        return text("no_addresses", lang)
    return text("addresses", lang, list=_listing(addresses, lang))


async def _remove(conn: asyncpg.Connection, rid: int, lang: str, n: int) -> str:
    addresses = await store.resident_addresses(conn, rid)
    if not 1 <= n <= len(addresses):
        return text("address_no_such", lang, n=n)
    target = addresses[n - 1]
    if target["visit_until"] is None and sum(a["visit_until"] is None for a in addresses) == 1:
        return text("address_last", lang)
    await store.delete_enrolment_row(conn, target["enrolment_id"], rid)
    await _audit(conn, rid, "address.removed")
    return text("address_removed", lang, address=label_of(target))


async def _visit(conn: asyncpg.Connection, settings: Settings, r: asyncpg.Record, cmd: keywords.Visit) -> str:
    lang, rid, e = r["language"], r["id"], settings.enrolment
    if cmd.postcode is None:
        return text("visit_usage", lang)
    if cmd.house_number is None:
        place = await store.first_address_of_postcode(conn, cmd.postcode)
        if place is None:
            return text("postcode_unknown", lang, postcode=f"{cmd.postcode[:4]} {cmd.postcode[4:]}")
    else:
        place = await store.find_address(conn, cmd.postcode, cmd.house_number, cmd.house_letter, None)
        if place is None:
            q = AddressQuery(cmd.postcode, cmd.house_number, cmd.house_letter)
            return text("address_unknown", lang, address=q.label)
    existing = await store.enrolment_row(conn, rid, place["id"])
    if existing is not None and existing["visit_until"] is None:
        return text("visit_home", lang, address=label_of(place))
    counted = await store.address_ids(conn, rid)
    if place["id"] not in counted and len(counted) >= e.max_addresses:
        return text("too_many_addresses", lang, max=e.max_addresses)
    hours = min(cmd.hours or e.visit_default_hours, e.visit_max_hours)
    channels = await store.resident_channels(conn, rid)
    until = await store.upsert_visit(conn, rid, place["id"], channels, hours)
    await _audit(conn, rid, "visit", hours=hours)
    label = label_of(place) if cmd.house_number is not None else f"{cmd.postcode[:4]} {cmd.postcode[4:]}"
    return text("visit_added", lang, until=when(until), address=label)
