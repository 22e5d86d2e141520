"""SMS encoding analysis: which alphabet a text needs and how many segments it costs.

Operators see this in an alert preview before they send to thousands of residents: one
``ë`` turns a 160-character GSM-7 message into a 70-character UCS-2 one and can double
or triple the number of segments (cost, throughput and time to reach everyone). The
tables below are the GSM 03.38 default alphabet and its extension table exactly;
segment counts follow the concatenation limits (153 septets / 67 UTF-16 units per
part) and never split an escape sequence or a surrogate pair across parts, as
handsets and Twilio do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Encoding = Literal["GSM-7", "UCS-2"]

#: GSM 03.38 default alphabet (the ESC code 0x1B is left out: it is not a character).
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: GSM 03.38 extension table: each character costs two septets (ESC + code).
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")
GSM7_CHARACTERS: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

# Typographic look-alikes that word processors and phones insert; folding them keeps a
# message in GSM-7 without changing what the reader sees. Letters with diacritics are
# deliberately NOT folded: "ë" → "e" changes the Dutch text.
_FOLD: dict[int, str] = {
    **dict.fromkeys(map(ord, "‘’‚‛′`´"), "'"),
    **dict.fromkeys(map(ord, "“”„‟″«»"), '"'),
    **dict.fromkeys(map(ord, "‐‑‒–—―−"), "-"),
    ord("…"): "...",
    **dict.fromkeys(map(ord, "\u00a0\u202f\u205f\u3000\t"), " "),
    **{code: " " for code in range(0x2000, 0x200B)},  # en quad … hair space
    **dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), ""),
}


@dataclass(frozen=True)
class SmsAnalysis:
    """The encoding a text needs and what it costs.

    ``characters`` is counted in the units the limits apply to: septets for GSM-7
    (extension characters such as ``€`` count two) and UTF-16 code units for UCS-2
    (an emoji counts two).
    """

    encoding: Encoding
    segments: int
    characters: int
    ucs2_characters: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as used in the alert preview."""
        return asdict(self)


def _units_gsm7(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def _units_ucs2(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _count_segments(units: list[int], single: int, part: int) -> int:
    """Pack per-character unit costs into parts without splitting a character."""
    total = sum(units)
    if total <= single:
        return 1
    segments, used = 1, 0
    for cost in units:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return segments


def ucs2_characters(text: str) -> list[str]:
    """The distinct characters that force UCS-2, in order of first appearance."""
    seen: dict[str, None] = {}
    for char in text:
        if char not in GSM7_CHARACTERS:
            seen.setdefault(char, None)
    return list(seen)


def analyse(text: str) -> SmsAnalysis:
    """Encoding, segment count and length of ``text`` as an SMS body."""
    offending = ucs2_characters(text)
    if not offending:
        units = [_units_gsm7(char) for char in text]
        return SmsAnalysis("GSM-7", _count_segments(units, GSM7_SINGLE, GSM7_PART), sum(units), [])
    units = [_units_ucs2(char) for char in text]
    return SmsAnalysis("UCS-2", _count_segments(units, UCS2_SINGLE, UCS2_PART), sum(units), offending)


def segment_count(text: str) -> int:
    """Just the number of segments (the simulator's ``num_segments``)."""
    if GSM7_BASIC.issuperset(text):
        length = len(text)
        return 1 if length <= GSM7_SINGLE else -(-length // GSM7_PART)
    return analyse(text).segments


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM-7 alphabet."""
    return GSM7_CHARACTERS.issuperset(text)


def gsm7_fold(text: str) -> str:
    """Replace typographic look-alikes (curly quotes, dashes, ellipsis, special spaces).

    Offered to operators as a GSM-7 version of their text; characters that carry
    meaning (``ë``, ``ï``, emoji) are left alone, so the result may still be UCS-2.
    """
    return text.translate(_FOLD)
