"""Summary periods: whole calendar months, quarters and years only.

Published figures exist only for these periods (a laminar family: every month lies in
one quarter, every quarter in one year), so two answers can never be subtracted to get
the count of a shorter, arbitrary stretch of days. See docs/signals.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["month", "quarter", "year"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
MIN_YEAR, MAX_YEAR = 2000, 2100


class PeriodError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Period:
    year: int
    kind: Kind
    index: int  # month 1-12, quarter 1-4, year 1

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.year}-{self.index:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.index}"
        return f"{self.year}"

    @property
    def start(self) -> date:
        if self.kind == "month":
            return date(self.year, self.index, 1)
        if self.kind == "quarter":
            return date(self.year, 3 * self.index - 2, 1)
        return date(self.year, 1, 1)

    @property
    def end(self) -> date:
        """Last day, inclusive."""
        return self.end_exclusive - timedelta(days=1)

    @property
    def end_exclusive(self) -> date:
        if self.kind == "month":
            return date(self.year + self.index // 12, self.index % 12 + 1, 1)
        if self.kind == "quarter":
            m = 3 * self.index + 1
            return date(self.year + (m > 12), (m - 1) % 12 + 1, 1)
        return date(self.year + 1, 1, 1)

    def previous(self) -> Period:
        """The period of equal length just before this one."""
        size = {"month": 12, "quarter": 4, "year": 1}[self.kind]
        if self.index > 1:
            return Period(self.year, self.kind, self.index - 1)
        return Period(self.year - 1, self.kind, size)

    def as_dict(self) -> dict[str, str]:
        return {
            "label": self.label,
            "kind": self.kind,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
        }


def _year(text: str) -> int:
    y = int(text)
    if not MIN_YEAR <= y <= MAX_YEAR:
        raise PeriodError(f"year {y} is outside {MIN_YEAR}-{MAX_YEAR}")
    return y


def parse_period(text: str) -> Period:
    """``2025``, ``2025-Q1`` or ``2025-03``."""
    t = (text or "").strip()
    if m := _MONTH.match(t):
        month = int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"month {month} does not exist")
        return Period(_year(m.group(1)), "month", month)
    if m := _QUARTER.match(t):
        return Period(_year(m.group(1)), "quarter", int(m.group(2)))
    if m := _YEAR.match(t):
        return Period(_year(m.group(1)), "year", 1)
    raise PeriodError(f"period {t!r} is not a year (2025), quarter (2025-Q1) or month (2025-03)")


def from_dates(start: date, end: date) -> Period:
    """The calendar month, quarter or year that is exactly ``start``..``end`` (inclusive)."""
    if end < start:
        raise PeriodError("'to' is before 'from'")
    candidates = [Period(_year(str(start.year)), "month", start.month)]
    if start.month % 3 == 1:
        candidates.append(Period(start.year, "quarter", (start.month + 2) // 3))
    if start.month == 1:
        candidates.append(Period(start.year, "year", 1))
    for p in candidates:
        if p.start == start and p.end == end:
            return p
    raise PeriodError(
        "from/to must cover exactly one calendar month, quarter or year "
        "(e.g. from=2025-01-01&to=2025-03-31); arbitrary date ranges are not published, "
        "because two overlapping ranges could be subtracted to reveal small counts"
    )


def containing(day: date, kind: Kind) -> Period:
    if kind == "month":
        return Period(day.year, "month", day.month)
    if kind == "quarter":
        return Period(day.year, "quarter", (day.month + 2) // 3)
    return Period(day.year, "year", 1)


def year_periods(year: int) -> list[Period]:
    """The time axis of a year's cube: 12 months, 4 quarters, the year."""
    return (
        [Period(year, "month", m) for m in range(1, 13)]
        + [Period(year, "quarter", q) for q in range(1, 5)]
        + [Period(year, "year", 1)]
    )


def time_relations() -> list[tuple[int, list[int]]]:
    """(parent, children) on the axis of :func:`year_periods`."""
    quarters = [(12 + q, [3 * q + i for i in range(3)]) for q in range(4)]
    return [*quarters, (16, [12, 13, 14, 15])]


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def today() -> date:
    """Today in the Netherlands (a signal's date, the default period)."""
    return datetime.now(AMSTERDAM).date()


def last_complete_month(now: date) -> Period:
    first = now.replace(day=1)
    return containing(first - timedelta(days=1), "month")
