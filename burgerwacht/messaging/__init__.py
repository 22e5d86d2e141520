"""Messaging: the Twilio provider boundary, webhook signatures, TwiML and SMS encoding."""

from burgerwacht.messaging.encoding import SmsAnalysis, analyse, gsm7_fold, is_gsm7, segment_count
from burgerwacht.messaging.errors import (
    DeliveryErrorClass,
    InvalidNumber,
    NotMobile,
    OptedOut,
    PermanentFailure,
    ProviderError,
    ProviderRejected,
    ProviderUnreachable,
    QueueOverflow,
    RateLimited,
    UnknownOutcome,
    classify_delivery_error,
)
from burgerwacht.messaging.provider import SentMessage, StartedCall, TwilioProvider
from burgerwacht.messaging.twiml import sms_reply, twiml_response, voice_hangup, voice_response, voice_say
from burgerwacht.messaging.webhooks import SIGNATURE_HEADER, sign, verify_signature, webhook_url

__all__ = [
    "SIGNATURE_HEADER",
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
    "SentMessage",
    "SmsAnalysis",
    "StartedCall",
    "TwilioProvider",
    "UnknownOutcome",
    "analyse",
    "classify_delivery_error",
    "gsm7_fold",
    "is_gsm7",
    "segment_count",
    "sign",
    "sms_reply",
    "twiml_response",
    "verify_signature",
    "voice_hangup",
    "voice_response",
    "voice_say",
    "webhook_url",
]
