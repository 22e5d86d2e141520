"""``SIGNAAL <tekst>`` by SMS: a handler of the inbound webhook (listed in
``signals/domain.py``), run inside its transaction (so a retried webhook does not store the signal twice)."""

from __future__ import annotations

import asyncpg

from burgerwacht.residents import keywords
from burgerwacht.signals import service
from burgerwacht.webhooks.inbound import Inbound


async def signal_by_sms(conn: asyncpg.Connection, msg: Inbound, cmd: keywords.Command) -> str | None:
    if not isinstance(cmd, keywords.Signal):
        return None
    return await service.sms_signal(conn, msg.phone, cmd.text)
