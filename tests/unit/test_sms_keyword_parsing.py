"""SMS keyword parsing: property tests over spacing, case and punctuation (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burgerwacht.residents.address import AddressQuery
from burgerwacht.residents.keywords import (
    AnonymousTip,
    Enrol,
    Erase,
    FreeText,
    Help,
    Resume,
    Signal,
    Stop,
    parse_sms,
    split_reference,
)

WHOLE_WORDS: dict[str, object] = {
    **{
        w: Stop()
        for w in ["STOP", "AFMELDEN", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
    },
    **{w: Resume() for w in ["START", "JOIN", "UNSTOP", "YES"]},
    **{w: Erase() for w in ["VERWIJDER", "VERWIJDEREN", "DELETE"]},
    **{w: Help() for w in ["INFO", "HELP", "HULP"]},
    "AANMELDEN": Enrol(None),
}
NOISE = " \t\n.,!?:;-"


def _cased(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flags: "".join(c.upper() if f else c.lower() for c, f in zip(word, flags, strict=True))
    )


@st.composite
def keyword_message(draw: st.DrawFn) -> tuple[str, object]:
    word = draw(st.sampled_from(sorted(WHOLE_WORDS)))
    body = (
        draw(st.text(alphabet=NOISE, max_size=4))
        + draw(_cased(word))
        + draw(st.text(alphabet=NOISE, max_size=4))
    )
    return body, WHOLE_WORDS[word]


@settings(max_examples=300, deadline=None)
@given(keyword_message())
def test_whole_message_keywords(case: tuple[str, object]) -> None:
    body, expected = case
    assert parse_sms(body) == expected


@pytest.mark.parametrize("body", ["STOP!!!", "  stop.  ", "Stop", "-stop-", "ＳＴＯＰ", "stop\u00a0"])
def test_stop_variants(body: str) -> None:
    assert parse_sms(body) == Stop()


TIP_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéë ", min_size=1, max_size=30).filter(
    lambda s: any(c.isalpha() for c in s)
)


@settings(max_examples=300, deadline=None)
@given(
    word=st.sampled_from(sorted(w for w in WHOLE_WORDS if w != "AANMELDEN")).flatmap(_cased),
    rest=TIP_WORDS,
    sep=st.sampled_from([" ", "  ", ", ", ": ", "! "]),
)
def test_keyword_followed_by_words_is_a_tip(word: str, rest: str, sep: str) -> None:
    body = word + sep + rest
    result = parse_sms(body)
    assert result == FreeText(body.strip())


@pytest.mark.parametrize(
    "body",
    [
        "stop de man",
        "stop de auto is gezien",
        "info over de auto",
        "help er ligt iemand op straat",
        "Start de auto niet, hij staat op de Dorpsstraat",
        "ja ik zag hem",
        "de verdachte liep richting station",
        "verwijder mij niet maar ik zag hem",
        "1234 AB",
    ],
)
def test_free_text_tips(body: str) -> None:
    assert parse_sms(body) == FreeText(body)


def test_free_text_is_stripped_original() -> None:
    assert parse_sms("  Rode Fiets bij het Station!  \n") == FreeText("Rode Fiets bij het Station!")
    assert parse_sms("") == FreeText("")


POSTCODE_LETTERS = st.tuples(
    st.sampled_from("ABCDEFGHJKLMNPRSTVWXZ"), st.sampled_from("ABCDEFGHJKLMNPRTVWXZ")
)


@settings(max_examples=300, deadline=None)
@given(
    keyword=st.sampled_from(["AANMELDEN", "START", "JOIN"]).flatmap(_cased),
    digits=st.integers(min_value=1000, max_value=9999),
    letters=POSTCODE_LETTERS.map("".join).filter(lambda s: s not in {"SA", "SD", "SS"}).flatmap(_cased),
    pc_sep=st.sampled_from(["", " ", "  ", "-", " - "]),
    number=st.integers(min_value=1, max_value=99999),
    suffix=st.sampled_from(
        [
            ("", None, None),
            ("a", "A", None),
            (" B", "B", None),
            ("-2", None, "2"),
            ("A-3", "A", "3"),
            (" bis", None, "BIS"),
            ("/1", None, "1"),
        ]
    ),
    kw_sep=st.sampled_from([" ", ": ", ", ", "  "]),
    between=st.sampled_from([" ", "  ", ", ", " nr. ", " huisnummer "]),
    trailing=st.sampled_from(["", " ", ".", "!"]),
)
def test_enrol_parses_address(
    keyword: str,
    digits: int,
    letters: str,
    pc_sep: str,
    number: int,
    suffix: tuple[str, str | None, str | None],
    kw_sep: str,
    between: str,
    trailing: str,
) -> None:
    text, letter, addition = suffix
    body = f"{keyword}{kw_sep}{digits}{pc_sep}{letters}{between}{number}{text}{trailing}"
    assert parse_sms(body) == Enrol(AddressQuery(f"{digits}{letters.upper()}", number, letter, addition))


@pytest.mark.parametrize(
    "body",
    [
        "AANMELDEN",
        "aanmelden",
        "aanmelden 1234",
        "aanmelden 0123 AB 12",
        "aanmelden 1234 SA 12",
        "aanmelden lukt niet",
        "aanmelden 1234AB",
        "START 1234 AB",
        "join 0123ab 5",
    ],
)
def test_enrol_without_valid_address(body: str) -> None:
    assert parse_sms(body) == Enrol(None)


@settings(max_examples=150, deadline=None)
@given(
    keyword=st.sampled_from(["SIGNAAL", "ANONIEM"]).flatmap(_cased),
    sep=st.sampled_from([" ", ": ", " - ", ":", ", "]),
    text=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC 0123456789", min_size=1, max_size=40).filter(
        lambda s: s.strip() and s.strip()[0].isalnum()
    ),
    lead=st.text(alphabet=" .", max_size=2),
)
def test_signal_and_anonymous_keep_text(keyword: str, sep: str, text: str, lead: str) -> None:
    cls = Signal if keyword.upper() == "SIGNAAL" else AnonymousTip
    assert parse_sms(f"{lead}{keyword}{sep}{text}") == cls(text.strip())


def test_signal_examples() -> None:
    assert parse_sms("SIGNAAL graffiti op de muur bij 1234 AB 5") == Signal(
        "graffiti op de muur bij 1234 AB 5"
    )
    assert parse_sms("Anoniem: Auto met Kenteken XX-123-Y") == AnonymousTip("Auto met Kenteken XX-123-Y")
    assert parse_sms("signaal") == Signal("")
    assert parse_sms("ANONIEM!") == AnonymousTip("")
    assert parse_sms("signalen zijn er genoeg") == FreeText("signalen zijn er genoeg")


KNOWN = ["B7K", "X2P", "Q9Z"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B7K rode auto", ("B7K", "rode auto")),
        ("b7k: rode auto", ("B7K", "rode auto")),
        ("#B7K zag hem", ("B7K", "zag hem")),
        ("#b7k", ("B7K", "")),
        ("[B7K] bij de kerk", ("B7K", "bij de kerk")),
        ("  x2p - richting station", ("X2P", "richting station")),
        ("B7Kx rode auto", (None, "B7Kx rode auto")),
        ("AB1 rode auto", (None, "AB1 rode auto")),
        ("rode auto B7K", (None, "rode auto B7K")),
        ("", (None, "")),
    ],
)
def test_split_reference(text: str, expected: tuple[str | None, str]) -> None:
    assert split_reference(text, KNOWN) == expected


@settings(max_examples=150, deadline=None)
@given(
    ref=st.from_regex(r"[A-Z][0-9][A-Z]", fullmatch=True),
    prefix=st.sampled_from(["", "#", "[", " "]),
    sep=st.sampled_from([" ", ": ", ":", " - ", "] ", ", "]),
    rest=st.text(alphabet="abcdefg hij", min_size=1, max_size=20).filter(lambda s: s.strip()),
    lower=st.booleans(),
)
def test_split_reference_property(ref: str, prefix: str, sep: str, rest: str, lower: bool) -> None:
    typed = ref.lower() if lower else ref
    assert split_reference(f"{prefix}{typed}{sep}{rest}", [ref]) == (ref, rest.strip())
    assert split_reference(f"{prefix}{typed}{sep}{rest}", [])[0] is None
