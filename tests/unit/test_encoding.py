"""SMS encoding analysis: GSM-7 vs UCS-2 and segment counts, on Dutch examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from burgerwacht.messaging.encoding import (
    GSM7_BASIC,
    GSM7_CHARACTERS,
    GSM7_EXTENSION,
    analyse,
    gsm7_fold,
    is_gsm7,
    segment_count,
)


def test_plain_dutch_alert_is_one_gsm7_segment() -> None:
    result = analyse("Let op: vermist meisje")
    assert result.encoding == "GSM-7"
    assert result.segments == 1
    assert result.characters == 22
    assert result.ucs2_characters == []


def test_diaeresis_forces_ucs2_and_is_named() -> None:
    result = analyse("Oproep: man in een blauwe jas, ë")
    assert result.encoding == "UCS-2"
    assert result.ucs2_characters == ["ë"]
    assert result.segments == 1


@pytest.mark.parametrize("char", ["é", "è", "à", "Ä", "ö", "ü", "Ç", "ß", "É"])
def test_gsm7_accented_letters(char: str) -> None:
    assert analyse(f"caf{char}").encoding == "GSM-7"


@pytest.mark.parametrize("char", ["ë", "ï", "ê", "á", "ó", "ç", "‘", "’", "“", "”", "–"])
def test_characters_that_force_ucs2(char: str) -> None:
    result = analyse(f"tekst {char}")
    assert result.encoding == "UCS-2"
    assert result.ucs2_characters == [char]


def test_ucs2_characters_distinct_in_order_of_appearance() -> None:
    assert analyse("Zoë zag één ïdee, Zoë").ucs2_characters == ["ë", "ï"]
    # é is GSM-7 and therefore not listed even though it is next to ë.
    assert "é" not in analyse("één").ucs2_characters


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_segment_boundaries(length: int, segments: int) -> None:
    result = analyse("a" * length)
    assert (result.encoding, result.segments, result.characters) == ("GSM-7", segments, length)
    assert segment_count("a" * length) == segments


def test_euro_and_extension_characters_count_two_septets() -> None:
    assert analyse("€").characters == 2
    assert analyse("€ 10").characters == 5
    assert analyse("[x]").characters == 5
    assert analyse("{}^~\\|").characters == 12
    assert analyse("€" * 80).segments == 1  # 160 septets
    assert analyse("€" * 80 + "a").segments == 2


def test_escape_sequence_never_split_across_segments() -> None:
    # 152 plain characters then € (2 septets) would straddle the 153-septet boundary.
    text = "a" * 152 + "€" + "a" * 10
    result = analyse(text)
    assert result.characters == 164
    assert result.segments == 2  # part 1: 152 septets (€ moves on), part 2: 12 septets


@pytest.mark.parametrize(
    ("length", "segments"),
    [(69, 1), (70, 1), (71, 2), (134, 2), (135, 3)],
)
def test_ucs2_segment_boundaries(length: int, segments: int) -> None:
    text = "ë" * length
    result = analyse(text)
    assert (result.encoding, result.segments, result.characters) == ("UCS-2", segments, length)
    assert segment_count(text) == segments


def test_emoji_counts_two_utf16_units() -> None:
    result = analyse("🚨" * 35)
    assert result.characters == 70
    assert result.segments == 1
    assert analyse("🚨" * 36).segments == 2


def test_gsm7_fold_replaces_typographic_look_alikes_only() -> None:
    text = "“Let op” – ‘vermist’… meisje\u00a0(8 jaar)"
    folded = gsm7_fold(text)
    assert folded == "\"Let op\" - 'vermist'... meisje (8 jaar)"
    assert analyse(folded).encoding == "GSM-7"
    # Letters with diacritics carry meaning in Dutch and are not folded.
    assert gsm7_fold("Zoë en Noël") == "Zoë en Noël"


def test_tables_are_exact() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes minus ESC
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert is_gsm7("@£$¥\n") and not is_gsm7("`")


@given(st.text(alphabet=sorted(GSM7_CHARACTERS), max_size=700))
def test_gsm7_texts_segment_consistently(text: str) -> None:
    result = analyse(text)
    assert result.encoding == "GSM-7"
    assert result.characters == len(text) + sum(c in GSM7_EXTENSION for c in text)
    if result.characters <= 160:
        assert result.segments == 1
    else:
        assert result.segments >= -(-result.characters // 153)
    assert segment_count(text) == result.segments


@given(st.text(max_size=300))
def test_fold_is_idempotent_and_never_adds_ucs2(text: str) -> None:
    folded = gsm7_fold(text)
    assert gsm7_fold(folded) == folded
    assert set(analyse(folded).ucs2_characters) <= set(analyse(text).ucs2_characters)
