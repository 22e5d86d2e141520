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

* **Self-service** (issue 19), Dutch with English aliases. Matching ignores case,
  accents (``PAUZÉ``), surrounding punctuation and extra spaces. A keyword with an
  argument matches only when the *whole* rest has the expected shape, so a tip that
  starts with one of these words stays a tip ("bezoek aan oma", "verhuis de auto"):

  =====================================================  ==================================
  SPRAAK, VOICE / SMS (alone)                            SetChannel("voice" / "sms")
  ENGLISH, ENGELS / NEDERLANDS, DUTCH (alone)            SetLanguage("en" / "nl")
  PAUZE, PAUSE [ALLES|ALL] [<dagen> [DAGEN|DAYS]]        Pause(days or None, all)
  HERVAT, RESUME (alone)                                 EndPause
  VERHUIS, MOVE <postcode> <huisnummer>                  Move(address) (None: usage)
  JA (alone)                                             Confirm (a pending VERHUIS)
  ADRESSEN, ADDRESSES (alone)                            ListAddresses
  VERWIJDER, DELETE <n>                                  RemoveAddress(n)
  BEZOEK, VISIT <postcode> [<huisnr>] [<uren> [UUR]]     Visit(postcode, number?, hours?)
  BERICHTEN AAN / UIT, MESSAGES ON / OFF (alone)         Bulletins(True / False)
  =====================================================  ==================================

  None of these is one of Twilio's opt-out/opt-in words (STOP, END, CANCEL, YES, ...):
  those keep their meaning. ``BEZOEK 1234AB 12`` reads 12 as the house number; hours
  alone need a unit (``BEZOEK 1234AB 48 uur``) or come second (``BEZOEK 1234AB 12 48``).
  ``JA`` that confirms nothing becomes a tip (``FreeText("ja")``) in the handler.

* Everything else is ``FreeText`` with the original text (stripped), which becomes a
  tip. No typo correction is attempted beyond the aliases above: a guessed opt-out or
  erase is worse than a tip the operator reads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from burgerwacht.residents.address import AddressError, AddressQuery, normalise_postcode, parse_address_text

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
    media: int = 0  # pictures with it (an MMS): a tip even without text


@dataclass(frozen=True)
class FreeText:
    text: str
    media: int = 0  # pictures with it (an MMS): a tip even without text


@dataclass(frozen=True)
class SetChannel:
    channel: str  # "sms" | "voice"


@dataclass(frozen=True)
class SetLanguage:
    language: str  # "nl" | "en"


@dataclass(frozen=True)
class Pause:
    days: int | None  # None: the configured default
    all: bool = False  # missing-person alerts held back too


@dataclass(frozen=True)
class EndPause:
    pass


@dataclass(frozen=True)
class Move:
    address: AddressQuery | None  # None: the keyword without a usable address (usage reply)


@dataclass(frozen=True)
class Confirm:
    text: str  # the original text: a tip when there is nothing to confirm


@dataclass(frozen=True)
class ListAddresses:
    pass


@dataclass(frozen=True)
class RemoveAddress:
    number: int  # 1-based, as ADRESSEN lists them


@dataclass(frozen=True)
class Visit:
    postcode: str | None  # None: the keyword without a usable place (usage reply)
    house_number: int | None = None
    house_letter: str | None = None
    hours: int | None = None


@dataclass(frozen=True)
class Bulletins:
    on: bool


SelfService = (
    SetChannel
    | SetLanguage
    | Pause
    | EndPause
    | Move
    | Confirm
    | ListAddresses
    | RemoveAddress
    | Visit
    | Bulletins
)
Command = Enrol | Resume | Stop | Erase | Help | Signal | AnonymousTip | FreeText | SelfService


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

    own = _self_service(core, original)
    if own is not None:
        return own

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


CHANNEL_WORDS = {"spraak": "voice", "voice": "voice", "sms": "sms"}
LANGUAGE_WORDS = {"english": "en", "engels": "en", "nederlands": "nl", "dutch": "nl"}
PAUSE_WORDS = frozenset({"pauze", "pause"})
ALL_WORDS = frozenset({"alles", "all"})
DAY_WORDS = frozenset({"dag", "dagen", "day", "days", "d"})
END_PAUSE_WORDS = frozenset({"hervat", "resume"})
MOVE_WORDS = frozenset({"verhuis", "move"})
CONFIRM_WORDS = frozenset({"ja"})
LIST_WORDS = frozenset({"adressen", "addresses"})
REMOVE_WORDS = ERASE_WORDS
VISIT_WORDS = frozenset({"bezoek", "visit"})
HOUR_WORDS = frozenset({"u", "uur", "uren", "h", "hour", "hours"})
BULLETIN_WORDS = {("berichten", "aan"): True, ("berichten", "uit"): False}
BULLETIN_WORDS |= {("messages", "on"): True, ("messages", "off"): False}
MAX_PAUSE_DAYS_TYPED = 9999  # the configured cap applies in the service
MAX_VISIT_HOURS_TYPED = 9999

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_VISIT_PLACE = re.compile(r"([1-9][0-9]{3})\s*-?\s*([a-z]{2})(?![a-z])(.*)", re.DOTALL)
_POSTCODE_START = re.compile(r"[0-9]{4}")


def fold(text: str) -> str:
    """Case, accents and width folded: ``"Pauzé"`` → ``"pauze"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _self_service(core: str, original: str) -> Command | None:
    """The self-service keywords (see the module docstring), or None."""
    folded = fold(core)
    words = _WORDS.findall(folded)
    if not words or not re.fullmatch(r"[\w\s.,!?:;\-]*", folded):
        return None
    first, rest = words[0], words[1:]
    if not rest:
        if first in CHANNEL_WORDS:
            return SetChannel(CHANNEL_WORDS[first])
        if first in LANGUAGE_WORDS:
            return SetLanguage(LANGUAGE_WORDS[first])
        if first in END_PAUSE_WORDS:
            return EndPause()
        if first in CONFIRM_WORDS:
            return Confirm(original)
        if first in LIST_WORDS:
            return ListAddresses()
        if first in MOVE_WORDS:
            return Move(None)
        if first in VISIT_WORDS:
            return Visit(None)
    if len(words) == 2 and (first, words[1]) in BULLETIN_WORDS:
        return Bulletins(BULLETIN_WORDS[(first, words[1])])
    if first in PAUSE_WORDS:
        return _pause(rest)
    if first in REMOVE_WORDS and len(rest) == 1 and rest[0].isdigit() and len(rest[0]) <= 2:
        n = int(rest[0])
        return RemoveAddress(n) if n >= 1 else None
    after = folded[folded.index(first) + len(first) :].lstrip(" \t\r\n.,!?:;-")
    if first in MOVE_WORDS and rest:
        address = parse_address_text(after)
        if address is not None and _only_address(after):
            return Move(address)
        return Move(None) if _POSTCODE_START.match(after) else None
    if first in VISIT_WORDS and rest:
        return _visit(after)
    return None


def _pause(rest: list[str]) -> Pause | None:
    """``[ALLES] [<n> [DAGEN]]`` in either order, each at most once; None (a tip) otherwise."""
    everything, days = False, None
    i = 0
    while i < len(rest):
        w = rest[i]
        if w in ALL_WORDS and not everything:
            everything = True
        elif w.isdigit() and days is None and len(w) <= 4:
            days = int(w)
            if i + 1 < len(rest) and rest[i + 1] in DAY_WORDS:
                i += 1
        else:
            m = re.fullmatch(r"([0-9]{1,4})(d)", w)  # "7d"
            if m and days is None:
                days = int(m.group(1))
            else:
                return None
        i += 1
    if days is not None and days < 1:
        return None
    return Pause(days, everything)


def _only_address(after: str) -> bool:
    """The rest is a postcode and house number and nothing else (a tip may name one)."""
    m = _VISIT_PLACE.fullmatch(after.strip(" \t\r\n.,!?:;-"))
    if not m:
        return False
    tail = m.group(3).strip(" \t\r\n,.:;")
    tail = re.sub(r"^(?:(?:huis)?n(?:umme)?r\.?|no\.?|number)\s*", "", tail)
    return bool(re.fullmatch(r"[0-9]{1,5}\s*(?:[a-z]|[a-z]?\s*[-/]?\s*[a-z0-9]{1,4})?", tail))


def _visit(after: str) -> Visit | None:
    """``<postcode> [<huisnummer>[<letter>]] [<uren> [UUR]]``; Visit(None) for a postcode-like
    start that does not parse (usage), None (a tip) when it does not start like a postcode."""
    if not _POSTCODE_START.match(after):
        return None
    m = _VISIT_PLACE.fullmatch(after.strip(" \t\r\n.,!?:;-"))
    if not m:
        return Visit(None)
    try:
        postcode = normalise_postcode(m.group(1) + m.group(2))
    except AddressError:
        return Visit(None)
    tokens = re.findall(r"[0-9]+[a-z]?|[a-z]+", m.group(3))
    number = letter = hours = None
    if len(tokens) >= 2 and tokens[-1] in HOUR_WORDS and tokens[-2].isdigit():  # "... 48 uur"
        hours, tokens = int(tokens[-2]), tokens[:-2]
    elif tokens and re.fullmatch(r"[0-9]+[uh]", tokens[-1]):  # "... 48u"
        hours, tokens = int(tokens[-1][:-1]), tokens[:-1]
    if tokens:
        nm = re.fullmatch(r"([0-9]{1,5})([a-z])?", tokens[0])
        if not nm:
            return Visit(None)
        number = int(nm.group(1))
        letter = nm.group(2).upper() if nm.group(2) else None
        tokens = tokens[1:]
        if tokens and hours is None and tokens[0].isdigit():
            hours, tokens = int(tokens[0]), tokens[1:]
    if tokens or number == 0 or (hours is not None and not 1 <= hours <= MAX_VISIT_HOURS_TYPED):
        return Visit(None)
    return Visit(postcode, number, letter, hours)


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
