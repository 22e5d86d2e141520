"""A resident's own settings as the /mijn page reads and changes them (issue 19).

The page (``burgerwacht/mijn``) proves who the resident is; this module does what they
ask, with the same rules as the SMS keywords: a landline stays voice, an SMS-only
resident gets no calls, a pause is cut to ``enrolment.pause_max_days``, the number of
addresses is capped. Every change is audited with the resident's id, never the number.
"""

from __future__ import annotations

from datetime import time
from typing import Any

import asyncpg

from burgerwacht.audit import store as audit
from burgerwacht.config import Settings
from burgerwacht.phone import mask
from burgerwacht.residents import store
from burgerwacht.residents.address import (
    AddressError,
    AddressQuery,
    normalise_house_number,
    normalise_postcode,
)
from burgerwacht.residents.models import (
    MineAddressIn,
    MineAddressOut,
    MineAddressPatch,
    MineOut,
    MinePatch,
    QuietHours,
    TimeWindow,
)
from burgerwacht.residents.service import address_label, refusal
from burgerwacht.texts import text

ACTOR = "resident"


async def _audit(conn: asyncpg.Connection, resident_id: int, action: str, **details: Any) -> None:
    await audit.append(conn, ACTOR, f"resident.{action}", "resident", resident_id, {"via": "mijn", **details})


async def view(conn: asyncpg.Connection, settings: Settings, resident_id: int) -> MineOut:
    r = await store.resident_by_id(conn, resident_id)
    if r is None:
        raise refusal(401, "signed-out", "U bent niet (meer) ingelogd.", "You are not signed in (any more).")
    addresses = [
        MineAddressOut(
            number=i,
            label=a["label"],
            address=address_label(a),
            channels=list(a["channels"]),
            quiet_hours=QuietHours(start=a["quiet_start"], end=a["quiet_end"]) if a["quiet_start"] else None,
            time_windows=[TimeWindow(**w) for w in (a["time_windows"] or [])],
            visit_until=a["visit_until"],
        )
        for i, a in enumerate(await store.resident_addresses(conn, resident_id), 1)
    ]
    paused = r["paused_until"] if r["pause_running"] else None
    return MineOut(
        phone=mask(r["phone"]),
        status=r["status"],
        language=r["language"],
        can_sms=r["phone_kind"] != "landline",
        paused_until=paused,
        pause_all=bool(paused and r["pause_all"]),
        bulletins_opt_in=r["bulletins_opt_in"],
        slow_speech=r["slow_speech"],
        repeat_message=r["repeat_message"],
        sms_only=r["sms_only"],
        addresses=addresses,
        max_addresses=settings.enrolment.max_addresses,
        pause_max_days=settings.enrolment.pause_max_days,
    )


async def update(conn: asyncpg.Connection, settings: Settings, resident_id: int, body: MinePatch) -> MineOut:
    async with conn.transaction():
        r = await store.resident_by_id(conn, resident_id)
        if r is None:
            raise refusal(
                401, "signed-out", "U bent niet (meer) ingelogd.", "You are not signed in (any more)."
            )
        changed = body.model_dump(exclude_unset=True)
        if "language" in changed:
            await store.set_language(conn, resident_id, body.language)
        if body.pause_days == 0:
            await store.set_pause(conn, resident_id, None, False)
        elif body.pause_days is not None:
            everything = r["pause_all"] if body.pause_all is None else body.pause_all
            days = min(body.pause_days, settings.enrolment.pause_max_days)
            await store.set_pause(conn, resident_id, days, everything)
        elif body.pause_all is not None:
            await store.set_pause_all(conn, resident_id, body.pause_all)
        if "bulletins_opt_in" in changed:
            await store.set_bulletins(conn, resident_id, bool(body.bulletins_opt_in))
        if {"slow_speech", "repeat_message", "sms_only"} & changed.keys():
            sms_only = r["sms_only"] if body.sms_only is None else body.sms_only
            if sms_only and r["phone_kind"] == "landline":
                raise refusal(
                    422,
                    "landline-sms",
                    text("channel_landline", "nl"),
                    text("channel_landline", "en"),
                    field="sms_only",
                )
            await store.set_accessibility(
                conn,
                resident_id,
                r["slow_speech"] if body.slow_speech is None else body.slow_speech,
                r["repeat_message"] if body.repeat_message is None else body.repeat_message,
                sms_only,
            )
            if sms_only:
                await store.set_channels(conn, resident_id, ["sms"])
        await _audit(conn, resident_id, "settings", fields=sorted(changed))
    return await view(conn, settings, resident_id)


def _channels(r: asyncpg.Record, channels: list[str]) -> list[str]:
    if "sms" in channels and r["phone_kind"] == "landline":
        raise refusal(
            422,
            "landline-sms",
            text("channel_landline", "nl"),
            text("channel_landline", "en"),
            field="channels",
        )
    if "voice" in channels and r["sms_only"]:
        raise refusal(
            422,
            "sms-only",
            "U heeft gekozen voor alleen sms. Zet dat eerst uit.",
            "You chose SMS only. Switch that off first.",
            field="channels",
        )
    return sorted(set(channels))


async def _nth(conn: asyncpg.Connection, resident_id: int, number: int) -> asyncpg.Record:
    addresses = await store.resident_addresses(conn, resident_id)
    if not 1 <= number <= len(addresses):
        raise refusal(
            404, "not-found", text("address_no_such", "nl", n=number), text("address_no_such", "en", n=number)
        )
    return addresses[number - 1]


async def update_address(
    conn: asyncpg.Connection, settings: Settings, resident_id: int, number: int, body: MineAddressPatch
) -> MineOut:
    async with conn.transaction():
        r = await store.resident_by_id(conn, resident_id)
        a = await _nth(conn, resident_id, number)
        changed = body.model_dump(exclude_unset=True)
        quiet_start: time | None = a["quiet_start"]
        quiet_end: time | None = a["quiet_end"]
        if "quiet_hours" in changed:
            quiet_start, quiet_end = (
                (body.quiet_hours.start, body.quiet_hours.end) if body.quiet_hours else (None, None)
            )
        windows = a["time_windows"]
        if "time_windows" in changed:
            windows = [w.stored() for w in body.time_windows or []] or None
        await store.update_enrolment_settings(
            conn,
            resident_id,
            a["enrolment_id"],
            label=body.label or a["label"],
            channels=_channels(r, body.channels) if body.channels else list(a["channels"]),
            quiet_start=quiet_start,
            quiet_end=quiet_end,
            time_windows=windows,
        )
        await _audit(conn, resident_id, "address.settings", fields=sorted(changed))
    return await view(conn, settings, resident_id)


async def add_address(
    conn: asyncpg.Connection, settings: Settings, resident_id: int, body: MineAddressIn
) -> MineOut:
    try:
        postcode = normalise_postcode(body.postcode)
        number, letter, addition = normalise_house_number(body.house_number)
    except AddressError as exc:
        raise refusal(422, "invalid-address", exc.message_nl, exc.message_en, field=exc.field) from None
    q = AddressQuery(postcode, number, letter, addition)
    async with conn.transaction():
        r = await store.resident_by_id(conn, resident_id)
        found = await store.find_address(conn, q.postcode, q.house_number, q.house_letter, q.addition)
        if found is None:
            raise refusal(
                422,
                "unknown-address",
                text("address_unknown", "nl", address=q.label),
                text("address_unknown", "en", address=q.label),
                field="postcode",
            )
        ids = await store.address_ids(conn, resident_id)
        if found["id"] in ids:
            raise refusal(
                409,
                "already-enrolled",
                text("move_same", "nl", address=q.label),
                text("move_same", "en", address=q.label),
            )
        if len(ids) >= settings.enrolment.max_addresses:
            m = settings.enrolment.max_addresses
            raise refusal(
                422,
                "too-many-addresses",
                text("too_many_addresses", "nl", max=m),
                text("too_many_addresses", "en", max=m),
            )
        existing = await store.enrolment_row(conn, resident_id, found["id"])
        if existing is not None:  # an expired visit of the same place makes way
            await store.delete_enrolment_row(conn, existing["id"], resident_id)
        channels = ["voice"] if r["phone_kind"] == "landline" else ["sms"]
        await store.upsert_resident_address(conn, resident_id, found["id"], body.label, channels, None, None)
        await _audit(conn, resident_id, "address.added")
    return await view(conn, settings, resident_id)


async def remove_address(
    conn: asyncpg.Connection, settings: Settings, resident_id: int, number: int
) -> MineOut:
    async with conn.transaction():
        addresses = await store.resident_addresses(conn, resident_id)
        a = await _nth(conn, resident_id, number)
        if a["visit_until"] is None and sum(x["visit_until"] is None for x in addresses) == 1:
            raise refusal(409, "last-address", text("address_last", "nl"), text("address_last", "en"))
        await store.delete_enrolment_row(conn, a["enrolment_id"], resident_id)
        await _audit(conn, resident_id, "address.removed")
    return await view(conn, settings, resident_id)
