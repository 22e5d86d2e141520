"""TwiML responses for webhooks, built with the SDK's TwiML classes.

Building TwiML with the SDK (not string templates) escapes resident-supplied text
correctly, so a tip containing ``<`` or ``&`` cannot break the document.
"""

from __future__ import annotations

from functools import lru_cache

from aiohttp import web
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

__all__ = [
    "DUTCH",
    "DUTCH_VOICE",
    "VOICES",
    "say",
    "sms_reply",
    "twiml_response",
    "voice_hangup",
    "voice_of",
    "voice_response",
    "voice_say",
]

TWIML_CONTENT_TYPE = "text/xml"
DUTCH = "nl-NL"
DUTCH_VOICE = "Polly.Lotte"
# the voice per resident language (issue 19): English residents hear an English voice
VOICES = {
    "nl": {"voice": DUTCH_VOICE, "language": DUTCH},
    "en": {"voice": "Polly.Joanna", "language": "en-US"},
}
SLOW_RATE = "slow"  # SSML <prosody rate>: for residents who asked for slow speech


def voice_of(language: str | None) -> dict[str, str]:
    """``voice`` and ``language`` attributes of ``<Say>`` for a resident language (Dutch default)."""
    return VOICES.get(language or "nl", VOICES["nl"])


def say(parent: VoiceResponse | TwiML, text: str, *, language: str | None = "nl", slow: bool = False) -> None:
    """``<Say>`` the text in the language's voice; ``slow`` wraps it in SSML
    ``<prosody rate="slow">`` (Polly voices honour it)."""
    if slow:
        element = parent.say(voice=voice_of(language)["voice"], language=voice_of(language)["language"])
        element.prosody(text, rate=SLOW_RATE)
    else:
        parent.say(text, **voice_of(language))


def twiml_response(document: TwiML, *, status: int = 200) -> web.Response:
    """Serve any TwiML document as ``text/xml; charset=utf-8``."""
    return web.Response(text=document.to_xml(), content_type=TWIML_CONTENT_TYPE, status=status)


@lru_cache(maxsize=512)
def _message_xml(text: str | None) -> str:
    response = MessagingResponse()
    if text:
        response.message(text)
    return response.to_xml()


def sms_reply(text: str | None) -> web.Response:
    """``<Response><Message>text</Message></Response>``, or an empty ``<Response/>``.

    An empty response acknowledges the inbound SMS without replying (no cost). Replies
    come from a small set of texts, so the serialised TwiML is cached.
    """
    return web.Response(text=_message_xml(text), content_type=TWIML_CONTENT_TYPE)


def voice_response(document: VoiceResponse) -> web.Response:
    """Serve a voice TwiML document built by the caller."""
    return twiml_response(document)


def voice_say(
    text: str, *, voice: str = DUTCH_VOICE, language: str = DUTCH, hangup: bool = True
) -> web.Response:
    """Say one text (Dutch voice by default), then hang up unless told otherwise."""
    response = VoiceResponse()
    response.say(text, voice=voice, language=language)
    if hangup:
        response.hangup()
    return twiml_response(response)


def voice_hangup() -> web.Response:
    """End the call without saying anything."""
    response = VoiceResponse()
    response.hangup()
    return twiml_response(response)
