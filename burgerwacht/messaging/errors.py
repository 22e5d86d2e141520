"""Typed provider errors and the classification of delivery error codes.

The dispatch worker decides between "retry now", "reconcile first", "never again" and
"try a call instead" from these types alone, so every Twilio failure is mapped here
once. The distinction that matters most is between a request Twilio certainly did not
process (429: resend freely) and one whose outcome is unknown (timeout, 5xx: the SMS
may exist, so look it up before resending; Twilio messages have no idempotency key).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

__all__ = [
    "DeliveryErrorClass",
    "InvalidNumber",
    "NotMobile",
    "OptedOut",
    "PermanentFailure",
    "ProviderError",
    "ProviderRejected",
    "ProviderUnreachable",
    "QueueOverflow",
    "RateLimited",
    "UnknownOutcome",
    "classify_delivery_error",
    "error_from_response",
]


class ProviderError(Exception):
    """Any failure talking to the messaging provider.

    ``retry`` says whether sending the same request again is safe without first
    checking whether the first attempt took effect.
    """

    retry: ClassVar[bool] = False
    #: True when the request may have taken effect: reconcile before a resend.
    reconcile: ClassVar[bool] = False

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, status={self.status}, message={self.message!r})"


class RateLimited(ProviderError):
    """HTTP 429 / code 20429: Twilio did not process the request; resend later.

    ``retry_after`` is the answer's ``Retry-After`` in seconds, when it had one."""

    retry = True
    retry_after: float | None = None


class QueueOverflow(RateLimited):
    """21611 / 30001: the sender's queue is full; slow down, then resend."""


class PermanentFailure(ProviderError):
    """The recipient can never get this message on this channel: do not retry."""


class InvalidNumber(PermanentFailure):
    """21211: the To number is not a valid phone number."""


class NotMobile(PermanentFailure):
    """21614: the To number cannot receive SMS (likely a landline; a call may work)."""


class OptedOut(PermanentFailure):
    """21610: the recipient replied STOP to our number; treat the resident as opted out."""


class ProviderRejected(ProviderError):
    """Any other 4xx: our request or account is wrong (credentials, parameters)."""


class UnknownOutcome(ProviderError):
    """Timeout, connection loss or 5xx: the message MAY have been created.

    Resending blindly can send it twice; look it up with ``find_messages`` first.
    """

    reconcile = True


class ProviderUnreachable(UnknownOutcome):
    """The connection could not be opened, so nothing was sent.

    A subclass of :class:`UnknownOutcome` so callers that only know that class stay
    correct; reconciling finds nothing and the resend is then safe.
    """


_RATE_LIMIT_CODES = frozenset({20429})
_QUEUE_OVERFLOW_CODES = frozenset({21611, 30001})
_BY_CODE: dict[int, type[ProviderError]] = {
    21211: InvalidNumber,
    21614: NotMobile,
    21610: OptedOut,
}


def error_from_response(status: int | None, code: int | None, message: str) -> ProviderError:
    """Map an HTTP status and Twilio error code to the matching typed error."""
    if status == 429 or code in _RATE_LIMIT_CODES:
        return RateLimited(message, code=code, status=status)
    if code in _QUEUE_OVERFLOW_CODES:
        return QueueOverflow(message, code=code, status=status)
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code](message, code=code, status=status)
    if status is None or status >= 500:
        return UnknownOutcome(message, code=code, status=status)
    return ProviderRejected(message, code=code, status=status)


class DeliveryErrorClass(StrEnum):
    """What an ErrorCode in a status callback means for the next step."""

    UNREACHABLE = "unreachable"  # 30003: handset off or out of coverage
    LANDLINE = "landline"  # 30006: cannot receive SMS
    UNKNOWN_HANDSET = "unknown_handset"  # 30005: number does not exist
    FILTERED = "filtered"  # 30007: carrier spam filter
    UNKNOWN = "unknown"  # 30008: unknown error
    QUEUE_OVERFLOW = "queue_overflow"  # 30001 / 21611: too many queued
    OPTED_OUT = "opted_out"  # 21610: recipient sent STOP
    INVALID = "invalid"  # 21211 / 21614: not a (mobile) number
    OTHER = "other"

    @property
    def retry_once(self) -> bool:
        """At most one more SMS attempt is worth it (after a delay)."""
        return self in _RETRY_ONCE

    @property
    def fallback_to_voice(self) -> bool:
        """A voice call may reach the resident where the SMS did not."""
        return self in _FALLBACK_TO_VOICE

    @property
    def slow_down(self) -> bool:
        """The provider is overloaded: lower the send rate before retrying."""
        return self is DeliveryErrorClass.QUEUE_OVERFLOW

    @property
    def permanent(self) -> bool:
        """This number will not receive SMS: never resend this message by SMS."""
        return self in _PERMANENT

    @property
    def retry_delay_seconds(self) -> float:
        """Suggested wait before the single retry (0 when no retry)."""
        return _RETRY_DELAY.get(self, 0.0)


_RETRY_ONCE = frozenset(
    {DeliveryErrorClass.UNREACHABLE, DeliveryErrorClass.UNKNOWN, DeliveryErrorClass.QUEUE_OVERFLOW}
)
_FALLBACK_TO_VOICE = frozenset({DeliveryErrorClass.UNREACHABLE, DeliveryErrorClass.LANDLINE})
_PERMANENT = frozenset(
    {
        DeliveryErrorClass.LANDLINE,
        DeliveryErrorClass.UNKNOWN_HANDSET,
        DeliveryErrorClass.FILTERED,
        DeliveryErrorClass.OPTED_OUT,
        DeliveryErrorClass.INVALID,
    }
)
_RETRY_DELAY = {
    DeliveryErrorClass.UNREACHABLE: 300.0,
    DeliveryErrorClass.UNKNOWN: 60.0,
    DeliveryErrorClass.QUEUE_OVERFLOW: 30.0,
}
_DELIVERY_CODES: dict[int, DeliveryErrorClass] = {
    30003: DeliveryErrorClass.UNREACHABLE,
    30006: DeliveryErrorClass.LANDLINE,
    30005: DeliveryErrorClass.UNKNOWN_HANDSET,
    30007: DeliveryErrorClass.FILTERED,
    30008: DeliveryErrorClass.UNKNOWN,
    30001: DeliveryErrorClass.QUEUE_OVERFLOW,
    21611: DeliveryErrorClass.QUEUE_OVERFLOW,
    21610: DeliveryErrorClass.OPTED_OUT,
    21211: DeliveryErrorClass.INVALID,
    21614: DeliveryErrorClass.INVALID,
}


def classify_delivery_error(error_code: int | str | None) -> DeliveryErrorClass:
    """Classify the ErrorCode of an ``undelivered``/``failed`` status callback.

    Accepts the raw form value too (callbacks carry it as text). A missing or
    unrecognised code is ``OTHER``: no automatic retry, because an unexplained failure
    repeated to thousands of residents costs money and trust.
    """
    if isinstance(error_code, str):
        text = error_code.strip()
        error_code = int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None
    if error_code is None:
        return DeliveryErrorClass.OTHER
    return _DELIVERY_CODES.get(error_code, DeliveryErrorClass.OTHER)
