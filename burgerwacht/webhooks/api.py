"""Provider webhooks. Every one is signature-checked against ``public_url`` first: an
unsigned or wrongly signed request gets 403 and changes nothing."""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import BaseModel, Field

from burgerwacht.messaging import sms_reply
from burgerwacht.web.api import Api
from burgerwacht.web.errors import Problem
from burgerwacht.webhooks.inbound import handle_sms
from burgerwacht.webhooks.signing import signed_form

api = Api()
E164 = re.compile(r"^\+[1-9]\d{6,14}$", re.ASCII)


class InboundSmsForm(BaseModel):
    """The fields Twilio posts for an inbound SMS (others are ignored)."""

    MessageSid: str = Field(pattern=r"^(SM|MM)[0-9a-fA-F]{32}$")
    From: str
    To: str
    Body: str = ""


@api.post(
    "/twilio/sms",
    summary="Inbound SMS (keywords, tips, signals); answers TwiML",
    tags=["webhooks"],
    form=InboundSmsForm,
    content_type="text/xml",
    responses={400: "Missing fields", 403: "Bad signature"},
)
async def inbound_sms(request: web.Request):
    form = await signed_form(request)
    sid, phone = form.get("MessageSid", ""), form.get("From", "")
    if not sid or not E164.match(phone):
        raise Problem(400, "MessageSid and an E.164 From are required", slug="bad-webhook")
    body = form.get("Body", "")[:1600].replace("\x00", "")
    reply = await handle_sms(request.app, sid, phone, body)
    return sms_reply(reply)
