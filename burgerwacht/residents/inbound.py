"""AANMELDEN by SMS on the webhook's fast path. After a TV appeal thousands enrol within
minutes (issue 16): each webhook is one statement that claims the MessageSid, enrols
and remembers the reply (functions/enrolments.sql), instead of the ordinary
transaction's five round trips, and the ones that arrive while others are being written
go in together, one transaction and one commit for many (db/batch.py, as SMS tips do).
Anything else (AANMELDEN without an address, a number we do not take) declines and
goes the ordinary way."""

from __future__ import annotations

from aiohttp import web

from burgerwacht.db.batch import GroupCommit
from burgerwacht.phone import PhoneError, parse_phone
from burgerwacht.residents import keywords, service, store
from burgerwacht.web.keys import LAZY, POOL, SETTINGS


def intake_for(app: web.Application) -> GroupCommit[store.SmsEnrolment, str | None]:
    intake = app[LAZY].get("enrol-intake")
    if intake is None:
        pool = app[POOL]
        intake = app[LAZY]["enrol-intake"] = GroupCommit(
            lambda items: store.sms_enrol_inbound_batch(pool, items),
            lambda item: store.sms_enrol_inbound(pool, item),
            max_size=64,
            max_in_flight=2,  # as the tips' intake: one batch commits while the next fills
            name="enrol-intake",
        )
    return intake


async def enrol_sms_fast(app: web.Application, sid: str, phone: str, cmd: keywords.Command) -> str | None:
    if not isinstance(cmd, keywords.Enrol) or cmd.address is None:
        return None
    settings = app[SETTINGS]
    try:
        parsed = parse_phone(phone, settings.enrolment.allowed_countries)
    except PhoneError:
        return None  # the ordinary path answers in the resident's language
    return await intake_for(app).submit(service.sms_enrolment(settings, sid, phone, parsed.kind, cmd))
