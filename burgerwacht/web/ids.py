"""Numeric ids from paths and query strings: ASCII digits only (``str.isdigit`` is true
for '²' and other digits ``int`` refuses) and within the column's range (beyond it
PostgreSQL's bigint/int would be a 500, not a 404)."""

from __future__ import annotations

import re

from aiohttp import web

from burgerwacht.web.errors import Problem

BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(raw: str, maximum: int = BIGINT_MAX) -> int | None:
    """The id, or None when ``raw`` is not a plain decimal number in 0..maximum."""
    if not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= maximum else None


def path_id(request: web.Request, name: str, what: str, maximum: int = BIGINT_MAX) -> int:
    """The id in path segment ``name``, or a 404 problem "no {what} …"."""
    raw = request.match_info[name]
    value = parse_id(raw, maximum)
    if value is None:
        raise Problem(404, f"no {what} {raw[:40]}", slug="not-found")
    return value
