"""Inbound SMS: parse the keyword, let the owning domain act, remember the reply.

The whole of it runs in one transaction that first claims the MessageSid, so a webhook
the provider retries (or delivers twice at once) is acted on once and answered with the
same reply. Domains that take free text (tips, signals) list a handler in their
``DOMAIN`` (``sms_handlers``, ``fast_sms_handlers``); they are asked in the order of
``burgerwacht/domains.py`` after the resident keywords.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aiohttp import web

from burgerwacht.domain import FastSmsHandler, SmsHandler
from burgerwacht.phone import mask_phones_in
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


def _handlers() -> tuple[tuple[FastSmsHandler, ...], tuple[SmsHandler, ...]]:
    from burgerwacht.domains import DOMAINS  # the domains' handlers import this module

    fast = tuple(h for d in DOMAINS for h in d.fast_sms_handlers)
    return fast, tuple(h for d in DOMAINS for h in d.sms_handlers)


def _masked(cmd: keywords.Command) -> keywords.Command:
    """A tip's text is stored with phone numbers masked: the sender's own number would
    otherwise outlive VERWIJDER, and a third party's has no place in it either. (The
    tip's SQL intake stores the text as given; signals mask in ``signals/intake.py``,
    whatever their source.)"""
    if isinstance(cmd, keywords.AnonymousTip | keywords.FreeText):
        masked = mask_phones_in(cmd.text)
        if masked != cmd.text:
            return replace(cmd, text=masked)
    return cmd


async def handle_sms(app: web.Application, sid: str, phone: str, body: str, media: int = 0) -> str | None:
    """``media``: how many pictures came with it (a tip may then be a picture alone)."""
    fast_handlers, handlers = _handlers()
    cmd = _masked(keywords.parse_sms(body))
    if media and isinstance(cmd, keywords.AnonymousTip | keywords.FreeText):
        cmd = replace(cmd, media=media)
    if isinstance(cmd, keywords.Confirm) and not await residents.awaits_confirmation(app[POOL], phone):
        cmd = keywords.FreeText(cmd.text)  # a "ja" that confirms nothing is a tip
    for fast in fast_handlers:
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
            for handler in handlers:
                reply = await handler(conn, msg, cmd)
                if reply is not None:
                    break
        if reply is None:
            reply = text("unknown", await residents.language_of(conn, phone))
        await store.save_inbound_reply(conn, sid, kind, reply)
    return reply
