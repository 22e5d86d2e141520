"""Twilio's 2010-04-01 REST API, as far as Burgerwacht uses it.

Messages (create, fetch, list with Twilio's filters and paging) and Calls (create,
fetch, list), with Twilio's authentication, validation codes and JSON shapes, plus the
scenario's faults: rate limits and scripted bursts of them (429/20429, nothing
created), server errors (500, before or after creating) and hangs before or after
creating (the client cannot tell which).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from burgerwacht.messaging.encoding import segment_count
from burgerwacht.sandbox.sender import CallbackJob, WebhookSender
from burgerwacht.sandbox.state import (
    API_VERSION,
    E164,
    FINAL_STATUSES,
    CallRecord,
    MessageRecord,
    SandboxState,
    new_sid,
)
from burgerwacht.sandbox.voice import CallRunner, parse_status_events

__all__ = ["RestApi", "twilio_error"]

_MAX_BODY = 1600
_MAX_VALIDITY = 36_000
_MAX_MEDIA = 10  # MediaUrl per message
_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 1000
#: Delivery errors Twilio reports as ``failed`` (never left Twilio) rather than undelivered.
_FAILED_CODES = frozenset({30001, 30002, 30010})


def twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Twilio's error document."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.Response(
        text=json.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload), status=status, content_type="application/json")


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _parse_date_filter(value: str) -> tuple[datetime, bool]:
    """A DateSent filter value and whether it named a whole day (YYYY-MM-DD)."""
    value = value.strip()
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC), True
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, False


def _date_bounds(query: dict[str, str]) -> tuple[float | None, float | None]:
    """Twilio's DateSent, DateSent> (on/after) and DateSent< (on/before) as a range."""
    low: float | None = None
    high: float | None = None
    if "DateSent" in query:
        moment, whole_day = _parse_date_filter(query["DateSent"])
        low = moment.timestamp()
        high = (moment + timedelta(days=1)).timestamp() if whole_day else low + 1
    if "DateSent>" in query:
        low = _parse_date_filter(query["DateSent>"])[0].timestamp()
    if "DateSent<" in query:
        moment, whole_day = _parse_date_filter(query["DateSent<"])
        high = (moment + timedelta(days=1)).timestamp() if whole_day else moment.timestamp() + 1
    return low, high


class RestApi:
    """Request handlers for the REST resources."""

    def __init__(self, state: SandboxState, sender: WebhookSender, calls: CallRunner) -> None:
        self.state = state
        self.sender = sender
        self.calls = calls

    def routes(self) -> list[web.RouteDef]:
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        return [
            web.post(f"{base}/Messages.json", self.create_message),
            web.get(f"{base}/Messages.json", self.list_messages),
            web.get(f"{base}/Messages/{{sid}}.json", self.fetch_message),
            web.post(f"{base}/Messages/{{sid}}.json", self.update_message),
            web.delete(f"{base}/Messages/{{sid}}.json", self.delete_message),
            web.post(f"{base}/Calls.json", self.create_call),
            web.get(f"{base}/Calls.json", self.list_calls),
            web.get(f"{base}/Calls/{{sid}}.json", self.fetch_call),
            web.get("/recordings/{name}", self.recording),
        ]

    # --- shared checks ------------------------------------------------------------------

    def _denied(self, request: web.Request) -> web.Response | None:
        """401 for wrong credentials, 404 for another account's path (Twilio's order)."""
        state = self.state
        if request.headers.get("Authorization") != state.expected_authorization:
            state.counters["unauthorized"] += 1
            return twilio_error(
                401, 20003, "Authenticate", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        if request.match_info["account_sid"] != state.config.account_sid:
            return twilio_error(404, 20404, "The requested resource was not found")
        return None

    async def _faults(
        self, bucket_name: str, sender: str | None = None
    ) -> tuple[web.Response | None, str | None]:
        """Latency, rate limits and injected faults shared by both create endpoints. A
        per-sender limit (SMS from ``sender``) is checked before the account's, and a
        request refused by either takes no token from the other."""
        state = self.state
        if state.config.latency > 0:
            await asyncio.sleep(state.config.latency)
        bucket = state.sms_bucket if bucket_name == "sms" else state.call_bucket
        per_sender = state.sender_bucket(sender) if bucket_name == "sms" else None
        for limit, name in ((per_sender, "sender"), (bucket, "account")):
            if limit is not None and not limit.ready():
                state.counters["rate_limited"] += 1
                state.counters[f"rate_limited_{name}"] += 1
                retry = {"Retry-After": str(limit.retry_after())}
                return twilio_error(429, 20429, "Too Many Requests", headers=retry), None
        for limit in (per_sender, bucket):
            if limit is not None:
                limit.take()
        if state.in_rate_limit_burst():
            state.counters["rate_limited"] += 1
            return twilio_error(429, 20429, "Too Many Requests"), None
        fault = state.fault()
        if fault == "error":
            state.counters["errors_injected"] += 1
            return twilio_error(500, 20500, "Internal Server Error"), None
        if fault == "hang_before":
            state.counters["timeouts_injected"] += 1
            await state.hang()
            return twilio_error(503, 20503, "Service Unavailable"), None
        return None, fault

    # --- messages -------------------------------------------------------------------------

    def _validate_message(self, form: Any) -> web.Response | None:
        to = form.get("To")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        body = form.get("Body")
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        if body and len(body) > _MAX_BODY:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if not E164.match(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        rejection = self.state.rejections.get(to)
        if rejection is not None:
            return twilio_error(*rejection)
        media = form.getall("MediaUrl", [])
        if len(media) > _MAX_MEDIA:
            return twilio_error(400, 21623, f"Number of media files exceeds the limit of {_MAX_MEDIA}")
        if any(not _valid_url(str(url)) for url in media):
            return twilio_error(400, 21620, "Invalid media URL(s)")
        callback = form.get("StatusCallback")
        if callback and not _valid_url(callback):
            return twilio_error(400, 21609, "Invalid StatusCallback url")
        validity = form.get("ValidityPeriod")
        if validity is not None and not (validity.isdigit() and 1 <= int(validity) <= _MAX_VALIDITY):
            return twilio_error(400, 21620, "ValidityPeriod must be between 1 and 36000 seconds")
        return None

    async def create_message(self, request: web.Request) -> web.Response:
        state = self.state
        state.counters["messages_create"] += 1
        denied = self._denied(request)
        if denied is not None:
            return denied
        form = await request.post()
        rejected, fault = await self._faults("sms", str(form.get("From") or "") or None)
        if rejected is not None:
            return rejected
        invalid = self._validate_message(form)
        if invalid is not None:
            state.counters["messages_rejected"] += 1
            return invalid
        body = str(form.get("Body") or "")
        validity = form.get("ValidityPeriod")
        record = MessageRecord(
            sid=new_sid("SM"),
            seq=state.next_seq(),
            account_sid=state.config.account_sid,
            to=str(form["To"]),
            from_=str(form.get("From") or form.get("MessagingServiceSid")),
            body=body,
            direction="outbound-api",
            status="queued",
            num_segments=segment_count(body) if body else 1,
            status_callback=str(form["StatusCallback"]) if form.get("StatusCallback") else None,
            validity_period=int(str(validity)) if validity is not None else None,
        )
        record.media = [
            {"url": str(url), "http_status": None, "content_type": None, "bytes": None, "error": None}
            for url in form.getall("MediaUrl", [])
        ]
        state.add_message(record)
        payload = record.to_twilio()
        if record.media:
            self.sender.fetch_media(record)
        self._schedule_status(record)
        return await self._created(payload, fault)

    async def _created(self, payload: dict[str, Any], fault: str | None) -> web.Response:
        """The answer to a create that took effect, unless a fault hides it."""
        state = self.state
        if fault == "hang_after":
            state.counters["timeouts_injected"] += 1
            await state.hang()
        elif fault == "error_after":
            state.counters["errors_injected"] += 1
            state.counters["errors_after_create"] += 1
            return twilio_error(500, 20500, "Internal Server Error")
        return _json(payload, status=201)

    def _schedule_status(self, record: MessageRecord) -> None:
        """Plan the message's lifecycle and hand its callbacks to the sender pool."""
        state = self.state
        config = state.config
        code = state.delivery_errors.get(record.to)
        steps: list[tuple[str, int | None]] = [("sending", None)] if config.full_status_callbacks else []
        if code is None:
            steps += [("sent", None), ("delivered", None)]
        elif code in _FAILED_CODES:
            steps.append(("failed", code))
        else:
            steps += [("sent", None), ("undelivered", code)]
        if not (config.callbacks and record.status_callback):
            for status, error in steps:
                record.advance(status, error)
            return
        if config.full_status_callbacks:
            steps.insert(0, ("queued", None))
        if len(steps) >= 2 and state.chance(config.reorder_rate):
            steps[-1], steps[-2] = steps[-2], steps[-1]
        if config.duplicate_rate > 0:
            copies = max(1, config.duplicate_copies)
            steps = [
                s
                for step in steps
                for s in ((step,) * copies if state.chance(config.duplicate_rate) else (step,))
            ]
        if config.shuffle_callbacks:
            state.rng.shuffle(steps)
        self.sender.enqueue(CallbackJob(record.status_callback, record, steps, state.generation))

    async def fetch_message(self, request: web.Request) -> web.Response:
        record = self._found(request, self.state.messages)
        if isinstance(record, web.Response):
            return record
        return _json(record.to_twilio())

    async def update_message(self, request: web.Request) -> web.Response:
        """Twilio's UpdateMessage: ``Body=""`` redacts the text of a message that reached a
        final status; ``Status=canceled`` cancels a scheduled one (the simulator schedules
        nothing, so there is never one to cancel)."""
        record = self._found(request, self.state.messages)
        if isinstance(record, web.Response):
            return record
        form = await request.post()
        if "Status" in form:
            if form["Status"] != "canceled":
                return twilio_error(400, 20001, "Status can only be set to canceled")
            if record.status != "scheduled":
                return twilio_error(400, 20001, "Only a scheduled message can be canceled")
        if "Body" in form:
            if form["Body"] != "":
                return twilio_error(400, 20001, "Body can only be set to an empty string (redaction)")
            if record.status not in FINAL_STATUSES:
                return twilio_error(400, 20009, "Cannot redact a message that is still being delivered")
            record.body = ""
            record.updated_at = time.time()
        elif "Status" not in form:
            return twilio_error(400, 20001, "Body or Status is required")
        return _json(record.to_twilio())

    async def delete_message(self, request: web.Request) -> web.Response:
        """Twilio's DeleteMessage: 204 for a message in a final status."""
        record = self._found(request, self.state.messages)
        if isinstance(record, web.Response):
            return record
        if record.status not in FINAL_STATUSES:
            return twilio_error(400, 20009, "Cannot delete a message that is still being delivered")
        self.state.delete_message(record)
        return web.Response(status=204)

    async def list_messages(self, request: web.Request) -> web.Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        query = dict(request.query)
        try:
            low, high = _date_bounds(query)
        except ValueError:
            return twilio_error(400, 20001, "Invalid DateSent filter")
        to, from_ = query.get("To"), query.get("From")
        source = self.state.messages_by_to.get(to, []) if to else self.state.message_list

        # DateSent filters on date_sent. A message still queued has none, and Twilio's
        # description does not say whether its filter passes it: the simulator takes the
        # reading that hurts a client most (it does not), so a client that reconciles by
        # DateSent and would resend a queued message fails its tests here
        def matches(m: MessageRecord) -> bool:
            if m.deleted or (from_ is not None and m.from_ != from_):
                return False
            if low is None and high is None:
                return True
            if m.sent_at is None:
                return False
            return (low is None or m.sent_at >= low) and (high is None or m.sent_at < high)

        return self._page(request, query, "messages", source, matches, MessageRecord.to_twilio)

    # --- calls ----------------------------------------------------------------------------

    def _validate_call(self, form: Any) -> web.Response | None:
        to = form.get("To")
        if not to:
            return twilio_error(400, 21201, "No 'To' number is specified")
        if not form.get("From"):
            return twilio_error(400, 21213, "Caller phone number is required")
        url = form.get("Url")
        if not url and not form.get("Twiml") and not form.get("ApplicationSid"):
            return twilio_error(400, 21205, "Url parameter is required.")
        if url and not _valid_url(url):
            return twilio_error(400, 21205, f"Url is not a valid URL: {url}")
        if not E164.match(to) or to in self.state.config.invalid_numbers:
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        callback = form.get("StatusCallback")
        if callback and not _valid_url(callback):
            return twilio_error(400, 21609, "Invalid StatusCallback url")
        return None

    async def create_call(self, request: web.Request) -> web.Response:
        state = self.state
        state.counters["calls_create"] += 1
        denied = self._denied(request)
        if denied is not None:
            return denied
        rejected, fault = await self._faults("calls")
        if rejected is not None:
            return rejected
        form = await request.post()
        invalid = self._validate_call(form)
        if invalid is not None:
            state.counters["calls_rejected"] += 1
            return invalid
        if state.over_call_concurrency():
            # Twilio would queue it until a call ends; refused here, so a test sees it
            state.counters["calls_over_concurrency"] += 1
            return twilio_error(
                429, 20429, "Too Many Requests: the account's calls in progress are at its limit"
            )
        to = str(form["To"])
        call = CallRecord(
            sid=new_sid("CA"),
            account_sid=state.config.account_sid,
            to=to,
            from_=str(form["From"]),
            direction="outbound-api",
            url=str(form["Url"]) if form.get("Url") else None,
            method=str(form.get("Method") or "POST"),
            twiml=str(form["Twiml"]) if form.get("Twiml") else None,
            status_callback=str(form["StatusCallback"]) if form.get("StatusCallback") else None,
            status_callback_method=str(form.get("StatusCallbackMethod") or "POST"),
            status_callback_events=parse_status_events(
                [str(v) for v in form.getall("StatusCallbackEvent", [])]
            ),
            machine_detection=str(form["MachineDetection"]) if form.get("MachineDetection") else None,
            timeout=int(str(form["Timeout"])) if str(form.get("Timeout") or "").isdigit() else None,
            digits=state.config.call_digits.get(to, ""),
            record_seconds=state.config.record_seconds,
            base_url=str(request.url.origin()),
        )
        state.calls[call.sid] = call
        payload = call.to_twilio()
        self.calls.start_outbound(call)
        return await self._created(payload, fault)

    async def fetch_call(self, request: web.Request) -> web.Response:
        call = self._found(request, self.state.calls)
        if isinstance(call, web.Response):
            return call
        return _json(call.to_twilio())

    async def list_calls(self, request: web.Request) -> web.Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        query = dict(request.query)
        to, status = query.get("To"), query.get("Status")

        def matches(c: CallRecord) -> bool:
            return (to is None or c.to == to) and (status is None or c.status == status)

        return self._page(
            request, query, "calls", list(self.state.calls.values()), matches, CallRecord.to_twilio
        )

    def _found(self, request: web.Request, records: dict[str, Any]) -> Any:
        """The record named by the path's ``sid``, or the answer refusing the request
        (bad credentials 401, unknown SID 404) as Twilio gives it."""
        denied = self._denied(request)
        if denied is not None:
            return denied
        record = records.get(request.match_info["sid"])
        if record is None:
            return twilio_error(404, 20404, "The requested resource was not found")
        return record

    # --- paging ---------------------------------------------------------------------------

    def _page(
        self,
        request: web.Request,
        query: dict[str, str],
        key: str,
        records: list[Any],
        matches: Any,
        render: Any,
    ) -> web.Response:
        """Newest first, with Twilio's paging fields; PageToken = PA + last SID seen."""
        try:
            page_size = min(max(int(query.get("PageSize", _DEFAULT_PAGE_SIZE)), 1), _MAX_PAGE_SIZE)
            page = max(int(query.get("Page", 0)), 0)
        except ValueError:
            return twilio_error(400, 20001, "Invalid paging parameters")
        token = query.get("PageToken", "")
        items = _after_token(reversed(records), token[2:] if token.startswith("PA") else "")
        selected: list[Any] = []
        more = False
        for record in items:
            if not matches(record):
                continue
            if len(selected) == page_size:
                more = True
                break
            selected.append(record)
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}
        path = request.path

        def uri(page_number: int, page_token: str | None) -> str:
            params = {**filters, "PageSize": str(page_size), "Page": str(page_number)}
            if page_token:
                params["PageToken"] = page_token
            return f"{path}?{urlencode(params)}"

        start = page * page_size
        return _json(
            {
                key: [render(r) for r in selected],
                "end": start + max(len(selected) - 1, 0),
                "first_page_uri": uri(0, None),
                "next_page_uri": uri(page + 1, "PA" + selected[-1].sid) if more else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": uri(page - 1, None) if page > 0 else None,
                "start": start,
                "uri": uri(page, token or None),
            }
        )

    # --- recordings ---------------------------------------------------------------------

    async def recording(self, request: web.Request) -> web.Response:
        """A tiny stand-in audio file for any recording the simulator made."""
        sid = request.match_info["name"].split(".", 1)[0]
        known = any(r.sid == sid for c in self.state.calls.values() for r in c.recordings)
        if not known:
            raise web.HTTPNotFound()
        return web.Response(body=b"ID3\x03\x00\x00\x00\x00\x00\x00", content_type="audio/mpeg")


def _after_token(records: Iterable[Any], last_sid: str) -> Iterator[Any]:
    """Skip records up to and including the one named by the page token."""
    if not last_sid:
        yield from records
        return
    passed = False
    for record in records:
        if passed:
            yield record
        elif record.sid == last_sid:
            passed = True
