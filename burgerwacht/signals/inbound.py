"""``SIGNAAL <tekst>`` by SMS: a handler of the inbound webhook (listed in
``signals/domain.py``), run inside its transaction (so a retried webhook does not store the signal twice)."""

from __future__ import annotations

import asyncpg

from burgerwacht.config import Settings
from burgerwacht.phone import number_pattern
from burgerwacht.residents import keywords
from burgerwacht.signals import intake, store
from burgerwacht.webhooks.inbound import Inbound


async def erase_number(conn: asyncpg.Connection, resident_id: int, phone: str, settings: Settings) -> None:
    """Erasure hook: the number out of every signal's text (texts are masked on arrival;
    this catches texts stored before that and notations the masking missed)."""
    await store.erase_number_in_texts(conn, number_pattern(phone))


async def signal_by_sms(conn: asyncpg.Connection, msg: Inbound, cmd: keywords.Command) -> str | None:
    if not isinstance(cmd, keywords.Signal):
        return None
    return await intake.sms_signal(conn, msg.phone, cmd.text)
