"""Dutch addresses as residents type them: postcode + huisnummer (+ huisletter, toevoeging).

The BAG (Basisregistratie Adressen en Gebouwen) identifies an address by postcode,
huisnummer (1–99999), an optional huisletter (one letter) and an optional
huisnummertoevoeging (1–4 letters/digits). People write these in many ways; the rules
used here:

* Postcode: four digits, the first not 0, then two letters other than SA, SD or SS
  (never issued). Spaces, a dash and lower case are tolerated: ``" 1234-ab "`` → ``1234AB``.
* House number: ``12`` · ``12a`` / ``12 A`` (a single letter right after the number, or
  after a space, is the huisletter) · ``12-2`` / ``12/2`` / ``12 2`` / ``12 bis`` /
  ``12 hs`` (after a dash or slash, or a word of 2–4 characters, it is the
  toevoeging) · ``12A-3`` / ``12a 3`` / ``12A3`` (both). ``12-A`` is read as toevoeging
  ``A``: the dash introduces a toevoeging. Letters are upper-cased. A store that does
  not find the exact address may retry with huisletter and toevoeging swapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "AddressError",
    "AddressQuery",
    "format_postcode",
    "normalise_house_number",
    "normalise_postcode",
    "parse_address_text",
]

_NEVER_ISSUED = frozenset({"SA", "SD", "SS"})
_POSTCODE = re.compile(r"\s*([0-9]{4})\s*-?\s*([A-Za-z]{2})\s*")
_EXAMPLE_NL = "Vul een postcode in zoals 1234 AB."
_EXAMPLE_EN = "Enter a postcode like 1234 AB."
_HOUSE_EXAMPLE_NL = "Vul een huisnummer in zoals 12, 12A of 12-2."
_HOUSE_EXAMPLE_EN = "Enter a house number like 12, 12A or 12-2."


class AddressError(ValueError):
    """An address part that cannot be used. ``message_nl``/``message_en`` are user-facing."""

    def __init__(self, field: str, message_nl: str, message_en: str) -> None:
        super().__init__(message_en)
        self.field = field
        self.message_nl = message_nl
        self.message_en = message_en


def normalise_postcode(raw: str) -> str:
    """``"1234 ab"`` → ``"1234AB"``; raises :class:`AddressError` (field ``postcode``)."""
    if not isinstance(raw, str) or not raw.strip():
        raise AddressError("postcode", _EXAMPLE_NL, _EXAMPLE_EN)
    m = _POSTCODE.fullmatch(raw)
    if not m:
        raise AddressError(
            "postcode",
            f"Dit is geen geldige postcode. {_EXAMPLE_NL}",
            f"This is not a valid postcode. {_EXAMPLE_EN}",
        )
    digits, letters = m.group(1), m.group(2).upper()
    if digits[0] == "0":
        raise AddressError(
            "postcode",
            f"Een postcode begint niet met 0. {_EXAMPLE_NL}",
            f"A postcode does not start with 0. {_EXAMPLE_EN}",
        )
    if letters in _NEVER_ISSUED:
        raise AddressError(
            "postcode",
            f"Postcode {digits} {letters} bestaat niet.",
            f"Postcode {digits} {letters} does not exist.",
        )
    return digits + letters


def format_postcode(pc: str) -> str:
    """``"1234ab"`` → ``"1234 AB"`` (validates like :func:`normalise_postcode`)."""
    n = normalise_postcode(pc)
    return f"{n[:4]} {n[4:]}"


def _house_error() -> AddressError:
    return AddressError(
        "house_number",
        f"Dit is geen geldig huisnummer. {_HOUSE_EXAMPLE_NL}",
        f"This is not a valid house number. {_HOUSE_EXAMPLE_EN}",
    )


_HN_NUMBER = re.compile(r"([0-9]+)(.*)", re.DOTALL)
_ALNUM4 = r"[A-Za-z0-9]{1,4}"
_REST_FORMS = [
    # (regex on the stripped rest after the number, letter group, addition group)
    (re.compile(r"([A-Za-z])"), 1, None),  # 12a, 12 A
    (re.compile(rf"[-/]\s*({_ALNUM4})"), None, 1),  # 12-2, 12/2, 12-A
    (re.compile(rf"([A-Za-z])\s*[-/]\s*({_ALNUM4})"), 1, 2),  # 12A-3, 12 a - 3
    (re.compile(r"([A-Za-z])\s*(\d{1,4})", re.ASCII), 1, 2),  # 12A3, 12a 3
    (re.compile(rf"([A-Za-z])\s+({_ALNUM4})"), 1, 2),  # 12a hs
    (re.compile(rf"({_ALNUM4})"), None, 1),  # 12 2, 12 bis, 12 II  (2+ characters here)
]


def normalise_house_number(raw: str | int) -> tuple[int, str | None, str | None]:
    """``"12A-3"`` → ``(12, "A", "3")``: (huisnummer, huisletter, toevoeging)."""
    if isinstance(raw, bool):
        raise _house_error()
    if isinstance(raw, int):
        if 1 <= raw <= 99999:
            return raw, None, None
        raise _house_error()
    if not isinstance(raw, str):
        raise _house_error()
    m = _HN_NUMBER.fullmatch(raw.strip())
    if not m:
        raise _house_error()
    if len(m.group(1)) > 8:
        raise _house_error()
    number = int(m.group(1))
    if not 1 <= number <= 99999:
        raise _house_error()
    rest = m.group(2).strip()
    if not rest:
        return number, None, None
    for pattern, letter_group, addition_group in _REST_FORMS:
        rm = pattern.fullmatch(rest)
        if rm:
            letter = rm.group(letter_group).upper() if letter_group else None
            addition = rm.group(addition_group).upper() if addition_group else None
            return number, letter, addition
    raise _house_error()


@dataclass(frozen=True)
class AddressQuery:
    postcode: str  # normalised, "1234AB"
    house_number: int
    house_letter: str | None = None
    addition: str | None = None

    @property
    def label(self) -> str:
        """``"1234 AB 12A-3"``"""
        text = f"{self.postcode[:4]} {self.postcode[4:]} {self.house_number}{self.house_letter or ''}"
        return f"{text}-{self.addition}" if self.addition else text


# postcode inside free text: not glued to other digits or letters
_PC_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{3})[ \t]*-?[ \t]*([A-Za-z]{2})(?![A-Za-z])", re.ASCII)
_NUMBER_WORD = re.compile(r"[\s,.:;]*(?:(?:huis)?n(?:umme)?r\.?|no\.?|number)?[\s:.#]*", re.IGNORECASE)
# conservative house number inside running text: a letter only when glued to the number
# ("5a") or standing alone at the end; a toevoeging only after a dash or slash.
_HN_IN_TEXT = re.compile(
    rf"(\d{{1,5}})(?:([A-Za-z])|\s+([A-Za-z])(?=\s*$|\s*[-/]))?(?:\s*[-/]\s*({_ALNUM4}))?(?![0-9A-Za-z])"
)


def parse_address_text(text: str) -> AddressQuery | None:
    """Find ``<postcode> <huisnummer…>`` in free text such as ``"aanmelden 1234ab 12"``.

    When everything after the postcode is a house number (``"1234 AB 12 bis"``) it is
    read in full with :func:`normalise_house_number`; otherwise only a house number
    at the start of the rest is used, read conservatively (``"1234 AB 5a graffiti"`` →
    ``5``, ``A``). Returns None when no valid postcode + house number is found.
    """
    if not text:
        return None
    for m in _PC_IN_TEXT.finditer(text):
        try:
            postcode = normalise_postcode(m.group(1) + m.group(2))
        except AddressError:
            continue
        rest = text[m.end() :]
        rest = rest[_NUMBER_WORD.match(rest).end() :]  # type: ignore[union-attr]
        try:
            number, letter, addition = normalise_house_number(rest.strip(" \t\r\n.,;:!?"))
        except AddressError:
            hm = _HN_IN_TEXT.match(rest)
            if not hm:
                continue
            number = int(hm.group(1))
            if not 1 <= number <= 99999:
                continue
            letter_raw = hm.group(2) or hm.group(3)
            letter = letter_raw.upper() if letter_raw else None
            addition = hm.group(4).upper() if hm.group(4) else None
        return AddressQuery(postcode, number, letter, addition)
    return None
