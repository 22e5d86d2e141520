"""Inbound SMS that are tips: free text and ``ANONIEM <tekst>``.

The common case runs as one atomic statement (:func:`service.intake_sms`); an empty tip
falls through to the ordinary transactional path for a hint.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from burgerwacht.residents import keywords
from burgerwacht.tips import service
from burgerwacht.web.keys import SETTINGS
from burgerwacht.webhooks.inbound import Inbound, fast_sms_handler, sms_handler


@fast_sms_handler
async def tip_sms_fast(app: web.Application, sid: str, phone: str, cmd: keywords.Command) -> str | None:
    if isinstance(cmd, keywords.AnonymousTip | keywords.FreeText):
        return await service.intake_sms(
            service.intake_for(app),
            app[SETTINGS],
            sid,
            phone,
            cmd.text,
            kind=keywords.kind(cmd),
            anonymous=isinstance(cmd, keywords.AnonymousTip),
        )
    return None


@sms_handler
async def empty_tip(conn: asyncpg.Connection, msg: Inbound, cmd: keywords.Command) -> str | None:
    if isinstance(cmd, keywords.AnonymousTip | keywords.FreeText):
        return await service.empty_tip(conn, msg.phone)
    return None
