"""AANMELDEN by SMS on the webhook's fast path: one statement that claims the MessageSid,
enrols and remembers the reply (residents.service.sms_enrol_once), instead of the
ordinary transaction's five round trips. After a TV appeal thousands enrol within
minutes (issue 16). Anything else (no address, a number we do not take) declines and
goes the ordinary way."""

from __future__ import annotations

from aiohttp import web

from burgerwacht.phone import PhoneError, parse_phone
from burgerwacht.residents import keywords, service
from burgerwacht.web.keys import POOL, SETTINGS


async def enrol_sms_fast(app: web.Application, sid: str, phone: str, cmd: keywords.Command) -> str | None:
    if not isinstance(cmd, keywords.Enrol) or cmd.address is None:
        return None
    settings = app[SETTINGS]
    try:
        parsed = parse_phone(phone, settings.enrolment.allowed_countries)
    except PhoneError:
        return None  # the ordinary path answers in the resident's language
    async with app[POOL].acquire() as conn:
        return await service.sms_enrol_once(conn, settings, sid, phone, parsed.kind, cmd)
