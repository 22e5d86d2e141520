"""Inbound SMS that are tips: free text and ``ANONIEM <tekst>``."""

from __future__ import annotations

import asyncpg

from burgerwacht.residents import keywords
from burgerwacht.tips import service
from burgerwacht.web.keys import SETTINGS
from burgerwacht.webhooks.inbound import Inbound, sms_handler


@sms_handler
async def tip_sms(conn: asyncpg.Connection, msg: Inbound, cmd: keywords.Command) -> str | None:
    settings = msg.app[SETTINGS]
    if isinstance(cmd, keywords.AnonymousTip):
        return await service.sms_tip(conn, settings, msg.sid, msg.phone, cmd.text, anonymous=True)
    if isinstance(cmd, keywords.FreeText):
        return await service.sms_tip(conn, settings, msg.sid, msg.phone, cmd.text, anonymous=False)
    return None
