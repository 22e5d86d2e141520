"""Self-service SMS keywords (issue 19): property tests over case, accents, spacing and
punctuation, and the rule that a tip starting with such a word stays a tip (pure)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burgerwacht.residents.address import AddressQuery
from burgerwacht.residents.keywords import (
    STOP_WORDS,
    Bulletins,
    Confirm,
    EndPause,
    Erase,
    FreeText,
    ListAddresses,
    Move,
    Pause,
    RemoveAddress,
    Resume,
    SetChannel,
    SetLanguage,
    Stop,
    Visit,
    parse_sms,
)

WHOLE: dict[str, object] = {
    "SPRAAK": SetChannel("voice"),
    "VOICE": SetChannel("voice"),
    "SMS": SetChannel("sms"),
    "ENGLISH": SetLanguage("en"),
    "ENGELS": SetLanguage("en"),
    "NEDERLANDS": SetLanguage("nl"),
    "DUTCH": SetLanguage("nl"),
    "PAUZE": Pause(None),
    "PAUSE": Pause(None),
    "HERVAT": EndPause(),
    "RESUME": EndPause(),
    "ADRESSEN": ListAddresses(),
    "ADDRESSES": ListAddresses(),
    "VERHUIS": Move(None),
    "MOVE": Move(None),
    "BEZOEK": Visit(None),
    "VISIT": Visit(None),
}
NOISE = " \t\n.,!?:;-"
ACCENTS = ["\u0301", "\u0300", "\u0308", "\u0302"]  # combining acute, grave, diaeresis, circumflex


@st.composite
def dressed(draw: st.DrawFn, word: str) -> str:
    """The word in any case, some vowels accented, in noise."""
    out = []
    for c in word:
        c = c.upper() if draw(st.booleans()) else c.lower()
        if c.lower() in "aeiou" and draw(st.integers(0, 3)) == 0:
            c = unicodedata.normalize("NFC", c + draw(st.sampled_from(ACCENTS)))
        out.append(c)
    noise = st.text(alphabet=NOISE, max_size=3)
    return draw(noise) + "".join(out) + draw(noise)


@st.composite
def whole_keyword(draw: st.DrawFn) -> tuple[str, object]:
    word = draw(st.sampled_from(sorted(WHOLE)))
    return draw(dressed(word)), WHOLE[word]


@settings(max_examples=300, deadline=None)
@given(whole_keyword())
def test_whole_message_keywords(case: tuple[str, object]) -> None:
    body, expected = case
    assert parse_sms(body) == expected


SPACES = st.text(alphabet=" \t", min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@given(
    word=st.sampled_from(["PAUZE", "PAUSE"]).flatmap(dressed),
    everything=st.sampled_from(["", "ALLES", "all", "Allés"]),
    days=st.integers(1, 9999),
    unit=st.sampled_from(["", "dagen", "DAG", "days", "Day"]),
    sep=SPACES,
    first=st.booleans(),
)
def test_pause_with_days_and_all(word, everything, days, unit, sep, first) -> None:
    parts = [f"{days}{sep}{unit}".strip()]
    if everything:
        parts.insert(0 if first else 1, everything)
    body = word.rstrip(NOISE) + sep + sep.join(parts)
    assert parse_sms(body) == Pause(days, bool(everything))


@settings(max_examples=200, deadline=None)
@given(
    word=st.sampled_from(["VERWIJDER", "delete", "Verwijderen"]).flatmap(dressed),
    n=st.integers(1, 99),
    sep=SPACES,
)
def test_remove_one_address(word: str, n: int, sep: str) -> None:
    assert parse_sms(word.rstrip(NOISE) + sep + str(n)) == RemoveAddress(n)


@settings(max_examples=200, deadline=None)
@given(
    word=st.sampled_from(["BERICHTEN", "messages"]).flatmap(lambda w: dressed(w)),
    on=st.booleans(),
    sep=SPACES,
)
def test_bulletins_on_and_off(word: str, on: bool, sep: str) -> None:
    folded = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)).lower()
    second = ("aan" if on else "uit") if "berichten" in folded else ("On" if on else "oFF")
    assert parse_sms(word.rstrip(NOISE) + sep + second + " .") == Bulletins(on)


@settings(max_examples=300, deadline=None)
@given(
    word=st.sampled_from(["VERHUIS", "move"]).flatmap(dressed),
    digits=st.integers(1000, 9999),
    letters=st.sampled_from(["AB", "bl", "Xz"]),
    number=st.integers(1, 99999),
    sep=SPACES,
)
def test_move_to_an_address(word, digits, letters, number, sep) -> None:
    body = f"{word.rstrip(NOISE)}{sep}{digits}{letters}{sep}{number}"
    assert parse_sms(body) == Move(AddressQuery(f"{digits}{letters.upper()}", number))


@settings(max_examples=300, deadline=None)
@given(
    word=st.sampled_from(["BEZOEK", "visit"]).flatmap(dressed),
    digits=st.integers(1000, 9999),
    number=st.one_of(st.none(), st.integers(1, 99999)),
    hours=st.one_of(st.none(), st.integers(1, 999)),
    unit=st.sampled_from(["", " uur", "u", " hours", "h"]),
    sep=SPACES,
)
def test_visit(word, digits, number, hours, unit, sep) -> None:
    body = f"{word.rstrip(NOISE)}{sep}{digits} ab"
    if number is not None:
        body += f"{sep}{number}"
    if hours is not None:
        if number is None and not unit:
            unit = " uur"  # hours alone need their unit
        body += f"{sep}{hours}{unit}"
    assert parse_sms(body) == Visit(f"{digits}AB", number, None, hours)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ja", Confirm("ja")),
        ("  JA! ", Confirm("JA!")),
        ("Já", Confirm("Já")),
        ("VERWIJDER", Erase()),  # plain VERWIJDER still erases everything
        ("delete", Erase()),
        ("YES", Resume()),  # Twilio's opt-in word keeps its meaning
        ("PAUZE ALLES", Pause(None, True)),
        ("bezoek 9993bl 12a 48", Visit("9993BL", 12, "A", 48)),
        ("BEZOEK 9993BL 48u", Visit("9993BL", None, None, 48)),
        ("BEZOEK 9999", Visit(None)),
        ("MOVE 1234", Move(None)),
        *((w, Stop()) for w in sorted(STOP_WORDS)),
    ],
)
def test_examples(body: str, expected: object) -> None:
    assert parse_sms(body) == expected


TIP_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéë ", min_size=1, max_size=30).filter(
    lambda s: (
        any(c.isalpha() for c in s)
        and not {w.strip() for w in s.split()}
        & {"all", "alles", "aan", "uit", "on", "off", "dag", "dagen", "d"}
    )
)


@settings(max_examples=300, deadline=None)
@given(
    word=st.sampled_from([*sorted(WHOLE), "JA", "BERICHTEN", "MESSAGES"]).flatmap(dressed),
    rest=TIP_WORDS,
    sep=st.sampled_from([" ", "  ", ", ", ": ", "! "]),
)
def test_keyword_followed_by_words_is_a_tip(word: str, rest: str, sep: str) -> None:
    body = word.strip(NOISE) + sep + rest
    assert parse_sms(body) == FreeText(body.strip())


@pytest.mark.parametrize(
    "body",
    [
        "bezoek aan oma",
        "verhuis de auto naar de overkant",
        "pauze bij de bushalte",
        "ja ik zag hem",
        "sms van mijn buurman",
        "verwijder 2 auto's van de stoep",
        "berichten over de brand",
        "move away from the car",
        "visit the station",
        "pause 7 men ran away",
    ],
)
def test_tips_starting_with_a_self_service_word(body: str) -> None:
    assert parse_sms(body) == FreeText(body)
