"""Wijk scope: a wijkagent (police) acts in named wijken (WK codes) of one municipality.

Every other role is scoped by municipality only (``StaffUser.can_access`` and
``web.api.check_scope``); for them every function here allows everything. For a
wijkagent an area is in scope when it *is* one of their wijken or a buurt inside one.
CBS codes carry their parents (``BU`` + gemeente 4 + wijk 2 + buurt 2, ``WK`` +
gemeente 4 + wijk 2), so the wijk of a buurt is read from its code: no lookup, and the
same answer whether or not the area is known here. A gemeente (or an unknown code
shape) is never inside a wijk.

Routes call :func:`check_area` (403 ``forbidden-scope`` naming the area),
:func:`check_level` (a wijkagent reads buurten and wijken, not the whole gemeente),
:func:`check_lines` (a file's area codes, with line numbers) and filter what they
return with :func:`keep`, :func:`keep_items` and :func:`keep_features`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from burgerwacht.auth.models import StaffUser
from burgerwacht.web.errors import Problem

WIJKAGENT = "wijkagent"


def wijk_of(code: str | None) -> str | None:
    """The wijk (WK code) an area code lies in: itself for a wijk, the parent for a
    buurt, None for a gemeente or anything else."""
    if not code:
        return None
    code = code.strip().upper()
    if len(code) == 10 and code.startswith("BU") and code[2:].isascii() and code[2:8].isdigit():
        return "WK" + code[2:8]
    if len(code) == 8 and code.startswith("WK") and code[2:].isascii() and code[2:].isdigit():
        return code
    return None


def limited(user: StaffUser) -> bool:
    """Whether the user is limited to wijken (a wijkagent)."""
    return bool(user.wijken)


def allows(user: StaffUser, code: str | None) -> bool:
    """Whether ``code`` (BU/WK/GM) is inside the user's wijken (always, without a limit)."""
    if not limited(user):
        return True
    return wijk_of(code) in user.wijken


def check_area(user: StaffUser, code: str | None, what: str = "area") -> None:
    """403 unless the area lies in the user's wijken."""
    if not allows(user, code):
        raise Problem(
            403,
            f"{what} {code or '(the whole municipality)'} is outside your wijken ({', '.join(user.wijken)})",
            slug="forbidden-scope",
        )


def check_level(user: StaffUser, level: str) -> None:
    """403 for a wijkagent asking for the gemeente level (it spans other wijken)."""
    if limited(user) and level not in ("buurt", "wijk"):
        raise Problem(
            403,
            f"a wijkagent reads buurten and wijken of their own wijken, not level={level}",
            slug="forbidden-scope",
        )


def check_lines(user: StaffUser, lines: Iterable[tuple[int, str]]) -> None:
    """403 naming every (line, area code) of a file outside the user's wijken."""
    if not limited(user):
        return
    outside = [(line, code) for line, code in lines if not allows(user, code)]
    if outside:
        raise Problem(
            403,
            f"{len(outside)} line(s) name areas outside your wijken ({', '.join(user.wijken)}); "
            "nothing was imported",
            slug="forbidden-scope",
            errors=[
                {
                    "line": line,
                    "loc": f"line {line}: area_code",
                    "msg": f"{code} is outside your wijken",
                    "type": "scope",
                }
                for line, code in outside[:1000]
            ],
        )


def keep(user: StaffUser, codes: Iterable[str]) -> list[str]:
    """The codes the user may see, in their order."""
    return [c for c in codes if allows(user, c)]


def keep_items(user: StaffUser, items: list[dict[str, Any]], key: str = "area_code") -> list[dict[str, Any]]:
    """The rows whose area the user may see (every row without a wijk limit)."""
    if not limited(user):
        return items
    return [i for i in items if allows(user, i.get(key))]


def keep_features(user: StaffUser, body: bytes) -> bytes:
    """A GeoJSON FeatureCollection (UTF-8 JSON) with only the features (``properties.code``)
    the user may see; unchanged without a wijk limit."""
    if not limited(user):
        return body
    doc = json.loads(body)
    doc["features"] = [
        f for f in doc.get("features", []) if allows(user, (f.get("properties") or {}).get("code"))
    ]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def validate_wijken(role: str, municipalities: list[str], wijken: list[str]) -> str | None:
    """Why this combination cannot be a user, or None: a wijkagent has wijken of exactly
    one municipality; other roles have none."""
    if role != WIJKAGENT:
        return "only a wijkagent is scoped to wijken" if wijken else None
    if not wijken:
        return "a wijkagent needs at least one wijk (WK code)"
    if len(municipalities) != 1 or municipalities[0] == "*":
        return "a wijkagent belongs to exactly one municipality (GM code, not '*')"
    gm = municipalities[0]
    bad = [w for w in wijken if wijk_of(w) != w or w[2:6] != gm[2:6]]
    if bad:
        return f"not a wijk of {gm}: {', '.join(bad)}"
    return None
