"""Media of inbound picture messages (MMS), as Twilio serves them.

A test (or the demo) injects a picture message through ``POST /sandbox/inbound/sms``
with ``media``; each medium gets a Media SID and is served at Twilio's URL
``/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}`` (what the
webhook's ``MediaUrl{n}`` names), only with the account's credentials (HTTP Basic,
Twilio's "HTTP Basic Auth for media"), with its metadata at ``…/{MediaSid}.json`` and
``DELETE …/{MediaSid}.json`` removing it, as Twilio's Media resource does. Every fetch
is counted; ``GET /sandbox/media`` shows the media, their fetches and deletions.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from burgerwacht.sandbox.state import API_VERSION, SandboxState, iso, new_sid, rfc2822

__all__ = ["InboundMedia", "MediaApi", "MediaError", "parse_media"]

MAX_MEDIA = 10  # Twilio: at most 10 media per message
_SID = r"ME[0-9a-f]{32}"


class MediaError(ValueError):
    """A ``media`` item of an injection that cannot be used (answered 400)."""


@dataclass
class InboundMedia:
    sid: str
    message_sid: str
    account_sid: str
    content_type: str
    data: bytes | None  # None: only a URL of the injector's choosing (``url``), served nowhere
    url: str | None = None
    chunked: bool = False  # served without Content-Length, in 64 kB chunks
    delay_s: float = 0.0  # waits this long before answering (a slow media store)
    fetches: int = 0
    unauthorized: int = 0
    deleted: bool = False
    created_at: float = field(default=0.0)

    def path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.message_sid}/Media/{self.sid}"

    def to_twilio(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "content_type": self.content_type,
            "date_created": rfc2822(self.created_at),
            "date_updated": rfc2822(self.created_at),
            "parent_sid": self.message_sid,
            "sid": self.sid,
            "uri": self.path() + ".json",
        }

    def to_inspect(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "message_sid": self.message_sid,
            "content_type": self.content_type,
            "bytes": None if self.data is None else len(self.data),
            "url": self.url,
            "fetches": self.fetches,
            "unauthorized": self.unauthorized,
            "deleted": self.deleted,
            "date_created": iso(self.created_at),
        }


def parse_media(
    items: Any, message_sid: str, account_sid: str, base_url: str, now: float
) -> list[InboundMedia]:
    """The ``media`` of an injected SMS: a list of ``{content_type, data}`` (base64; served
    here) or ``{content_type, url}`` (posted as given and served nowhere: a foreign host),
    each optionally ``chunked`` and ``delay_s``."""
    if not isinstance(items, list) or len(items) > MAX_MEDIA:
        raise MediaError(f"'media' must be a list of at most {MAX_MEDIA} items")
    media = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("content_type"), str):
            raise MediaError("each media item needs a 'content_type' and 'data' (base64) or 'url'")
        data = item.get("data")
        url = item.get("url")
        if isinstance(data, str) and url is None:
            try:
                raw: bytes | None = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise MediaError("media 'data' must be base64") from None
        elif isinstance(url, str) and data is None:
            raw = None
        else:
            raise MediaError("each media item needs 'data' (base64) or 'url', not both")
        delay = item.get("delay_s", 0)
        if not isinstance(delay, int | float) or not 0 <= delay <= 60:
            raise MediaError("'delay_s' must be 0–60 seconds")
        m = InboundMedia(
            sid=new_sid("ME"),
            message_sid=message_sid,
            account_sid=account_sid,
            content_type=item["content_type"],
            data=raw,
            chunked=bool(item.get("chunked", False)),
            delay_s=float(delay),
            created_at=now,
        )
        m.url = url if raw is None else base_url + m.path()
        media.append(m)
    return media


class MediaApi:
    """The Media resource of the REST API and the simulator's inspection of it."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        base = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages/{{message_sid}}/Media"
        return [
            web.get(f"{base}/{{sid:{_SID}}}.json", self.fetch_json),
            web.delete(f"{base}/{{sid:{_SID}}}.json", self.delete),
            web.get(f"{base}/{{sid:{_SID}}}", self.content),
            web.get("/sandbox/media", self.inspect),
        ]

    def _found(self, request: web.Request) -> InboundMedia | web.Response:
        from burgerwacht.sandbox.rest import twilio_error  # rest imports the state module too

        state = self.state
        media = state.media.get(request.match_info["sid"])
        if request.headers.get("Authorization") != state.expected_authorization:
            state.counters["unauthorized"] += 1
            state.counters["media_unauthorized"] += 1
            if media is not None:
                media.unauthorized += 1
            return twilio_error(
                401, 20003, "Authenticate", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        if (
            media is None
            or media.deleted
            or media.data is None
            or media.account_sid != request.match_info["account_sid"]
            or media.message_sid != request.match_info["message_sid"]
        ):
            return twilio_error(404, 20404, "The requested resource was not found")
        return media

    async def content(self, request: web.Request) -> web.StreamResponse:
        media = self._found(request)
        if isinstance(media, web.Response):
            return media
        media.fetches += 1
        self.state.counters["media_fetches"] += 1
        if media.delay_s:
            try:
                await asyncio.wait_for(self.state.closing.wait(), timeout=media.delay_s)
            except TimeoutError:
                pass
        assert media.data is not None
        if not media.chunked:
            return web.Response(body=media.data, content_type=media.content_type)
        response = web.StreamResponse(headers={"Content-Type": media.content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(media.data), 65536):
            try:
                await response.write(media.data[start : start + 65536])
            except (ConnectionResetError, RuntimeError):
                break  # the client stopped reading (its size cut-off)
        return response

    async def fetch_json(self, request: web.Request) -> web.Response:
        media = self._found(request)
        if isinstance(media, web.Response):
            return media
        return web.json_response(media.to_twilio())

    async def delete(self, request: web.Request) -> web.Response:
        media = self._found(request)
        if isinstance(media, web.Response):
            return media
        media.deleted = True
        self.state.counters["media_deleted"] += 1
        return web.Response(status=204)

    async def inspect(self, request: web.Request) -> web.Response:
        message = request.query.get("message_sid")
        items = [m for m in self.state.media.values() if message is None or m.message_sid == message]
        return web.json_response({"items": [m.to_inspect() for m in items]})
