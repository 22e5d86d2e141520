"""``{placeholder}`` texts: parse, list, fill.

A template text is literal text with placeholders ``{name}`` (``name`` matches
:data:`NAME_PATTERN`: lower-case letters, digits and ``_``, not starting with a digit,
at most 40 characters). ``{{`` and ``}}`` stand for a literal ``{`` and ``}``. Anything
else with a brace is malformed and :func:`parse` says what and where (1-based
character position), so a template is refused when it is written, not when it is used.
Filling is one pass: a value is put in as it is, braces in it are not read again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

NAME_PATTERN = r"[a-z_][a-z0-9_]{0,39}"
_NAME = re.compile(NAME_PATTERN)
_SHOWN = 40  # characters of a bad placeholder quoted in an error


class TemplateSyntaxError(ValueError):
    """A malformed brace in a template text (the message names it and its position)."""


class Placeholder(str):
    """A placeholder's name inside a parsed text (literal parts are plain ``str``)."""


def parse(text: str) -> list[str]:
    """The text as literal parts (``str``) and placeholders (:class:`Placeholder`)."""
    parts: list[str] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "{":
            if text.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            if end == -1:
                raise TemplateSyntaxError(
                    f"'{{' at character {i + 1} is never closed: write {{name}} for a placeholder "
                    "or {{ for a literal brace"
                )
            name = text[i + 1 : end]
            if not _NAME.fullmatch(name):
                shown = name if len(name) <= _SHOWN else name[:_SHOWN] + "…"
                raise TemplateSyntaxError(
                    f"'{{{shown}}}' at character {i + 1} is not a placeholder: a name has lower-case "
                    "letters a-z, digits and _ (not first a digit), at most 40 characters; "
                    "write {{ and }} for literal braces"
                )
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Placeholder(name))
            i = end + 1
        elif c == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise TemplateSyntaxError(
                f"'}}' at character {i + 1} closes no placeholder: write }}}} for a literal brace"
            )
        else:
            literal.append(c)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def names(text: str | None) -> set[str]:
    """The placeholder names in a text (raises TemplateSyntaxError when malformed)."""
    if not text:
        return set()
    return {p for p in parse(text) if isinstance(p, Placeholder)}


def fill(text: str, values: Mapping[str, str]) -> str:
    """The text with every placeholder replaced by its value (all must be given)."""
    return "".join(values[p] if isinstance(p, Placeholder) else p for p in parse(text))
