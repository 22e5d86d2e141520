"""Inbound SMS: parse the keyword, let the owning domain act, remember the reply.

The whole of it runs in one transaction that first claims the MessageSid, so a webhook
the provider retries (or delivers twice at once) is acted on once and answered with the
same reply. Domains that take free text (tips, signals) register a handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache

import asyncpg
from aiohttp import web

from burgerwacht.modules import optional
from burgerwacht.residents import keywords
from burgerwacht.residents import service as residents
from burgerwacht.texts import text
from burgerwacht.web.keys import POOL, SETTINGS
from burgerwacht.webhooks import store


@dataclass(frozen=True)
class Inbound:
    sid: str
    phone: str
    body: str
    app: web.Application


SmsHandler = Callable[[asyncpg.Connection, Inbound, keywords.Command], Awaitable[str | None]]
HANDLERS: list[SmsHandler] = []
# Handlers that do everything (claim, act, remember the reply) in one atomic statement of
# their own, for the hot path of a big alert: thousands of tips a minute.
FastHandler = Callable[[web.Application, str, str, keywords.Command], Awaitable[str | None]]
FAST_HANDLERS: list[FastHandler] = []


def sms_handler(handler: SmsHandler) -> SmsHandler:
    """Register a handler; it returns a reply when it took the message, else None."""
    HANDLERS.append(handler)
    return handler


def fast_sms_handler(handler: FastHandler) -> FastHandler:
    """Register a self-contained handler; it returns the reply, or None to pass."""
    FAST_HANDLERS.append(handler)
    return handler


@cache
def _load_domains() -> None:
    """Import the domains that register handlers (once, not on every message)."""
    for name in ("burgerwacht.tips.inbound", "burgerwacht.signals.inbound"):
        optional(name)


async def handle_sms(app: web.Application, sid: str, phone: str, body: str) -> str | None:
    _load_domains()
    cmd = keywords.parse_sms(body)
    for fast in FAST_HANDLERS:
        reply = await fast(app, sid, phone, cmd)
        if reply is not None:
            return reply
    kind = keywords.kind(cmd)
    msg = Inbound(sid, phone, body, app)
    async with app[POOL].acquire() as conn, conn.transaction():
        if not await store.claim_inbound(conn, sid, kind):
            return await store.inbound_reply(conn, sid)
        reply = await residents.handle_keyword(conn, app[SETTINGS], phone, cmd)
        if reply is None:
            for handler in HANDLERS:
                reply = await handler(conn, msg, cmd)
                if reply is not None:
                    break
        if reply is None:
            reply = text("unknown", await residents.language_of(conn, phone))
        await store.save_inbound_reply(conn, sid, kind, reply)
    return reply
