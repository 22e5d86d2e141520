"""``SIGNAAL <tekst>`` by SMS: registered with the inbound webhook, runs inside its
transaction (so a retried webhook does not store the signal twice)."""

from __future__ import annotations

import asyncpg

from burgerwacht.residents import keywords
from burgerwacht.signals import intake
from burgerwacht.webhooks.inbound import Inbound, sms_handler


@sms_handler
async def signal_by_sms(conn: asyncpg.Connection, msg: Inbound, cmd: keywords.Command) -> str | None:
    if not isinstance(cmd, keywords.Signal):
        return None
    return await intake.sms_signal(conn, msg.phone, cmd.text)
