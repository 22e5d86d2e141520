"""Postcodes, house numbers, addresses in free text, and the address CSV reader (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burgerwacht.areas.parse import AddressRow, ParseProblem, read_address_chunks, read_address_rows
from burgerwacht.geo import wgs84_to_rd
from burgerwacht.residents.address import (
    AddressError,
    AddressQuery,
    format_postcode,
    normalise_house_number,
    normalise_postcode,
    parse_address_text,
)


@pytest.mark.parametrize(
    "raw", ["1234ab", "1234 AB", "1234  ab", " 1234-ab ", "1234AB", "1234 - Ab", "\t1234\u00a0aB\n"]
)
def test_postcode_variants(raw: str) -> None:
    assert normalise_postcode(raw) == "1234AB"
    assert format_postcode(raw) == "1234 AB"


@pytest.mark.parametrize(
    ("raw", "message_nl"),
    [
        ("", "Vul een postcode in zoals 1234 AB."),
        ("   ", "Vul een postcode in zoals 1234 AB."),
        ("0123 AB", "Een postcode begint niet met 0. Vul een postcode in zoals 1234 AB."),
        ("1234 SA", "Postcode 1234 SA bestaat niet."),
        ("1234sd", "Postcode 1234 SD bestaat niet."),
        ("1234 ss", "Postcode 1234 SS bestaat niet."),
        ("123 AB", "Dit is geen geldige postcode. Vul een postcode in zoals 1234 AB."),
        ("12345 AB", "Dit is geen geldige postcode. Vul een postcode in zoals 1234 AB."),
        ("1234 A", "Dit is geen geldige postcode. Vul een postcode in zoals 1234 AB."),
        ("1234 ABC", "Dit is geen geldige postcode. Vul een postcode in zoals 1234 AB."),
        ("ABCD 12", "Dit is geen geldige postcode. Vul een postcode in zoals 1234 AB."),
        ("1234 A1", "Dit is geen geldige postcode. Vul een postcode in zoals 1234 AB."),
    ],
)
def test_bad_postcodes(raw: str, message_nl: str) -> None:
    with pytest.raises(AddressError) as err:
        normalise_postcode(raw)
    assert err.value.message_nl == message_nl
    assert err.value.field == "postcode"
    assert err.value.message_en and str(err.value) == err.value.message_en


@settings(max_examples=200, deadline=None)
@given(
    digits=st.integers(min_value=1000, max_value=9999),
    letters=st.from_regex(r"[A-Za-z]{2}", fullmatch=True),
    sep=st.sampled_from(["", " ", "  ", "-", " -  "]),
)
def test_postcode_property(digits: int, letters: str, sep: str) -> None:
    raw = f" {digits}{sep}{letters} "
    if letters.upper() in {"SA", "SD", "SS"}:
        with pytest.raises(AddressError):
            normalise_postcode(raw)
    else:
        assert normalise_postcode(raw) == f"{digits}{letters.upper()}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", (12, None, None)),
        (12, (12, None, None)),
        ("12a", (12, "A", None)),
        ("12 A", (12, "A", None)),
        ("12-2", (12, None, "2")),
        ("12/2", (12, None, "2")),
        ("12 2", (12, None, "2")),
        ("12 bis", (12, None, "BIS")),
        ("12 hs", (12, None, "HS")),
        ("12-A", (12, None, "A")),
        ("12A-3", (12, "A", "3")),
        ("12 a - 3", (12, "A", "3")),
        ("12A3", (12, "A", "3")),
        ("12a hs", (12, "A", "HS")),
        ("12 II", (12, None, "II")),
        ("99999", (99999, None, None)),
        ("007", (7, None, None)),
        (" 1 ", (1, None, None)),
    ],
)
def test_house_number_forms(raw: str | int, expected: tuple[int, str | None, str | None]) -> None:
    assert normalise_house_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "0",
        0,
        "100000",
        100000,
        "1234567",
        "a12",
        "12 abcde",
        "12-ABCDE",
        "12 a b c",
        "-3",
        True,
        None,
        1.5,
    ],
)
def test_bad_house_numbers(raw: object) -> None:
    with pytest.raises(AddressError) as err:
        normalise_house_number(raw)  # type: ignore[arg-type]
    assert err.value.field == "house_number"
    assert "huisnummer" in err.value.message_nl


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aanmelden 1234ab 12", AddressQuery("1234AB", 12)),
        ("signaal graffiti bij 1234 AB 5a", AddressQuery("1234AB", 5, "A")),
        ("graffiti bij 1234 AB 5a op de muur", AddressQuery("1234AB", 5, "A")),
        ("1234AB 12 bis", AddressQuery("1234AB", 12, None, "BIS")),
        ("1234 ab, nr. 12-3 graag", AddressQuery("1234AB", 12, None, "3")),
        ("postcode 1234 AB huisnummer 7", AddressQuery("1234AB", 7)),
        ("1234AB 12 is kapot", AddressQuery("1234AB", 12)),
        ("1234-ab 12A-3.", AddressQuery("1234AB", 12, "A", "3")),
        ("eerst 0123 AB 4 dan 2345 CD 6", AddressQuery("2345CD", 6)),
        ("1234 SA 12 en 1234 AB 13", AddressQuery("1234AB", 13)),
    ],
)
def test_parse_address_text(text: str, expected: AddressQuery) -> None:
    assert parse_address_text(text) == expected


@pytest.mark.parametrize(
    "text", ["", "geen adres", "1234 AB", "1234 AB zonder nummer", "12345 AB 12", "1234ABC 12"]
)
def test_parse_address_text_none(text: str) -> None:
    assert parse_address_text(text) is None


def test_address_query_label() -> None:
    assert AddressQuery("1234AB", 12, "A", "3").label == "1234 AB 12A-3"
    assert AddressQuery("1234AB", 12).label == "1234 AB 12"


# ------------------------------------------------------------------------ CSV reader

CSV = """postcode,huisnummer,huisletter,huisnummertoevoeging,x,y
3811AB,1,,,155000.5,463000.25
3811 ab,2,a,,155010,463000
0123AB,3,,,155020,463000
3811AB,x,,,155030,463000
3811AB,4,,,,463000
3811AB,5,,,5000,100000

3811AB,6,,toolong,155050,463000
3811AB,7,AB,,155060,463000
3811AB,8b,,2,155070,463000
3811SA,9,,,155080,463000
3811AB,10,,,nan,463000
3811AB,11
"""


def test_csv_rows_and_problems_by_line() -> None:
    items = list(read_address_rows(CSV.splitlines(keepends=True)))
    rows = [i for i in items if isinstance(i, AddressRow)]
    problems = {p.line_or_index: p.message for p in items if isinstance(p, ParseProblem)}
    assert [(r.line, r.postcode, r.house_number, r.house_letter, r.addition) for r in rows] == [
        (2, "3811AB", 1, None, None),
        (3, "3811AB", 2, "A", None),
        (11, "3811AB", 8, "B", "2"),
    ]
    assert (rows[0].x, rows[0].y) == (155000.5, 463000.25)
    assert set(problems) == {4, 5, 6, 7, 9, 10, 12, 13, 14}
    assert "bad postcode" in problems[4]
    assert "bad house number" in problems[5]
    assert "missing coordinate" in problems[6]
    assert "outside the Netherlands" in problems[7]
    assert "huisnummertoevoeging" in problems[9]
    assert "huisletter" in problems[10]
    assert "bad postcode" in problems[12] and "SA" in problems[12]
    assert "bad coordinate" in problems[13]
    assert "too few columns" in problems[14]
    # file order is kept
    lines = [i.line if isinstance(i, AddressRow) else i.line_or_index for i in items]
    assert lines == sorted(lines)


def test_csv_semicolon_wgs84_decimal_comma_bom() -> None:
    lon, lat = 5.38721, 52.15517
    text = (
        "\ufeffPostcode;Huisnummer;Toevoeging;Lat;Lon\n"
        f"3811 AB;1;;{str(lat).replace('.', ',')};{str(lon).replace('.', ',')}\n"
        "3811AB;2;1;48,85;2,35\n"
    )
    items = list(read_address_rows(text.splitlines(keepends=True)))
    row, problem = items
    assert isinstance(row, AddressRow) and isinstance(problem, ParseProblem)
    assert abs(row.x - 155000) < 1 and abs(row.y - 463000) < 1
    assert problem.line_or_index == 3 and "outside the Netherlands" in problem.message
    x, y = wgs84_to_rd(lon, lat)
    assert (round(row.x, 3), round(row.y, 3)) == (round(x, 3), round(y, 3))


def test_csv_target_crs_and_leading_blank_lines() -> None:
    text = "\n\npostcode,huisnummer,x,y\n3811AB,1,155000,463000\n"
    (row,) = list(read_address_rows(text.splitlines(keepends=True), target_epsg=4326))
    assert row.line == 4
    assert abs(row.x - 5.38721) < 1e-4 and abs(row.y - 52.15517) < 1e-4


def test_csv_missing_columns() -> None:
    (problem,) = list(read_address_rows(["postcode,nummer,x,y\n", "3811AB,1,155000,463000\n"]))
    assert isinstance(problem, ParseProblem) and problem.line_or_index == 1
    assert "huisnummer" in problem.message
    (problem,) = list(read_address_rows(["postcode,huisnummer,lat\n"]))
    assert "x and y" in problem.message
    assert list(read_address_rows([])) == []


def test_csv_chunks() -> None:
    lines = (
        ["postcode,huisnummer,x,y\n"]
        + [f"3811AB,{n},155000,463000\n" for n in range(1, 26)]
        + ["bad,1,1,1\n"]
    )
    chunks = list(read_address_chunks(lines, chunk_size=10))
    assert [len(r) + len(p) for r, p in chunks] == [10, 10, 6]
    assert chunks[-1][1][0].line_or_index == 27
    assert [r.house_number for rows, _ in chunks for r in rows] == list(range(1, 26))


def test_csv_unreadable_line_is_reported_and_skipped() -> None:
    lines = ["postcode,huisnummer,x,y\n", "3811AB,1\r,155000,463000\n", "3811AB,2,155000,463000\n"]
    items = list(read_address_rows(lines))
    assert isinstance(items[0], ParseProblem) and "unreadable" in items[0].message
    assert isinstance(items[-1], AddressRow) and items[-1].house_number == 2
