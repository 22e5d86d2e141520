"""Phone parsing, masking and the log filter (pure, no database)."""

from __future__ import annotations

import io
import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burgerwacht.phone import PhoneError, PhoneMaskingFilter, mask, mask_phones_in, parse_phone


@pytest.mark.parametrize(
    "raw",
    [
        "06 12345678",
        "06-1234 5678",
        "+31612345678",
        "0031 6 12345678",
        "0031612345678",
        "06-12345678",
        " 06 12 34 56 78 ",
        "+31 (0)6 1234 5678",
        "0612345678",
        "+31-6-12345678",
    ],
)
def test_mobile_variants_normalise_to_one_e164(raw: str) -> None:
    phone = parse_phone(raw)
    assert phone.e164 == "+31612345678"
    assert (phone.country, phone.kind, phone.can_sms, phone.can_call) == ("NL", "mobile", True, True)


def test_landline_can_call_only() -> None:
    phone = parse_phone("(020) 123 4567")
    assert phone.e164 == "+31201234567"
    assert (phone.kind, phone.can_sms, phone.can_call) == ("landline", False, True)
    assert parse_phone("010-2345678").kind == "landline"


@pytest.mark.parametrize(
    ("raw", "kind", "can_sms", "can_call"),
    [
        ("085 123 4567", "voip", False, True),
        ("088 123 4567", "other", False, True),  # UAN (company numbers)
        ("0970 1234 5678", "mobile", True, True),  # M2M range: libphonenumber says mobile
        ("0800 1234", "other", False, False),  # toll free: never a resident's number
        ("0900 1234567", "other", False, False),  # premium rate
    ],
)
def test_special_ranges_follow_number_type(raw: str, kind: str, can_sms: bool, can_call: bool) -> None:
    phone = parse_phone(raw)
    assert (phone.kind, phone.can_sms, phone.can_call) == (kind, can_sms, can_call)


def test_foreign_number_rejected_unless_allowed() -> None:
    with pytest.raises(PhoneError) as err:
        parse_phone("+32 470 12 34 56")
    assert err.value.code == "country_not_allowed"
    assert err.value.message_nl == "Alleen Nederlandse telefoonnummers kunnen zich aanmelden."
    assert err.value.message_en
    phone = parse_phone("+32 470 12 34 56", allowed_countries=("NL", "BE"))
    assert (phone.e164, phone.country, phone.kind) == ("+32470123456", "BE", "mobile")
    assert parse_phone("0470 12 34 56", allowed_countries=("BE",), default_region="BE").e164 == "+32470123456"
    with pytest.raises(PhoneError) as err:
        parse_phone("+32 470 12 34 56", allowed_countries=("NL", "DE"))
    assert err.value.code == "country_not_allowed"
    assert "land" in err.value.message_nl
    assert parse_phone("+1 212 555 0123", allowed_countries=("*",)).can_sms is False  # fixed-or-mobile


@pytest.mark.parametrize(
    "raw", ["12345", "06 1234", "06 123456789", "abc", "+31 6 1234567", "0612345678" * 8]
)
def test_invalid_numbers(raw: str) -> None:
    with pytest.raises(PhoneError) as err:
        parse_phone(raw)
    assert err.value.code == "invalid"
    assert err.value.message_nl == "Dit telefoonnummer is ongeldig."
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_number(raw: str) -> None:
    with pytest.raises(PhoneError) as err:
        parse_phone(raw)
    assert err.value.code == "empty"


def test_national_format() -> None:
    assert parse_phone("+31612345678").national == "06 12345678"


def test_mask_shape() -> None:
    assert mask("+31612345678") == "+31 6 ****5678"
    assert mask("+31201234567") == "+31 2 ****4567"
    assert mask("+32470123456") == "+32 4 ****3456"
    assert mask("06-12345678") == "+31 6 ****5678"
    assert "1234" not in mask("+3112345")
    assert mask("garbage") == "****"


@settings(max_examples=200, deadline=None)
@given(
    cc=st.sampled_from(["31", "32", "49", "44", "1"]), nsn=st.from_regex(r"[1-9][0-9]{4,12}", fullmatch=True)
)
def test_mask_never_shows_more_than_last_four(cc: str, nsn: str) -> None:
    masked = mask(f"+{cc}{nsn}")
    assert "****" in masked
    digits_after_stars = masked.split("****", 1)[1]
    assert len(digits_after_stars) <= 4
    assert nsn.endswith(digits_after_stars)
    # country code, at most one leading digit and the tail: nothing else
    shown = re.sub(r"\D", "", masked)
    assert len(shown) <= len(cc) + 1 + 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bel 06-12345678 nu", "bel +31 6 ****5678 nu"),
        ("van +31612345678 en 0687654321.", "van +31 6 ****5678 en +31 6 ****4321."),
        ("0031 6 12345678", "+31 6 ****5678"),
        ("thuis (020) 123 4567", "thuis +31 2 ****4567"),
        ("06 12 34 56 78", "+31 6 ****5678"),
        ("To=%2B31612345678&Body=x", "To=+31 6 ****5678&Body=x"),
        ('{"to": "+31612345678"}', '{"to": "+31 6 ****5678"}'),
        ("typo +31 6 1234567", "typo +31 6 ****4567"),
        ("uk +44 7700 900123", "uk +44 7 ****0123"),
    ],
)
def test_mask_phones_in(text: str, expected: str) -> None:
    assert mask_phones_in(text) == expected
    assert mask_phones_in(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-15 12:30:45 delivery 123456789 done",
        "vermist sinds 01-02-2026 10:00",
        "id 4f3c2a1e-1234-5678-9abc-def012345678",
        "sid SM0612345678abcdef0612345678abcdef",
        "alert 42 reached 1500 residents in 3.2 s",
        "",
    ],
)
def test_mask_phones_in_leaves_other_numbers(text: str) -> None:
    assert mask_phones_in(text) == text


@settings(max_examples=100, deadline=None)
@given(
    digits=st.from_regex(r"6[1-9][0-9]{7}", fullmatch=True),
    style=st.sampled_from(["+31{}", "0{}", "0031{}", "0{0}-{1}", "+31 {0} {1}"]),
    before=st.sampled_from(["", "bel ", "nummer: ", "(", "tel:"]),
    after=st.sampled_from(["", " nu", ".", ")", ", dank"]),
)
def test_mask_phones_in_hides_all_but_last_four(digits: str, style: str, before: str, after: str) -> None:
    number = style.format(digits) if "{}" in style else style.format(digits[:1], digits[1:])
    out = mask_phones_in(before + number + after)
    shown = re.sub(r"\D", "", out.removesuffix(after))
    assert shown == "31" + digits[0] + digits[-4:]
    assert out.endswith(digits[-4:] + after)


def _logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PhoneMaskingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_logging_filter_masks_msg_and_args() -> None:
    logger, stream = _logger("test.phone.filter")
    logger.info("sms to %s from %r", "+31612345678", "06-87654321")
    logger.info("direct 0612345678 in message")
    logger.info("dict %(to)s", {"to": "+31612345678"})
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    record.phone = "+31612345678"
    PhoneMaskingFilter().filter(record)
    assert record.phone == "+31 6 ****5678"
    out = stream.getvalue()
    assert "12345678" not in out and "87654321" not in out
    assert "sms to +31 6 ****5678 from '+31 6 ****4321'" in out
    assert "direct +31 6 ****5678 in message" in out
    assert "dict +31 6 ****5678" in out


def test_logging_filter_masks_tracebacks_and_bad_format() -> None:
    logger, stream = _logger("test.phone.filter.exc")
    try:
        raise ValueError("cannot send to +31612345678")
    except ValueError:
        logger.exception("failed")
    logger.info("broken %s %s", "+31612345678")  # too few args: must not leak the number either
    out = stream.getvalue()
    assert "12345678" not in out
    assert "ValueError: cannot send to +31 6 ****5678" in out
