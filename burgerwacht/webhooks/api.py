"""Provider webhooks. Every one is signature-checked against ``public_url`` first: an
unsigned or wrongly signed request gets 403 and changes nothing."""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import BaseModel, Field

from burgerwacht.messaging import sms_reply
from burgerwacht.tips.media import attach_inbound, inbound_media
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
    NumMedia: int = Field(default=0, ge=0, le=10, description="Pictures with the message (MMS)")
    MediaUrl0: str | None = Field(
        default=None,
        description="MediaUrl0…MediaUrl9: the provider's URL of each picture; fetched afterwards with the "
        "account's credentials, only from twilio.api_base's host (others are never requested)",
    )
    MediaContentType0: str | None = Field(
        default=None,
        description="MediaContentType0…9: image/jpeg, image/png and image/webp are kept; other types are "
        "noted as not kept",
    )


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
    media = inbound_media(form)
    reply = await handle_sms(request.app, sid, phone, body, len(media))
    # a picture message's media: noted with its tip now, fetched in the background
    await attach_inbound(request.app, sid, media)
    return sms_reply(reply)
