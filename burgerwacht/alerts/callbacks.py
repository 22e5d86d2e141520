"""Provider callbacks for deliveries and the TwiML of alert calls.

Callbacks carry the delivery id and attempt number in their URL, so they apply even if
they arrive before the worker has recorded the provider id, and a late callback of an
earlier attempt is ignored. States only move forward.
"""

from __future__ import annotations

import logging

import asyncpg
from twilio.twiml.voice_response import Gather, VoiceResponse

from burgerwacht import metrics
from burgerwacht.alerts import states, store
from burgerwacht.events import publish
from burgerwacht.messaging import classify_delivery_error, twiml
from burgerwacht.texts import text

log = logging.getLogger(__name__)


def _earlier(new_state: str) -> list[str]:
    return [s for s, r in states.RANK.items() if r < states.RANK[new_state] and s not in states.TERMINAL]


async def apply_callback(
    conn: asyncpg.Connection,
    delivery_id: int,
    attempt: int,
    new_state: str,
    sid: str | None,
    error_code: int | None,
    channel: str,
) -> bool:
    async with conn.transaction():
        if channel == "voice" and new_state in states.TERMINAL:
            # the call has ended: its place among the calls in progress is free (also
            # for a duplicate or late callback, which moves nothing else)
            await store.release_call_slot(conn, delivery_id, attempt)
        row = await store.apply_status(
            conn, delivery_id, attempt, new_state, _earlier(new_state), sid, error_code
        )
        if row is None:
            return False  # duplicate, out of order, or an old attempt: nothing moves back
        if channel == "sms" and new_state in ("undelivered", "failed") and row["resident_id"]:
            await _after_sms_failure(conn, row, error_code)
        await publish(conn, [f"alert:{row['alert_id']}"], {"type": "progress", "alert_id": row["alert_id"]})
    # counted once committed: a commit that fails is applied again later (and counted then)
    metrics.CALLBACK_STATES.labels(new_state, channel).inc()
    return True


async def _after_sms_failure(conn: asyncpg.Connection, row: asyncpg.Record, error_code: int | None) -> None:
    cls = classify_delivery_error(error_code)
    if getattr(cls, "permanent", False) and cls.name == "OPTED_OUT":
        await store.stop_resident(conn, row["resident_id"])
        return
    if cls.fallback_to_voice and await store.resident_allows_voice(conn, row["resident_id"]):
        if await store.add_fallback(conn, row, "voice"):
            log.info("SMS delivery %s undeliverable (%s): falling back to a call", row["id"], error_code)
            return
    if cls.retry_once:
        delay = float(getattr(cls, "retry_delay_seconds", 60) or 60)
        if await store.retry_later(conn, row["id"], delay):
            log.info("SMS delivery %s failed (%s): one retry in %.0f s", row["id"], error_code, delay)


EXERCISE_SPOKEN = "Dit is een oefening."  # the first words of every call of an exercise


def alert_twiml(d: asyncpg.Record, base: str, answered_by: str | None) -> str:
    """The alert call in the resident's language (an English voice and ``voice_message_en``
    or ``message_en`` for ``en``, else Dutch), slowly and/or twice when they asked (issue 19).
    A call of an exercise starts with "Dit is een oefening" (in a Dutch voice)."""
    lang = d["language"] if d["language"] in ("nl", "en") else "nl"
    slow, twice = bool(d["slow_speech"]), bool(d["repeat_message"])

    def say(parent: VoiceResponse | Gather, words: str) -> None:
        twiml.say(parent, words, language=lang, slow=slow)

    doc = VoiceResponse()
    if d.get("alert_mode") == "exercise":
        twiml.say(doc, EXERCISE_SPOKEN, language="nl", slow=slow)
    if d["kind"] == "closing":
        say(doc, text("voice_intro", lang))
        say(
            doc,
            text(
                "voice_closing", lang, reference=" ".join(d["reference"]), message=d["closing_message"] or ""
            ),
        )
        doc.hangup()
        return str(doc)
    update = d["update_voice_message"] or d["update_message"]
    english = lang == "en" and not update and (d["voice_message_en"] or d["message_en"])
    if not english:
        lang = "nl"  # no English text (follow-ups are Dutch only): the Dutch one, in a Dutch voice
    if d["kind"] == "update":
        message = f"Vervolgbericht bij het bericht met kenmerk {' '.join(d['reference'])}. {update or ''}"
    else:
        message = english or d["voice_message"] or d["message"]
        if update:  # a start call after a follow-up: the latest news too
            message += f" Vervolgbericht: {update}"

    def body(parent: VoiceResponse | Gather) -> None:
        say(parent, message)
        if twice:
            say(parent, text("voice_again", lang))
            say(parent, message)

    if d["kind"] == "update":
        say(doc, text("voice_intro", lang))
        body(doc)
        say(doc, text("voice_outro", lang))
        doc.hangup()
        return str(doc)
    if answered_by and answered_by.startswith("machine"):
        # voicemail: the message once (twice if asked), after the beep, no menu
        say(doc, text("voice_intro", lang))
        body(doc)
        say(doc, text("voice_outro", lang))
        doc.hangup()
        return str(doc)
    gather = Gather(num_digits=1, action=f"{base}/twilio/voice/menu/{d['id']}", method="POST", timeout=6)
    say(gather, text("voice_intro", lang))
    gather.pause(length=1)
    body(gather)
    say(gather, text("voice_menu", lang))
    doc.append(gather)
    say(doc, text("voice_outro", lang))
    doc.hangup()
    return str(doc)


def menu_twiml(d: asyncpg.Record, base: str, digit: str) -> str:
    doc = VoiceResponse()
    if digit == "1":
        doc.redirect(f"{base}/twilio/voice/alert/{d['id']}", method="POST")
    elif digit == "2":
        doc.redirect(f"{base}/twilio/voice/tip/{d['id']}", method="POST")
    else:
        twiml.say(doc, text("voice_outro", d["language"] or "nl"), language=d["language"])
        doc.hangup()
    return str(doc)
