"""Inbound SMS that are tips: free text and ``ANONIEM <tekst>``.

The common case runs as one atomic statement (:func:`service.intake_sms`); an empty tip
falls through to the ordinary transactional path for a hint.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from burgerwacht.db.batch import GroupCommit
from burgerwacht.residents import keywords
from burgerwacht.tips import service, store
from burgerwacht.web.keys import POOL, SETTINGS, lazy
from burgerwacht.webhooks.inbound import Inbound


def intake_for(app: web.Application) -> GroupCommit[store.SmsTip, asyncpg.Record]:
    """The app's group commit for SMS tips: during a big alert's burst of replies, the
    tips that arrive while others are being stored go in together (db/batch.py)."""
    pool = app[POOL]
    return lazy(
        app,
        "tip-intake",
        lambda: GroupCommit(
            lambda tips: store.sms_intake_batch(pool, tips),
            lambda tip: store.sms_intake(pool, tip),
            max_size=64,
            # two batches in the database at once: one commits while the next fills.
            # Measured side by side (bench_tips, 32 concurrent): 2 and 4 reach the same
            # ~2,100 tips/s, but 2 costs ~10 % less CPU per tip (0.21 + 0.29 ms in the
            # service and PostgreSQL, against 0.22 + 0.33 ms): fewer, larger commits
            max_in_flight=2,
            name="tip-intake",
        ),
    )


async def tip_sms_fast(app: web.Application, sid: str, phone: str, cmd: keywords.Command) -> str | None:
    if isinstance(cmd, keywords.AnonymousTip | keywords.FreeText):
        return await service.intake_sms(
            intake_for(app),
            app[SETTINGS],
            sid,
            phone,
            cmd.text,
            kind=keywords.kind(cmd),
            anonymous=isinstance(cmd, keywords.AnonymousTip),
            has_media=cmd.media > 0,
        )
    return None


async def empty_tip(conn: asyncpg.Connection, msg: Inbound, cmd: keywords.Command) -> str | None:
    if isinstance(cmd, keywords.AnonymousTip | keywords.FreeText):
        return await service.empty_tip(conn, msg.phone)
    return None
