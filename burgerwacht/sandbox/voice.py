"""Simulated phone calls: fetch TwiML from the service and act it out.

The simulated callee listens (every ``<Say>`` goes into the transcript), presses the
keys scripted for its number at each ``<Gather>``, speaks for ``record_seconds`` at a
``<Record>`` and follows ``<Redirect>`` until ``<Hangup>`` or the end of the document,
posting signed requests exactly where Twilio would. A step limit stops TwiML loops.

``<Dial>`` rings its ``<Number>``s in order (the first that answers wins): a number
answers unless the scenario makes it busy, unanswered or invalid. An answering number
gets a child call (``outbound-dial``, its ``ParentCallSid`` the caller's call) that runs
the ``<Number url>`` TwiML, the whisper, before it is connected for
``dial_talk_seconds``; an unanswered one rings for the Dial's ``timeout`` in simulated
time (nothing waits). The Dial's ``action`` then gets ``DialCallStatus`` (and
``DialCallSid``, ``DialCallDuration``) and its TwiML continues the call; without an
``action`` the document goes on after the ``<Dial>``.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from typing import Any
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from burgerwacht.sandbox.sender import WebhookSender
from burgerwacht.sandbox.state import API_VERSION, CallRecord, Recording, SandboxState, new_sid, rfc2822

__all__ = ["CallRunner", "parse_status_events", "take_digits"]

#: The next request a verb asks for: (url, method, extra params, webhook kind).
NextRequest = tuple[str, str, dict[str, str], str]

_TOKEN = re.compile(r"[^,\s]+")
_SPOKEN_CHARS_PER_SECOND = 15


def parse_status_events(values: list[str]) -> frozenset[str]:
    """StatusCallbackEvent may be repeated or space-separated; default ``completed``."""
    events = frozenset(word for value in values for word in value.split())
    return events or frozenset({"completed"})


def take_digits(call: CallRecord, num_digits: int | None, finish_on_key: str) -> str:
    """Consume the keys for one ``<Gather>`` from the call's digit script.

    The script is consumed token by token (tokens separated by commas or spaces); a
    token longer than ``numDigits`` is split across gathers, and ``finishOnKey`` ends
    a token early (and is not part of the digits), as on a real keypad.
    """
    script = call.digit_script.lstrip(", \t")
    match = _TOKEN.match(script)
    if match is None:
        call.digit_script = ""
        return ""
    token, rest = match.group(), script[match.end() :]
    if finish_on_key and finish_on_key in token:
        token, _, tail = token.partition(finish_on_key)
        rest = tail + rest
    if num_digits and len(token) > num_digits:
        token, rest = token[:num_digits], token[num_digits:] + rest
    call.digit_script = rest
    return token


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class CallRunner:
    """Runs calls as background tasks (outbound) or inline (injected inbound calls)."""

    def __init__(self, state: SandboxState, sender: WebhookSender) -> None:
        self.state = state
        self.sender = sender
        self._slots = asyncio.Semaphore(state.config.call_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def start_outbound(self, call: CallRecord) -> None:
        """Run an API-created call in the background (in progress from now on)."""
        self.state.call_started(call)
        self.state.begin()
        task = asyncio.create_task(self._outbound(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- call lifecycles ----------------------------------------------------------------

    async def _outbound(self, call: CallRecord) -> None:
        try:
            async with self._slots:
                await self._status_event(call, "initiated")
                call.set_status("ringing")
                await self._status_event(call, "ringing")
                outcome = self._outcome(call)
                if outcome == "answered":
                    call.answered_by = self._answered_by(call)
                    call.start_time = time.time()
                    call.set_status("in-progress")
                    await self._status_event(call, "answered")
                    await self.converse(call)
                    outcome = "completed"
                if self.state.config.call_seconds > 0:  # the call lasts, in real time
                    await asyncio.sleep(self.state.config.call_seconds)
                call.set_status(outcome)
                call.end_time = time.time()
                # ended before its final callback is posted, as at Twilio: the service
                # may start the next call the moment that callback arrives
                self.state.call_ended(call)
                await self._status_event(call, "completed")
        finally:
            self.state.call_ended(call)
            call.done.set()
            self.state.end()

    async def run_inbound(self, call: CallRecord) -> None:
        """Run an injected inbound call to completion (the caller awaits the transcript)."""
        self.state.begin()
        try:
            async with self._slots:
                call.set_status("ringing")
                call.start_time = time.time()
                await self.converse(call)
                call.set_status("completed")
                call.end_time = time.time()
        finally:
            call.done.set()
            self.state.end()

    def _outcome(self, call: CallRecord) -> str:
        config = self.state.config
        if call.to in config.busy_numbers:
            return "busy"
        if call.to in config.no_answer_numbers or call.to in config.unreachable_numbers:
            return "no-answer"
        return "answered"

    def _answered_by(self, call: CallRecord) -> str | None:
        if not call.machine_detection:
            return None
        if call.to not in self.state.config.machine_numbers:
            return "human"
        return "machine_end_beep" if call.machine_detection == "DetectMessageEnd" else "machine_start"

    # --- webhooks -----------------------------------------------------------------------

    def _voice_params(self, call: CallRecord) -> dict[str, str]:
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
        }
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        if call.parent_call_sid:
            params["ParentCallSid"] = call.parent_call_sid
        return params

    async def _status_event(self, call: CallRecord, event: str) -> None:
        """Post one call progress event if the call asked for it."""
        config = self.state.config
        if not (config.callbacks and call.status_callback) or event not in call.status_callback_events:
            return
        params = self._voice_params(call)
        params.update(
            CallbackSource="call-progress-events",
            SequenceNumber=str(call.sequence),
            Timestamp=rfc2822(time.time()),
        )
        call.sequence += 1
        if event == "completed":
            params["CallDuration"] = str(call.duration)
        copies = 2 if self.state.chance(self.state.config.duplicate_rate) else 1
        for _ in range(copies):
            result = await self.sender.post(
                call.status_callback,
                params,
                kind="call-status",
                sid=call.sid,
                event=event,
                method=call.status_callback_method,
            )
            call.events.append(
                {
                    "type": "status-callback",
                    "event": event,
                    "status": call.status,
                    "http_status": result.http_status,
                }
            )
        if self.state.config.callback_delay > 0:
            await asyncio.sleep(self.state.config.callback_delay)

    async def _fetch(
        self, call: CallRecord, url: str, method: str, extra: dict[str, str], kind: str
    ) -> str | None:
        """Request TwiML; None (and an 11200 event) when the service fails to answer."""
        params = self._voice_params(call)
        params.update(extra)
        result = await self.sender.post(url, params, kind=kind, sid=call.sid, method=method)
        call.events.append({"type": "request", "kind": kind, "url": url, "http_status": result.http_status})
        if not result.ok:
            call.events.append(
                {"type": "error", "code": 11200, "detail": result.error or f"HTTP {result.http_status}"}
            )
            return None
        return result.text

    # --- TwiML --------------------------------------------------------------------------

    async def converse(self, call: CallRecord) -> None:
        """Fetch and execute TwiML documents until the call ends or the step limit hits."""
        url, method, extra, kind = call.url or "", call.method, {}, "voice-url"
        twiml = call.twiml
        for _ in range(self.state.config.max_call_steps):
            if twiml is None:
                twiml = await self._fetch(call, url, method, extra, kind)
                if twiml is None:
                    return
            if call.status == "ringing":
                call.set_status("in-progress")
            following = await self._execute(call, url, twiml)
            if following is None:
                return
            url, method, extra, kind = following
            twiml = None
        call.events.append({"type": "error", "code": 0, "detail": "step limit reached"})

    async def _execute(self, call: CallRecord, doc_url: str, text: str) -> NextRequest | None:
        try:
            root = fromstring(text)
        except (ParseError, DefusedXmlException, ValueError) as exc:
            call.events.append({"type": "error", "code": 12100, "detail": f"document parse failure: {exc}"})
            return None
        if root.tag != "Response":
            call.events.append({"type": "error", "code": 12100, "detail": f"root element {root.tag}"})
            return None
        for verb in root:
            if verb.tag in ("Say", "Play", "Pause"):
                self._media(call, verb)
            elif verb.tag == "Gather":
                following = self._gather(call, doc_url, verb)
                if following is not None:
                    return following
            elif verb.tag == "Record":
                following = await self._record(call, doc_url, verb)
                if following is not None:
                    return following
            elif verb.tag == "Dial":
                following = await self._dial(call, doc_url, verb)
                if following is not None:
                    return following
            elif verb.tag == "Redirect":
                target = urljoin(doc_url, (verb.text or "").strip())
                call.events.append({"type": "redirect", "url": target})
                return target, verb.get("method", "POST"), {}, "redirect"
            elif verb.tag in ("Hangup", "Reject"):
                call.events.append({"type": verb.tag.lower()})
                return None
            else:
                call.events.append({"type": "unsupported", "verb": verb.tag})
        return None

    def _media(self, call: CallRecord, verb: Element) -> None:
        """Say / Play / Pause: what the callee hears (and how long it takes)."""
        loop = max(_int(verb.get("loop"), 1), 1)
        if verb.tag == "Say":
            text = "".join(verb.itertext()).strip()
            entry: dict[str, Any] = {
                "text": text,
                "voice": verb.get("voice"),
                "language": verb.get("language"),
            }
            call.transcript.append(entry)
            call.events.append({"type": "say", **entry})
            call.duration += loop * max(1, math.ceil(len(text) / _SPOKEN_CHARS_PER_SECOND))
        elif verb.tag == "Play":
            call.events.append(
                {"type": "play", "url": (verb.text or "").strip(), "digits": verb.get("digits")}
            )
            call.duration += loop * 3
        else:
            length = _int(verb.get("length"), 1)
            call.events.append({"type": "pause", "length": length})
            call.duration += length

    def _gather(self, call: CallRecord, doc_url: str, verb: Element) -> NextRequest | None:
        for child in verb:
            if child.tag in ("Say", "Play", "Pause"):
                self._media(call, child)
        num_digits = _int(verb.get("numDigits"), 0) or None
        digits = take_digits(call, num_digits, verb.get("finishOnKey", "#"))
        action = urljoin(doc_url, verb.get("action") or doc_url)
        method = verb.get("method", "POST")
        if not digits:
            call.events.append({"type": "gather", "digits": None, "timeout": True})
            call.duration += _int(verb.get("timeout"), 5)
            if verb.get("actionOnEmptyResult") == "true":
                return action, method, {"Digits": ""}, "gather-action"
            return None
        call.digits_entered.append(digits)
        call.events.append({"type": "gather", "digits": digits})
        call.duration += 1
        return action, method, {"Digits": digits}, "gather-action"

    async def _record(self, call: CallRecord, doc_url: str, verb: Element) -> NextRequest | None:
        seconds = min(call.record_seconds, _int(verb.get("maxLength"), 3600))
        if seconds <= 0:
            call.events.append({"type": "record", "duration": 0})
            return None
        recording = Recording(sid=new_sid("RE"), url="", duration=seconds, call_sid=call.sid)
        recording.url = f"{call.base_url}/recordings/{recording.sid}.mp3"
        call.recordings.append(recording)
        call.duration += seconds
        call.events.append({"type": "record", "duration": seconds, "recording_sid": recording.sid})
        callback = verb.get("recordingStatusCallback")
        if callback:
            result = await self.sender.post(
                urljoin(doc_url, callback),
                {
                    "AccountSid": call.account_sid,
                    "CallSid": call.sid,
                    "ErrorCode": "0",
                    "RecordingChannels": "1",
                    "RecordingDuration": str(seconds),
                    "RecordingSid": recording.sid,
                    "RecordingSource": "RecordVerb",
                    "RecordingStartTime": rfc2822(time.time()),
                    "RecordingStatus": "completed",
                    "RecordingUrl": recording.url,
                },
                kind="recording-status",
                sid=recording.sid,
                event="completed",
                method=verb.get("recordingStatusCallbackMethod", "POST"),
            )
            call.events.append({"type": "recording-callback", "http_status": result.http_status})
        finish = verb.get("finishOnKey", "1234567890*#")
        extra = {
            "Digits": "#" if "#" in finish else "hangup",
            "RecordingDuration": str(seconds),
            "RecordingSid": recording.sid,
            "RecordingUrl": recording.url,
        }
        return (
            urljoin(doc_url, verb.get("action") or doc_url),
            verb.get("method", "POST"),
            extra,
            "record-action",
        )

    def _dial_outcome(self, number: str) -> str:
        config = self.state.config
        if number in config.invalid_numbers:
            return "failed"
        if number in config.busy_numbers:
            return "busy"
        if number in config.no_answer_numbers or number in config.unreachable_numbers:
            return "no-answer"
        return "answered"

    async def _dial(self, call: CallRecord, doc_url: str, verb: Element) -> NextRequest | None:
        """Ring the numbers; the first that answers hears its whisper and is connected."""
        numbers = [
            ((c.text or "").strip(), c.get("url"), c.get("method", "POST")) for c in verb if c.tag == "Number"
        ]
        if not numbers and (verb.text or "").strip():
            numbers = [((verb.text or "").strip(), None, "POST")]
        timeout = max(_int(verb.get("timeout"), 30), 1)
        status, child, talk = "no-answer", None, 0
        for number, url, method in numbers:
            outcome = self._dial_outcome(number)
            if outcome != "answered":
                status = outcome
                call.duration += timeout if outcome == "no-answer" else 1
                call.events.append({"type": "dial", "number": number, "status": outcome})
                continue
            child = CallRecord(
                sid=new_sid("CA"),
                account_sid=call.account_sid,
                to=number,
                from_=verb.get("callerId") or call.from_,
                direction="outbound-dial",
                url=urljoin(doc_url, url) if url else None,
                method=method,
                twiml="<Response/>" if not url else None,
                base_url=call.base_url,
                parent_call_sid=call.sid,
            )
            self.state.calls[child.sid] = child
            child.start_time = time.time()
            child.set_status("in-progress")
            await self.converse(child)  # the whisper, heard by the called party only
            talk = self.state.config.dial_talk_seconds
            child.duration += talk
            child.set_status("completed")
            child.end_time = time.time()
            child.done.set()
            call.duration += talk
            status = "completed"
            whisper = " ".join(t["text"] for t in child.transcript if t.get("text"))
            call.events.append(
                {
                    "type": "dial",
                    "number": number,
                    "status": "completed",
                    "dial_call_sid": child.sid,
                    "duration": talk,
                    "whisper": whisper,
                }
            )
            break
        call.transcript.append({"dial": [n for n, _, _ in numbers], "status": status, "text": ""})
        action = verb.get("action")
        if not action:
            return None
        extra = {"DialCallStatus": status}
        if child is not None:
            extra.update(DialCallSid=child.sid, DialCallDuration=str(talk))
        return urljoin(doc_url, action), verb.get("method", "POST"), extra, "dial-action"
