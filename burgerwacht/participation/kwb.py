"""CBS "Kerncijfers wijken en buurten" (KWB): inhabitants and households per gemeente,
wijk and buurt, read from CBS's CSV layout.

CBS publishes the KWB as a table with one row per region: ``gwb_code_10`` (or
``gwb_code``) holds the code (``GM0363``, ``WK036300``, ``BU03630000``; the national
row ``NL00`` is skipped), ``regio`` the name, ``gm_naam`` the municipality's name,
``recs`` the kind (``Gemeente``, ``Wijk``, ``Buurt``, ``Land``), ``a_inw`` the
inhabitants and ``a_hh`` the households (older releases and the Wijk- en Buurtkaart
call them ``aant_inw`` and ``aant_hh``). Fields are separated by ``;`` (``,`` is
accepted too), ``.`` marks a figure CBS does not publish (``x``, ``-`` and an empty
field are read the same way: no figure). Other columns are ignored.

Every line is checked before anything is stored; errors name the line (1 = header).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

MAX_LINES = 100_000
CODE_COLUMNS = ("gwb_code_10", "gwb_code")
INHABITANT_COLUMNS = ("a_inw", "aant_inw")
HOUSEHOLD_COLUMNS = ("a_hh", "aant_hh")
NAME_COLUMNS = ("regio", "naam")
MISSING = {"", ".", "x", "-", "?"}
KINDS = {"gemeente": "gemeente", "wijk": "wijk", "buurt": "buurt"}
SKIPPED_KINDS = {"land", "nederland"}


@dataclass(frozen=True)
class LineError:
    line: int
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        loc = f"line {self.line}" + (f": {self.column}" if self.column else "")
        return {
            "line": self.line,
            "column": self.column,
            "loc": loc,
            "msg": self.message,
            "type": "value_error",
        }

    def __str__(self) -> str:
        return f"line {self.line}{': ' + self.column if self.column else ''}: {self.message}"


@dataclass(frozen=True)
class Figure:
    line: int
    code: str
    level: str
    name: str
    municipality_code: str
    inhabitants: int | None
    households: int | None


def decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM); CBS's older files are Windows-1252."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def level_of(code: str) -> str | None:
    """The CBS level a code has by its shape, or None."""
    digits = code[2:]
    if not (digits.isascii() and digits.isdigit()):
        return None
    if code.startswith("GM") and len(code) == 6:
        return "gemeente"
    if code.startswith("WK") and len(code) == 8:
        return "wijk"
    if code.startswith("BU") and len(code) == 10:
        return "buurt"
    return None


def _count(raw: str) -> int | None:
    text = raw.strip()
    if text.lower() in MISSING:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ValueError(f"{text!r} is not a whole number >= 0 (or '.' for no figure)")
    return int(text)


def _first(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def parse(text: str) -> tuple[list[Figure], list[LineError]]:
    """The figures of a KWB CSV file and every line's errors (empty: all good)."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].strip():
        return [], [
            LineError(1, None, "empty file; expected a CBS KWB header (gwb_code_10;regio;…;a_inw;a_hh)")
        ]
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    code_col = _first(header, CODE_COLUMNS)
    inw_col = _first(header, INHABITANT_COLUMNS)
    hh_col = _first(header, HOUSEHOLD_COLUMNS)
    name_col = _first(header, NAME_COLUMNS)
    kind_col = header.index("recs") if "recs" in header else None
    missing = []
    if code_col is None:
        missing.append(" or ".join(CODE_COLUMNS))
    if inw_col is None:
        missing.append(" or ".join(INHABITANT_COLUMNS))
    if missing:
        return [], [LineError(1, None, f"header lacks {', '.join(missing)}; is this a CBS KWB file?")]
    figures: list[Figure] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    for line_no, fields in enumerate(reader, start=2):
        if line_no > MAX_LINES:
            errors.append(LineError(line_no, None, f"more than {MAX_LINES} lines"))
            break
        if not any(f.strip() for f in fields):
            continue
        if len(fields) < len(header):
            errors.append(LineError(line_no, None, f"expected {len(header)} fields, found {len(fields)}"))
            continue
        code = fields[code_col].strip().upper()
        kind = fields[kind_col].strip().lower() if kind_col is not None else ""
        if kind in SKIPPED_KINDS or code.startswith("NL"):
            continue
        level = level_of(code)
        bad = False
        if level is None:
            errors.append(
                LineError(
                    line_no, header[code_col], f"{code!r} is not a CBS code (GM0000, WK000000, BU00000000)"
                )
            )
            bad = True
        elif kind and KINDS.get(kind) != level:
            errors.append(LineError(line_no, "recs", f"recs {kind!r} does not match the {level} code {code}"))
            bad = True
        values: dict[str, int | None] = {}
        for name, col in (("inhabitants", inw_col), ("households", hh_col)):
            if col is None:
                values[name] = None
                continue
            try:
                values[name] = _count(fields[col])
            except ValueError as exc:
                errors.append(LineError(line_no, header[col], str(exc)))
                bad = True
        if not bad and code in seen:
            errors.append(
                LineError(line_no, header[code_col], f"{code} appears twice (first on line {seen[code]})")
            )
            bad = True
        if bad or level is None:
            continue
        seen[code] = line_no
        figures.append(
            Figure(
                line=line_no,
                code=code,
                level=level,
                name=fields[name_col].strip()[:200] if name_col is not None else "",
                municipality_code="GM" + code[2:6],
                inhabitants=values["inhabitants"],
                households=values["households"],
            )
        )
    if not figures and not errors:
        errors.append(LineError(2, None, "the file has no gemeente, wijk or buurt lines"))
    return figures, errors
