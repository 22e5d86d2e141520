"""Field types shared by the API models.

Dates and times are ISO 8601 only. Pydantic also reads a number as a Unix time
(``?to=0`` became 1970-01-01 and ``?since=0.5`` a moment in 1970), which no client
means; a value that is not an ISO date (``YYYY-MM-DD``) or date-time
(``YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]``) is a 422 naming the field.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$", re.ASCII
)


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("give an ISO date, YYYY-MM-DD")
    return value


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ValueError("give an ISO 8601 date-time, e.g. 2026-03-01T12:00:00+01:00")
    return value


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _DATE.pattern}),
]
IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_datetime),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _DATETIME.pattern}),
]

#: Texts that go out as SMS, speech and CAP XML refuse C0/C1 control characters except
#: tab and line breaks (alerts.models.no_control_characters); the document says so.
_CONTROL_CLASS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
NO_CONTROL_PATTERN = rf"^[^{_CONTROL_CLASS}]*$"
#: The same, for a required text whose surrounding whitespace is stripped: at least one
#: character that is neither whitespace nor a control character.
VISIBLE_TEXT_PATTERN = rf"^[^{_CONTROL_CLASS}]*[^\s{_CONTROL_CLASS}][^{_CONTROL_CLASS}]*$"


def string_pattern(pattern: str) -> Any:
    """``json_schema_extra`` that documents a ``pattern`` the code checks itself (so its
    error stays the validator's): on the string branch of an optional field, where
    generators look for it, else on the field."""

    def extra(schema: dict[str, Any]) -> None:
        branches = [b for b in schema.get("anyOf", []) if b.get("type") == "string"]
        for target in branches or [schema]:
            target["pattern"] = pattern

    return extra
