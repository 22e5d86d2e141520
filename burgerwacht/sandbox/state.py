"""In-memory state of the simulator: messages, calls, posted webhooks, counters.

Plain dicts and lists, owned by one event loop, so nothing needs locking. The REST
create path runs thousands of times a second in benchmarks: records use ``__slots__``,
dates are formatted once per second, and decisions that need randomness only draw
from the seeded generator when the scenario enables them.
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from burgerwacht.sandbox.config import SandboxConfig

__all__ = [
    "API_VERSION",
    "CallRecord",
    "MessageRecord",
    "SandboxState",
    "TokenBucket",
    "iso",
    "new_sid",
    "rfc2822",
]

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")

#: Twilio's magic test numbers (test credentials) → (HTTP status, code, message).
MAGIC_REJECTIONS: dict[str, tuple[int, int, str]] = {
    "+15005550001": (400, 21211, "Invalid 'To' Phone Number"),
    "+15005550002": (400, 21612, "The 'To' phone number is not currently reachable via SMS"),
    "+15005550003": (400, 21408, "Permission to send an SMS has not been enabled for the region"),
    "+15005550004": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (400, 21614, "'To' number is not a valid mobile number"),
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_rfc_cache: tuple[int, str] = (-1, "")


def rfc2822(ts: float) -> str:
    """Twilio's date format (``Thu, 24 Aug 2023 05:01:45 +0000``), cached per second."""
    global _rfc_cache
    second = int(ts)
    if _rfc_cache[0] == second:
        return _rfc_cache[1]
    t = time.gmtime(second)
    text = (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )
    _rfc_cache = (second, text)
    return text


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC for the inspection endpoints."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits, random (unique across runs)."""
    return prefix + os.urandom(16).hex()


class TokenBucket:
    """Requests per second with a one-second burst, as Twilio's per-account limits."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def ready(self) -> bool:
        """Whether a token is there (without taking it)."""
        self._refill()
        return self.tokens >= 1.0

    def take(self) -> bool:
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def retry_after(self) -> int:
        """Whole seconds until a token is there (Retry-After; at least 1)."""
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


#: Statuses of a message that has left Twilio (date_sent is set from then on).
_SENT = frozenset({"sent", "delivered", "undelivered", "read"})
#: Statuses after which nothing changes: a message may then be redacted or deleted.
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "received", "canceled", "read"})

_STATUS_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 1,
    "received": 4,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
}


class MessageRecord:
    """One SMS, outbound or inbound."""

    __slots__ = (
        "account_sid",
        "body",
        "created_at",
        "deleted",
        "direction",
        "error_code",
        "from_",
        "history",
        "media",
        "num_segments",
        "sent_at",
        "seq",
        "sid",
        "status",
        "status_callback",
        "to",
        "updated_at",
        "validity_period",
    )

    def __init__(
        self,
        *,
        sid: str,
        seq: int,
        account_sid: str,
        to: str,
        from_: str,
        body: str,
        direction: str,
        status: str,
        num_segments: int,
        status_callback: str | None = None,
        validity_period: int | None = None,
    ) -> None:
        now = time.time()
        self.sid = sid
        self.seq = seq
        self.account_sid = account_sid
        self.to = to
        self.from_ = from_
        self.body = body
        self.direction = direction
        self.status = status
        self.num_segments = num_segments
        self.status_callback = status_callback
        self.validity_period = validity_period
        self.created_at = now
        self.updated_at = now
        # Twilio's date_sent: when an outbound message left Twilio (null while it is
        # queued or sending, and for one that failed before leaving); for an inbound one,
        # when the webhook request was made
        self.sent_at: float | None = now if direction == "inbound" else None
        self.deleted = False
        self.error_code: int | None = None
        self.history: list[tuple[str, float]] = [(status, now)]
        # MediaUrl of an MMS, each with what the simulator's fetch of it found (as Twilio
        # fetches media before sending): url, http_status, content_type, bytes, error, fetched_at
        self.media: list[dict[str, Any]] = []

    def advance(self, status: str, error_code: int | None) -> None:
        """Record a status step; the current status only moves forward."""
        now = time.time()
        self.history.append((status, now))
        if status in _SENT and self.sent_at is None:
            self.sent_at = now
        if _STATUS_RANK.get(status, 0) >= _STATUS_RANK.get(self.status, 0):
            self.status = status
            self.updated_at = now
            if error_code is not None:
                self.error_code = error_code

    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def to_twilio(self) -> dict[str, Any]:
        """The Message resource as Twilio's REST API renders it."""
        uri = self.uri()
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.created_at),
            "date_sent": None if self.sent_at is None else rfc2822(self.sent_at),
            "date_updated": rfc2822(self.updated_at),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": None if self.error_code is None else f"Error {self.error_code}",
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": str(len(self.media)),
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "EUR",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": uri[:-5] + "/Media.json", "feedback": uri[:-5] + "/Feedback.json"},
            "to": self.to,
            "uri": uri,
        }

    def to_inspect(self) -> dict[str, Any]:
        """The simulator's own view (status history included)."""
        return {
            "sid": self.sid,
            "direction": self.direction,
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "status": self.status,
            "error_code": self.error_code,
            "status_history": [{"status": s, "at": iso(t)} for s, t in self.history],
            "validity_period": self.validity_period,
            "num_segments": self.num_segments,
            "status_callback": self.status_callback,
            "date_created": iso(self.created_at),
            "media": [dict(m) for m in self.media],
        }


@dataclass
class Recording:
    sid: str
    url: str
    duration: int
    call_sid: str


class CallRecord:
    """One voice call and everything the simulated callee heard and did."""

    def __init__(
        self,
        *,
        sid: str,
        account_sid: str,
        to: str,
        from_: str,
        direction: str,
        url: str | None,
        method: str = "POST",
        twiml: str | None = None,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_events: frozenset[str] = frozenset({"completed"}),
        machine_detection: str | None = None,
        timeout: int | None = None,
        digits: str = "",
        record_seconds: int = 5,
        base_url: str = "",
        parent_call_sid: str | None = None,
    ) -> None:
        self.sid = sid
        self.parent_call_sid = parent_call_sid
        self.account_sid = account_sid
        self.to = to
        self.from_ = from_
        self.direction = direction
        self.url = url
        self.method = method
        self.twiml = twiml
        self.status_callback = status_callback
        self.status_callback_method = status_callback_method
        self.status_callback_events = status_callback_events
        self.machine_detection = machine_detection
        self.timeout = timeout
        self.digit_script = digits
        self.record_seconds = record_seconds
        self.base_url = base_url
        self.status = "queued"
        self.answered_by: str | None = None
        self.created_at = time.time()
        self.updated_at = self.created_at
        self.start_time: float | None = None
        self.end_time: float | None = None
        self.duration = 0
        self.sequence = 0
        self.transcript: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.digits_entered: list[str] = []
        self.recordings: list[Recording] = []
        self.done = asyncio.Event()

    def set_status(self, status: str) -> None:
        self.status = status
        self.updated_at = time.time()

    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"

    def to_twilio(self) -> dict[str, Any]:
        """The Call resource as Twilio's REST API renders it."""
        base = self.uri()[:-5]
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.created_at),
            "date_updated": rfc2822(self.updated_at),
            "direction": self.direction,
            "duration": str(self.duration) if self.end_time else None,
            "end_time": rfc2822(self.end_time) if self.end_time else None,
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": self.parent_call_sid,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "EUR",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time) if self.start_time else None,
            "status": self.status,
            "subresource_uris": {
                "recordings": base + "/Recordings.json",
                "notifications": base + "/Notifications.json",
                "events": base + "/Events.json",
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": self.uri(),
        }

    def to_inspect(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "direction": self.direction,
            "parent_call_sid": self.parent_call_sid,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "answered_by": self.answered_by,
            "duration": self.duration,
            "transcript": self.transcript,
            "digits": self.digits_entered,
            "recordings": [
                {"sid": r.sid, "url": r.url, "duration": r.duration, "call_sid": r.call_sid}
                for r in self.recordings
            ],
            "events": self.events,
            "date_created": iso(self.created_at),
            "done": self.done.is_set(),
        }


class SandboxState:
    """All simulator state plus the scenario-derived lookups used per request."""

    def __init__(self, config: SandboxConfig) -> None:
        self.initial_config = config
        self.generation = 0
        self.closing = asyncio.Event()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.configure(config)
        self.clear()

    # --- configuration --------------------------------------------------------------

    def configure(self, config: SandboxConfig) -> None:
        """Install a scenario and precompute what the hot path needs from it."""
        self.config = config
        self.rng = random.Random(config.seed)
        self.sms_bucket = TokenBucket(config.sms_per_second) if config.sms_per_second else None
        self.call_bucket = TokenBucket(config.calls_per_second) if config.calls_per_second else None
        self.sender_buckets: dict[str, TokenBucket] = {}
        token = base64.b64encode(f"{config.account_sid}:{config.auth_token}".encode()).decode()
        self.expected_authorization = f"Basic {token}"
        rejections = dict(MAGIC_REJECTIONS)
        for number in config.invalid_numbers:
            rejections[number] = (400, 21211, f"The 'To' number {number} is not a valid phone number.")
        for number in config.not_mobile_numbers:
            rejections[number] = (400, 21614, f"'To' number {number} is not a valid mobile number")
        for number in config.opted_out_numbers:
            rejections[number] = (400, 21610, "Attempt to send to unsubscribed recipient")
        self.rejections = rejections
        errors = dict(config.delivery_errors)
        errors.update(dict.fromkeys(config.landline_numbers, 30006))
        errors.update(dict.fromkeys(config.unreachable_numbers, 30003))
        self.delivery_errors = errors

    def clear(self) -> None:
        """Forget all records; webhooks still in flight from before are dropped."""
        self.generation += 1
        self.messages: dict[str, MessageRecord] = {}
        self.message_list: list[MessageRecord] = []
        self.messages_by_to: dict[str, list[MessageRecord]] = {}
        self.calls: dict[str, CallRecord] = {}
        # media of inbound picture messages by Media SID (sandbox/media.py)
        self.media: dict[str, Any] = {}
        self.callbacks: list[dict[str, Any]] = []
        self.counters: Counter[str] = Counter()
        self._seq = 0
        self._creates = 0
        #: outbound API calls in progress (created, not ended) and the most seen at once
        self.live_calls: set[str] = set()
        self.max_calls_in_progress = 0

    def reset(self) -> None:
        """Back to the startup scenario with no records."""
        self.configure(self.initial_config)
        self.clear()

    # --- records ----------------------------------------------------------------------

    def delete_message(self, record: MessageRecord) -> None:
        """DELETE of a message: gone from the REST API's fetch and list; the simulator's
        own record (/sandbox/messages, what tests judge by) keeps it."""
        self.messages.pop(record.sid, None)
        record.deleted = True

    def add_message(self, record: MessageRecord) -> None:
        self.messages[record.sid] = record
        self.message_list.append(record)
        by_to = self.messages_by_to.get(record.to)
        if by_to is None:
            self.messages_by_to[record.to] = [record]
        else:
            by_to.append(record)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def call_started(self, call: CallRecord) -> None:
        """An outbound call was created: it is in progress until :meth:`call_ended`."""
        self.live_calls.add(call.sid)
        self.max_calls_in_progress = max(self.max_calls_in_progress, len(self.live_calls))

    def call_ended(self, call: CallRecord) -> None:
        self.live_calls.discard(call.sid)

    def over_call_concurrency(self) -> bool:
        """Whether a new outbound call would exceed the account's concurrency limit."""
        limit = self.config.max_concurrent_calls
        return limit is not None and len(self.live_calls) >= limit

    # --- scenario decisions -------------------------------------------------------------

    def chance(self, rate: float) -> bool:
        """Seeded coin flip; draws nothing when the rate is 0 (keeps runs reproducible)."""
        return rate > 0.0 and self.rng.random() < rate

    def fault(self) -> str | None:
        """Which injected fault (if any) hits this create: error, error_after,
        hang_before, hang_after (the ``_after`` ones once the record exists)."""
        config = self.config
        if self.chance(config.error_rate):
            return "error_after" if self.chance(config.error_after_share) else "error"
        if self.chance(config.timeout_rate):
            # the same draw as before the share was configurable: seeded runs keep their faults
            return "hang_before" if self.rng.random() < 1.0 - config.hang_after_share else "hang_after"
        return None

    def sender_bucket(self, sender: str | None) -> TokenBucket | None:
        """The per-sender SMS bucket of a From number (None: no per-sender limit)."""
        rate = self.config.sms_per_sender_per_second
        if not rate or not sender:
            return None
        bucket = self.sender_buckets.get(sender)
        if bucket is None:
            bucket = self.sender_buckets[sender] = TokenBucket(rate)
        return bucket

    def in_rate_limit_burst(self) -> bool:
        """Whether this create falls in a scripted burst of 429s (counts every create)."""
        every, length = self.config.rate_limit_burst_every, self.config.rate_limit_burst_length
        if every <= 0 or length <= 0:
            return False
        position = self._creates % every
        self._creates += 1
        return position < length

    async def hang(self) -> None:
        """Stall a response for hang_seconds (cut short when the app shuts down)."""
        try:
            await asyncio.wait_for(self.closing.wait(), timeout=self.config.hang_seconds)
        except TimeoutError:
            pass

    # --- background work accounting ------------------------------------------------------

    def begin(self) -> None:
        self._pending += 1
        self._idle.clear()

    def end(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    @property
    def pending(self) -> int:
        return self._pending

    async def wait_idle(self, seconds: float) -> bool:
        """Wait until every queued webhook and running call is finished."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    def stats(self) -> dict[str, Any]:
        by_status: Counter[str] = Counter(m.status for m in self.message_list)
        calls_by_status: Counter[str] = Counter(c.status for c in self.calls.values())
        posted = len(self.callbacks)
        failed = sum(1 for c in self.callbacks if not (c["http_status"] and 200 <= c["http_status"] < 300))
        return {
            "messages": {
                "total": len(self.message_list),
                "outbound": sum(1 for m in self.message_list if not m.direction.startswith("inbound")),
                "inbound": sum(1 for m in self.message_list if m.direction.startswith("inbound")),
                "by_status": dict(by_status),
            },
            "calls": {
                "total": len(self.calls),
                "by_status": dict(calls_by_status),
                "in_progress": len(self.live_calls),
                "max_in_progress": self.max_calls_in_progress,
            },
            "callbacks": {"posted": posted, "failed": failed, "pending": self._pending},
            "requests": dict(self.counters),
        }
