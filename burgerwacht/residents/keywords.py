"""Keyword commands in SMS sent to the service number.

Matching rules (case-insensitive; Unicode is NFKC-normalised, so full-width letters
and odd spaces are fine):

* **Whole-message keywords** match only when the *entire* message is that one word,
  ignoring surrounding whitespace and the punctuation ``. , ! ? : ; -``. This is how
  Twilio recognises its opt-out/opt-in words, and it keeps tips that happen to start
  with such a word ("stop de auto is gezien", "help er ligt iemand op straat",
  "info over de auto") as tips.

  =====================================================================  ==========
  words                                                                  command
  =====================================================================  ==========
  STOP, AFMELDEN, STOPPEN, UITSCHRIJVEN, STOPALL, UNSUBSCRIBE, CANCEL,   Stop
  END, QUIT, REVOKE, OPTOUT (Twilio's opt-out words)
  START, JOIN, UNSTOP, YES (Twilio's opt-in words)                       Resume
  VERWIJDER, VERWIJDEREN, DELETE                                         Erase
  INFO, HELP, HULP                                                       Help
  AANMELDEN (alone)                                                      Enrol(None)
  SIGNAAL / ANONIEM (alone)                                              Signal("") / AnonymousTip("")
  =====================================================================  ==========

* **Keywords with arguments** match as the first word, separated from the rest by
  whitespace or punctuation (``AANMELDEN 1234AB 12``, ``signaal: graffiti``):

  - ``AANMELDEN …`` → ``Enrol(address)``, the address found in the rest by
    :func:`~burgerwacht.residents.address.parse_address_text`, or ``Enrol(None)`` when
    there is none, so the service can reply how to enrol.
  - ``START …`` / ``JOIN …`` (aliases of AANMELDEN) → ``Enrol(address)`` when the rest
    holds a valid address, ``Enrol(None)`` when it starts with something
    postcode-like (four digits) but no valid address, and a plain tip otherwise
    ("start de auto niet" stays a tip).
  - ``SIGNAAL <tekst>`` → ``Signal(tekst)``; ``ANONIEM <tekst>`` → ``AnonymousTip(tekst)``.

* Everything else is ``FreeText`` with the original text (stripped), which becomes a
  tip. No typo correction is attempted beyond the aliases above: a guessed opt-out or
  erase is worse than a tip the operator reads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from burgerwacht.residents.address import AddressQuery, parse_address_text

__all__ = [
    "AnonymousTip",
    "Command",
    "Enrol",
    "Erase",
    "FreeText",
    "Help",
    "Resume",
    "Signal",
    "Stop",
    "kind",
    "parse_sms",
    "split_reference",
]


@dataclass(frozen=True)
class Enrol:
    address: AddressQuery | None


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Erase:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Signal:
    text: str


@dataclass(frozen=True)
class AnonymousTip:
    text: str


@dataclass(frozen=True)
class FreeText:
    text: str


Command = Enrol | Resume | Stop | Erase | Help | Signal | AnonymousTip | FreeText


def kind(cmd: Command) -> str:
    """The command's name as ``inbound_messages.kind`` records it ("anonymoustip",
    "freetext", ...); the SQL tip intake gets it from here as a parameter."""
    return type(cmd).__name__.lower()


STOP_WORDS = frozenset(
    {"stop", "afmelden", "stoppen", "uitschrijven"}
    | {"stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)
RESUME_WORDS = frozenset({"start", "join", "unstop", "yes"})
ERASE_WORDS = frozenset({"verwijder", "verwijderen", "delete"})
HELP_WORDS = frozenset({"info", "help", "hulp"})
ENROL_WORDS = frozenset({"aanmelden"})
ENROL_ALIASES = frozenset({"start", "join"})
SIGNAL_WORDS = frozenset({"signaal"})
ANONYMOUS_WORDS = frozenset({"anoniem"})

_PUNCT = ".,!?:;-"
_STRIP = _PUNCT + " \t\r\n\f\v\u00a0\u200b\ufeff"
_FIRST_WORD = re.compile(r"([^\W\d_]+)(?:[\s.,!?:;\-]+|$)(.*)", re.DOTALL)
_POSTCODE_LIKE = re.compile(r"\s*[0-9]{4}")


def parse_sms(body: str) -> Command:
    """Classify an inbound SMS body; see the module docstring for the rules."""
    original = (body or "").strip()
    text = unicodedata.normalize("NFKC", original)
    core = text.strip(_STRIP)
    word = core.casefold()
    if word in STOP_WORDS:
        return Stop()
    if word in RESUME_WORDS:
        return Resume()
    if word in ERASE_WORDS:
        return Erase()
    if word in HELP_WORDS:
        return Help()
    if word in ENROL_WORDS:
        return Enrol(None)
    if word in SIGNAL_WORDS:
        return Signal("")
    if word in ANONYMOUS_WORDS:
        return AnonymousTip("")

    m = _FIRST_WORD.match(core)
    if m:
        first = m.group(1).casefold()
        rest = m.group(2).strip()
        if first in ENROL_WORDS:
            return Enrol(parse_address_text(rest))
        if first in ENROL_ALIASES:
            address = parse_address_text(rest)
            if address is not None:
                return Enrol(address)
            if _POSTCODE_LIKE.match(rest):
                return Enrol(None)
        if first in SIGNAL_WORDS:
            return Signal(_argument(original))
        if first in ANONYMOUS_WORDS:
            return AnonymousTip(_argument(original))
    return FreeText(original)


def _argument(original: str) -> str:
    """The text after the first word, from the *original* body (case and accents kept)."""
    m = re.match(r"[^\W\d_]+[\s.,!?:;\-]*(.*)", original.lstrip(_STRIP), re.DOTALL)
    return m.group(1).strip() if m else ""


_REFERENCE = re.compile(r"\s*(?:\[\s*)?#?\s*([0-9A-Za-z]{2,12})\s*(?:\])?(?:[\s.,!?:;\-)]+|$)")


def split_reference(text: str, known: Iterable[str]) -> tuple[str | None, str]:
    """Split a leading alert reference off a tip: ``"b7k: rode auto"`` → ``("B7K", "rode auto")``.

    Recognises ``B7K …``, ``B7K: …``, ``#B7K …`` and ``[B7K] …`` when the reference is
    in ``known`` (compared case-insensitively; the spelling from ``known`` is
    returned). Otherwise returns ``(None, text.strip())``.
    """
    original = (text or "").strip()
    m = _REFERENCE.match(original)
    if m:
        wanted = m.group(1).casefold()
        for ref in known:
            if ref.casefold() == wanted:
                return ref, original[m.end() :].strip()
    return None, original


def leading_reference(text: str) -> tuple[str | None, str]:
    """A reference-shaped token at the start of a tip and the rest: ``"b7k: rode auto"`` →
    ``("B7K", "rode auto")``; ``(None, text)`` when the text does not start with one.
    Whether it names a real alert is for the caller to decide."""
    original = (text or "").strip()
    m = _REFERENCE.match(original)
    if not m or not 3 <= len(m.group(1)) <= 6:
        return None, original
    return m.group(1).upper(), original[m.end() :].strip()
