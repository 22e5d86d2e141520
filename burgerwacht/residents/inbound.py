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
from burgerwacht.web.keys import POOL, SETTINGS, lazy


def intake_for(app: web.Application) -> GroupCommit[store.SmsEnrolment, str | None]:
    pool = app[POOL]
    return lazy(
        app,
        "enrol-intake",
        lambda: GroupCommit(
            lambda items: store.sms_enrol_inbound_batch(pool, items),
            lambda item: store.sms_enrol_inbound(pool, item),
            # two in the database at once, one commits while the next fills. Measured
            # (bench_tips, 64 concurrent, 5,000 enrolments, shared 2 cores): batches of
            # up to 64 gave ~1,400/s at p99 140-148 ms, up to 32 ~1,300/s at p99 92-95
            # ms (a whole batch is one transaction: smaller ones wait less), 4 in
            # flight ~1,100/s at more CPU per enrolment
            max_size=32,
            max_in_flight=2,
            name="enrol-intake",
        ),
    )


async def enrol_sms_fast(app: web.Application, sid: str, phone: str, cmd: keywords.Command) -> str | None:
    if not isinstance(cmd, keywords.Enrol) or cmd.address is None:
        return None
    settings = app[SETTINGS]
    try:
        parsed = parse_phone(phone, settings.enrolment.allowed_countries)
    except PhoneError:
        return None  # the ordinary path answers in the resident's language
    return await intake_for(app).submit(service.sms_enrolment(settings, sid, phone, parsed.kind, cmd))
