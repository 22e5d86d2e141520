"""The simulator's own endpoints under ``/sandbox``: scenario, injection, inspection.

Tests and the demo drive the simulated world from here: change the scenario per test,
make a resident text or call the service, and look at what the service sent.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import ParseError

from aiohttp import web
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from burgerwacht.messaging.encoding import segment_count
from burgerwacht.sandbox.config import ScenarioError, apply_scenario, config_to_json
from burgerwacht.sandbox.media import InboundMedia, MediaError, parse_media
from burgerwacht.sandbox.sender import WebhookSender
from burgerwacht.sandbox.state import API_VERSION, E164, CallRecord, MessageRecord, SandboxState, new_sid
from burgerwacht.sandbox.voice import CallRunner

__all__ = ["ControlApi", "parse_sms_replies"]

SMS_PATH = "/twilio/sms"
TIPLINE_PATH = "/twilio/voice/tipline"


def _bad_request(detail: str, status: int = 400) -> web.Response:
    return web.json_response({"error": detail}, status=status)


def _number_query(request: web.Request) -> str | None:
    """The ``to`` filter; an unencoded ``+`` arrives as a space, so restore it."""
    value = request.query.get("to")
    if value is None:
        return None
    value = value.strip()
    return "+" + value if value[:1].isdigit() else value


def _country(number: str) -> str:
    return "NL" if number.startswith("+31") else ""


def parse_sms_replies(text: str) -> list[tuple[str, str | None]]:
    """The ``<Message>`` replies of a messaging TwiML document as (body, to-override)."""
    try:
        root = fromstring(text)
    except (ParseError, DefusedXmlException, ValueError):
        return []
    if root.tag != "Response":
        return []
    replies: list[tuple[str, str | None]] = []
    for message in root.iter("Message"):
        body_element = message.find("Body")
        element = body_element if body_element is not None else message
        replies.append(("".join(element.itertext()).strip(), message.get("to")))
    return replies


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"invalid JSON: {exc}"}), content_type="application/json"
        ) from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "expected a JSON object"}), content_type="application/json"
        )
    return data


class ControlApi:
    """Handlers for ``/sandbox/*``."""

    def __init__(self, state: SandboxState, sender: WebhookSender, calls: CallRunner) -> None:
        self.state = state
        self.sender = sender
        self.calls = calls

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/sandbox/scenario", self.get_scenario),
            web.post("/sandbox/scenario", self.set_scenario),
            web.post("/sandbox/reset", self.reset),
            web.post("/sandbox/flush", self.flush),
            web.get("/sandbox/stats", self.stats),
            web.get("/sandbox/messages", self.messages),
            web.get("/sandbox/calls", self.list_calls),
            web.get("/sandbox/callbacks", self.callbacks),
            web.post("/sandbox/inbound/sms", self.inbound_sms),
            web.post("/sandbox/inbound/call", self.inbound_call),
        ]

    # --- scenario -----------------------------------------------------------------------

    async def get_scenario(self, request: web.Request) -> web.Response:
        return web.json_response(config_to_json(self.state.config))

    async def set_scenario(self, request: web.Request) -> web.Response:
        """Merge the posted fields into the running scenario (each field replaced whole)."""
        changes = await _json_body(request)
        try:
            config = apply_scenario(self.state.config, changes)
        except ScenarioError as exc:
            return _bad_request(str(exc))
        self.state.configure(config)
        self.sender.ensure_workers()
        return web.json_response(config_to_json(config))

    async def reset(self, request: web.Request) -> web.Response:
        """Forget everything and return to the startup scenario."""
        self.state.reset()
        return web.json_response({"status": "reset"})

    async def flush(self, request: web.Request) -> web.Response:
        """Wait (up to ``timeout`` s, default 10) until no webhook or call is pending."""
        try:
            timeout = float(request.query.get("timeout", "10"))
        except ValueError:
            return _bad_request("timeout must be a number")
        idle = await self.state.wait_idle(timeout)
        return web.json_response({"idle": idle, "pending": self.state.pending}, status=200 if idle else 504)

    # --- inspection ---------------------------------------------------------------------

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.stats())

    async def messages(self, request: web.Request) -> web.Response:
        to = _number_query(request)
        records = self.state.messages_by_to.get(to, []) if to else self.state.message_list
        return web.json_response({"items": [m.to_inspect() for m in records]})

    async def list_calls(self, request: web.Request) -> web.Response:
        to = _number_query(request)
        calls = [c for c in self.state.calls.values() if to is None or c.to == to or c.from_ == to]
        return web.json_response({"items": [c.to_inspect() for c in calls]})

    async def callbacks(self, request: web.Request) -> web.Response:
        kind, sid = request.query.get("kind"), request.query.get("sid")
        items = [
            c
            for c in self.state.callbacks
            if (kind is None or c["kind"] == kind) and (sid is None or c["sid"] == sid)
        ]
        return web.json_response({"items": items})

    # --- injection ----------------------------------------------------------------------

    def _service_url(self) -> str | None:
        url = self.state.config.service_url
        return url.rstrip("/") if url else None

    async def inbound_sms(self, request: web.Request) -> web.Response:
        """A resident texts the service: post the signed webhook, return the reply.

        Passing an existing ``message_sid`` re-posts that message, as Twilio does when
        it retries a webhook, to exercise the service's idempotency.
        """
        data = await _json_body(request)
        service = self._service_url()
        if service is None:
            return _bad_request("service_url is not configured (POST /sandbox/scenario)", status=409)
        sender_number, body = data.get("from"), data.get("body")
        if not isinstance(sender_number, str) or not E164.match(sender_number):
            return _bad_request("'from' must be an E.164 phone number")
        if not isinstance(body, str):
            return _bad_request("'body' must be a string")
        to = data.get("to") or self.state.config.phone_number
        has_media = bool(data.get("media"))
        record = self._inbound_record(data.get("message_sid"), sender_number, str(to), body, mms=has_media)
        try:
            media = self._media(request, record, data.get("media"))
        except MediaError as exc:
            return _bad_request(str(exc))
        params = {
            "AccountSid": record.account_sid,
            "ApiVersion": API_VERSION,
            "Body": record.body,
            "From": record.from_,
            "FromCountry": _country(record.from_),
            "MessageSid": record.sid,
            "NumMedia": str(len(media)),
            "NumSegments": str(record.num_segments),
            "SmsMessageSid": record.sid,
            "SmsSid": record.sid,
            "SmsStatus": "received",
            "To": record.to,
            "ToCountry": _country(record.to),
        }
        for n, m in enumerate(media):
            params[f"MediaUrl{n}"] = str(m.url)
            params[f"MediaContentType{n}"] = m.content_type
        result = await self.sender.post(service + SMS_PATH, params, kind="inbound-sms", sid=record.sid)
        replies = parse_sms_replies(result.text) if result.ok else []
        for text, reply_to in replies:
            self._reply_record(record, text, reply_to)
        return web.json_response(
            {
                "status": result.http_status,
                "body": result.text,
                "error": result.error,
                "message_sid": record.sid,
                "reply": replies[0][0] if replies else None,
                "replies": [text for text, _ in replies],
                "media": [{"sid": m.sid, "url": m.url} for m in media],
            }
        )

    def _media(self, request: web.Request, record: MessageRecord, items: Any) -> list[InboundMedia]:
        """The picture message's media (sandbox/media.py); a re-posted message keeps its own."""
        state = self.state
        known = [m for m in state.media.values() if m.message_sid == record.sid]
        if known or not items:
            return known
        media = parse_media(
            items, record.sid, record.account_sid, str(request.url.origin()), record.created_at
        )
        for m in media:
            state.media[m.sid] = m
        return media

    def _inbound_record(
        self, sid: Any, from_: str, to: str, body: str, *, mms: bool = False
    ) -> MessageRecord:
        state = self.state
        if isinstance(sid, str) and sid in state.messages:
            return state.messages[sid]
        prefix = "MM" if mms else "SM"
        record = MessageRecord(
            sid=sid if isinstance(sid, str) and sid.startswith(prefix) else new_sid(prefix),
            seq=state.next_seq(),
            account_sid=state.config.account_sid,
            to=to,
            from_=from_,
            body=body,
            direction="inbound",
            status="received",
            num_segments=segment_count(body) if body else 1,
        )
        state.add_message(record)
        return record

    def _reply_record(self, inbound: MessageRecord, text: str, to: str | None) -> None:
        state = self.state
        record = MessageRecord(
            sid=new_sid("SM"),
            seq=state.next_seq(),
            account_sid=state.config.account_sid,
            to=to or inbound.from_,
            from_=inbound.to,
            body=text,
            direction="outbound-reply",
            status="queued",
            num_segments=segment_count(text) if text else 1,
        )
        state.add_message(record)
        code = state.delivery_errors.get(record.to)
        record.advance("sent", None)
        record.advance("undelivered" if code else "delivered", code)

    async def inbound_call(self, request: web.Request) -> web.Response:
        """A resident calls the tip line; the call runs to the end before this returns."""
        data = await _json_body(request)
        service = self._service_url()
        if service is None:
            return _bad_request("service_url is not configured (POST /sandbox/scenario)", status=409)
        caller = data.get("from")
        if not isinstance(caller, str) or not (E164.match(caller) or caller == "anonymous"):
            return _bad_request("'from' must be an E.164 phone number")
        state = self.state
        record_seconds = data.get("record_seconds", state.config.record_seconds)
        if not isinstance(record_seconds, int) or record_seconds < 0:
            return _bad_request("'record_seconds' must be a non-negative integer")
        call = CallRecord(
            sid=new_sid("CA"),
            account_sid=state.config.account_sid,
            to=str(data.get("to") or state.config.phone_number),
            from_=caller,
            direction="inbound",
            url=service + str(data.get("path") or TIPLINE_PATH),
            digits=str(data.get("digits") or state.config.call_digits.get(caller, "")),
            record_seconds=record_seconds,
            base_url=str(request.url.origin()),
        )
        state.calls[call.sid] = call
        await self.calls.run_inbound(call)
        return web.json_response(call.to_inspect())
