"""How long an alert takes to go out, for the preview (``estimated_seconds``).

SMS and calls have separate provider limits and go out side by side, so the estimate is
the longer of the two channels. SMS: ``n / twilio.sms_rate``. Calls have two limits
(issue 16): Twilio starts at most ``twilio.calls_per_second`` and keeps at most
``twilio.max_concurrent_calls`` in progress, and a call holds its place for as long as
it lasts, so ``n`` calls take about

    max(n / calls_per_second, n × expected call seconds / max_concurrent_calls)

(the first term when calls are short or the limit high, the second when every place is
taken and each new call waits for one to end).

**The expected call.** What an alert call lasts (:func:`expected_call_seconds`): the
ring until it is answered, then what ``callbacks.alert_twiml`` says (intro, a second's
pause, the message, the menu), the menu's wait for a key, and the closing words.

* ``RING_SECONDS`` = 15: a mobile that is picked up rings ~10 s on average, an
  unanswered one the whole ring timeout (30 s, ``worker.RING_TIMEOUT``), voicemail
  answers after ~20 s; 15 s is a middle for a mix of them.
* ``SPOKEN_CHARS_PER_SECOND`` = 15: text-to-speech speaks ~160 words a minute, Dutch
  words are ~5.5 characters with their space: ~15 characters a second (the simulator
  times ``<Say>`` the same way).
* ``MENU_WAIT_SECONDS`` = 6: the ``<Gather>`` timeout after the menu.

Residents who asked for slow or repeated speech, and those who press 1 or 2, make some
calls longer; the estimate is for the usual call.
"""

from __future__ import annotations

import math

from burgerwacht.texts import text

RING_SECONDS = 15
SPOKEN_CHARS_PER_SECOND = 15
MENU_WAIT_SECONDS = 6
PAUSE_SECONDS = 1  # the <Pause> after the intro


def expected_call_seconds(voice_text: str) -> float:
    """Seconds an alert call saying ``voice_text`` lasts, ring included (module docstring)."""
    spoken = [text("voice_intro"), voice_text, text("voice_menu"), text("voice_outro")]
    speech = sum(math.ceil(len(part) / SPOKEN_CHARS_PER_SECOND) for part in spoken if part)
    return float(RING_SECONDS + PAUSE_SECONDS + speech + MENU_WAIT_SECONDS)


def calls_seconds(calls: int, per_second: float, concurrent: int, call_seconds: float) -> tuple[float, str]:
    """Seconds until ``calls`` calls are out under both limits, and which limit binds."""
    by_rate = calls / per_second
    by_concurrency = calls * call_seconds / concurrent
    if by_concurrency > by_rate:
        return by_concurrency, "max_concurrent_calls"
    return by_rate, "calls_per_second"
