"""Phone numbers: parsing what residents type, masking for logs and staff screens.

Parsing uses Google's libphonenumber port (``phonenumbers``). A number is accepted
when libphonenumber considers it *valid* (not merely possible) and its country is in
``allowed_countries``. The number type decides the channels:

============================  ==========  =======  ========
phonenumbers type             ``kind``    can_sms  can_call
============================  ==========  =======  ========
MOBILE (NL 06, 097 M2M)       mobile      yes      yes
FIXED_LINE (NL 010, 020, …)   landline    no       yes
FIXED_LINE_OR_MOBILE          other       no       yes       (cannot tell: be conservative)
VOIP (NL 085, 091)            voip        no       yes
UAN / PERSONAL_NUMBER (088)   other       no       yes
TOLL_FREE, PREMIUM_RATE,      other       no       no        (0800, 090x: never call out
SHARED_COST, PAGER, UNKNOWN                                  to these; service decides)
============================  ==========  =======  ========

A caller that enrols residents should refuse a :class:`Phone` with neither
``can_sms`` nor ``can_call``.

Masking shows the country code, the first digit of the national number and its last
four digits (``+31 6 ****5678``) and never more. :func:`mask_phones_in` finds numbers in
free text (libphonenumber's matcher for valid numbers, plus a regex for number-shaped
strings it rejects, such as typos and URL-encoded ``%2B31…``) and
:class:`PhoneMaskingFilter` applies it to log records.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

__all__ = [
    "Phone",
    "PhoneError",
    "PhoneMaskingFilter",
    "mask",
    "mask_phones_in",
    "number_pattern",
    "parse_phone",
]

PhoneKind = Literal["mobile", "landline", "voip", "other"]

_MAX_INPUT = 64  # characters; anything longer is not a phone number someone typed


class PhoneError(ValueError):
    """A phone number that cannot be used. ``message_nl``/``message_en`` are user-facing."""

    def __init__(self, code: str, message_nl: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_nl = message_nl
        self.message_en = message_en


@dataclass(frozen=True)
class Phone:
    e164: str
    country: str  # ISO 3166 alpha-2 ("NL"), or "001" for non-geographic numbers
    kind: PhoneKind
    can_sms: bool
    can_call: bool

    @property
    def national(self) -> str:
        """The number as written at home, e.g. ``06 12345678`` (for staff who call back)."""
        return phonenumbers.format_number(phonenumbers.parse(self.e164), PhoneNumberFormat.NATIONAL)

    @property
    def masked(self) -> str:
        return mask(self.e164)


# (kind, can_sms, can_call) per libphonenumber type
_TYPES: dict[int, tuple[PhoneKind, bool, bool]] = {
    PhoneNumberType.MOBILE: ("mobile", True, True),
    PhoneNumberType.FIXED_LINE: ("landline", False, True),
    PhoneNumberType.FIXED_LINE_OR_MOBILE: ("other", False, True),
    PhoneNumberType.VOIP: ("voip", False, True),
    PhoneNumberType.UAN: ("other", False, True),
    PhoneNumberType.PERSONAL_NUMBER: ("other", False, True),
}
_NO_CHANNEL: tuple[PhoneKind, bool, bool] = ("other", False, False)


def _invalid() -> PhoneError:
    return PhoneError("invalid", "Dit telefoonnummer is ongeldig.", "This phone number is not valid.")


def parse_phone(raw: str, allowed_countries: Sequence[str] = ("NL",), default_region: str = "NL") -> Phone:
    """Parse a phone number as a person types it and return it in E.164 with its channels.

    Accepts national (``06 12345678``, ``(020) 123 4567``) and international
    (``+31612345678``, ``0031 6 12345678``) notation with spaces, dashes, dots and
    brackets. ``allowed_countries`` holds ISO region codes; ``"*"`` allows every country.
    Raises :class:`PhoneError` with ``code`` ``empty``, ``invalid`` or ``country_not_allowed``.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise PhoneError("empty", "Vul een telefoonnummer in.", "Please enter a phone number.")
    text = raw.strip()
    if len(text) > _MAX_INPUT:
        raise _invalid()
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise _invalid() from exc
    if not phonenumbers.is_valid_number(number):
        raise _invalid()
    country = phonenumbers.region_code_for_number(number) or "ZZ"
    allowed = {c.upper() for c in allowed_countries}
    if "*" not in allowed and country not in allowed:
        if allowed == {"NL"}:
            raise PhoneError(
                "country_not_allowed",
                "Alleen Nederlandse telefoonnummers kunnen zich aanmelden.",
                "Only Dutch phone numbers can be registered.",
            )
        raise PhoneError(
            "country_not_allowed",
            "Telefoonnummers uit dit land kunnen zich niet aanmelden.",
            "Phone numbers from this country cannot be registered.",
        )
    kind, can_sms, can_call = _TYPES.get(phonenumbers.number_type(number), _NO_CHANNEL)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return Phone(e164=e164, country=country, kind=kind, can_sms=can_sms, can_call=can_call)


# --------------------------------------------------------------------------- masking

_STARS = "****"


def _mask_digits(cc: str, nsn: str) -> str:
    if len(nsn) >= 8:
        return f"+{cc} {nsn[0]} {_STARS}{nsn[-4:]}"
    if len(nsn) >= 5:  # short numbers: hide at least three digits, show at most two
        return f"+{cc} {_STARS}{nsn[-2:]}"
    return f"+{cc} {_STARS}"


def _generic_mask(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return f"{_STARS}{digits[-4:]}" if len(digits) >= 9 else _STARS


def mask(e164: str) -> str:
    """``+31612345678`` → ``+31 6 ****5678``: country code, first national digit, last 4 digits.

    Also accepts other notations (parsed with region NL); what cannot be parsed is
    masked to at most its last four digits.
    """
    text = (e164 or "").strip()
    if text.startswith("%2B") or text.startswith("%2b"):
        text = "+" + text[3:]
    try:
        number = phonenumbers.parse(text, "NL")
    except phonenumbers.NumberParseException:
        return _generic_mask(text)
    nsn = phonenumbers.national_significant_number(number)
    if not nsn:
        return _generic_mask(text)
    return _mask_digits(str(number.country_code), nsn)


_DATE = re.compile(r"(?<!\d)\d{1,2}[-./]\d{1,2}[-./]\d{4}(?!\d)|(?<!\d)\d{4}[-./]\d{1,2}[-./]\d{1,2}(?!\d)")
_SEP = r"[ \-./()]{0,2}"
# number-shaped strings libphonenumber does not accept as valid numbers
_FALLBACK = re.compile(
    r"(?<![0-9A-Za-z+%])(?:"
    rf"(?:\+|%2[Bb]|00)[1-9](?:{_SEP}\d){{6,14}}"  # international: +CC…, %2BCC…, 00CC…
    rf"|\(?0[1-9](?:{_SEP}\d){{8}}"  # Dutch national: 0 + 9 digits
    r"|31[1-9]\d{8}"  # E.164 without the plus
    r")(?![0-9A-Za-z])"
)


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, repl in sorted(spans):
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(repl)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_phones_in(text: str) -> str:
    """Replace everything in ``text`` that looks like a phone number by its :func:`mask`."""
    if not text or sum(ch.isdigit() for ch in text) < 7:
        return text
    spans: list[tuple[int, int, str]] = []
    for match in phonenumbers.PhoneNumberMatcher(text, "NL", leniency=phonenumbers.Leniency.VALID):
        if _DATE.search(match.raw_string):
            continue
        e164 = phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
        spans.append((match.start, match.end, mask(e164)))
    if spans:
        text = _replace(text, spans)
    spans = []
    for m in _FALLBACK.finditer(text):
        if _DATE.search(m.group()):
            continue
        spans.append((m.start(), m.end(), mask(m.group())))
    return _replace(text, spans) if spans else text


ERASED = "[nummer verwijderd]"


def number_pattern(e164: str) -> str:
    """A regular expression (the subset Python and PostgreSQL share) matching ``e164``
    the ways people write it in free text: ``+31 6 1234 5678``, ``0031-6-12345678``,
    ``(0)6 12 34 56 78``, ``06-12345678``, ``%2B31612345678``. Erasure uses it to take the
    sender's number out of texts stored before they were masked on arrival."""
    number = phonenumbers.parse(e164, None)
    cc, nsn = str(number.country_code), phonenumbers.national_significant_number(number)
    sep = "[ ./()-]{0,3}"
    international = f"(([+]|%2[Bb]|00) ?)?{cc}{sep}([(]?0[)]?{sep})?"
    national = "[(]?0" if cc == "31" else "0"
    return f"({international}|{national}){sep}" + sep.join(nsn)


class PhoneMaskingFilter(logging.Filter):
    """Logging filter that masks phone numbers in the formatted message and traceback.

    The message is formatted first (``record.getMessage()``), masked, and stored back in
    ``record.msg`` with ``record.args`` cleared, so numbers passed as arguments are
    masked too. The traceback is formatted into ``record.exc_text`` and masked (a
    formatter must use ``record.exc_text`` rather than re-format ``record.exc_info``),
    and string ``extra=`` fields are masked as well. Attach it to *handlers* (logger-level filters do not see records that
    propagate from child loggers)::

        handler.addFilter(PhoneMaskingFilter())
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # broken format string: keep both parts visible, but masked
            message = f"{record.msg} {record.args!r}"
        record.msg = mask_phones_in(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones_in(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_phones_in(record.stack_info)
        for key, value in list(record.__dict__.items()):  # string `extra=` fields
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, mask_phones_in(value))
        return True


_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
