"""The signal taxonomy from ``burgerwacht/defaults/signals.toml``: groups, categories with Dutch
keywords, gebiedsscan themes, privacy tuning and SMS texts; and the keyword classifier.

The file is read once per process (``BURGERWACHT_SIGNALS_CONFIG`` names another file).
Nothing here touches the database.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from burgerwacht.resources import DEFAULTS, as_path

DEFAULT_FILE = as_path(DEFAULTS / "signals.toml")
ENV_FILE = "BURGERWACHT_SIGNALS_CONFIG"
FALLBACK = "anders"
TOTAL = "all"  # the category node "every category"
CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class TaxonomyError(ValueError):
    """The signals configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class Group:
    code: str
    name: str


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    group: str
    keywords: tuple[str, ...]
    municipalities: tuple[str, ...] = ()  # empty: every municipality

    def applies_to(self, municipality: str | None) -> bool:
        return not self.municipalities or municipality in self.municipalities


@dataclass(frozen=True)
class Theme:
    code: str
    name: str
    categories: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class _Pattern:
    words: tuple[str, ...]
    prefix: bool  # the last word is a prefix ("inbr*")


@dataclass
class Taxonomy:
    groups: dict[str, Group]
    categories: dict[str, Category]  # in file order
    themes: dict[str, Theme]
    protection: int = 2
    text_retention_days: int = 365
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    _patterns: dict[str, list[_Pattern]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ lookups

    def categories_for(self, municipality: str | None) -> list[Category]:
        return [c for c in self.categories.values() if c.applies_to(municipality)]

    def groups_for(self, municipality: str | None) -> list[Group]:
        used = {c.group for c in self.categories_for(municipality)}
        return [g for g in self.groups.values() if g.code in used]

    def category(self, code: str, municipality: str | None = None) -> Category | None:
        c = self.categories.get(code)
        return c if c is not None and c.applies_to(municipality) else None

    def text(self, key: str, language: str = "nl", **values: Any) -> str:
        lang = language if language in self.texts else "nl"
        return self.texts[lang][key].format(**values)

    # ------------------------------------------------------------------ classify

    def classify(self, text: str, municipality: str | None = None) -> str:
        """The category whose keywords match ``text`` most often; ``anders`` if none."""
        words = tokenize(text)
        if not words:
            return FALLBACK
        best, best_score = FALLBACK, 0
        for cat in self.categories_for(municipality):
            score = sum(_count(p, words) for p in self._patterns.get(cat.code, ()))
            if score > best_score:
                best, best_score = cat.code, score
        return best


_WORD = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case without accents: ``"Vernielde bushokje's"`` → ``"vernielde bushokje's"``."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def tokenize(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


def _pattern(keyword: str) -> _Pattern:
    words = tuple(tokenize(keyword.rstrip("*")))
    return _Pattern(words, keyword.strip().endswith("*"))


def _count(p: _Pattern, words: list[str]) -> int:
    n = len(p.words)
    if n == 0 or n > len(words):
        return 0
    hits = 0
    for i in range(len(words) - n + 1):
        if words[i : i + n - 1] != list(p.words[:-1]):
            continue
        last = words[i + n - 1]
        if last == p.words[-1] or (p.prefix and last.startswith(p.words[-1])):
            hits += 1
    return hits


# ---------------------------------------------------------------------- loading


def _require(d: dict[str, Any], key: str, where: str, kind: type) -> Any:
    if key not in d:
        raise TaxonomyError(f"{where}: '{key}' is required")
    value = d[key]
    if not isinstance(value, kind):
        raise TaxonomyError(f"{where}.{key}: expected {kind.__name__}")
    return value


def parse(data: dict[str, Any]) -> Taxonomy:
    groups: dict[str, Group] = {}
    for code, g in (data.get("groups") or {}).items():
        if not CODE.match(code):
            raise TaxonomyError(f"groups.{code}: codes are lower case letters, digits and _")
        groups[code] = Group(code, _require(g, "name", f"groups.{code}", str))
    categories: dict[str, Category] = {}
    for code, c in (data.get("categories") or {}).items():
        where = f"categories.{code}"
        if not CODE.match(code) or code == TOTAL or code in groups:
            raise TaxonomyError(f"{where}: invalid or clashing code")
        group = _require(c, "group", where, str)
        if group not in groups:
            raise TaxonomyError(f"{where}.group: unknown group {group!r}")
        keywords = c.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise TaxonomyError(f"{where}.keywords: expected a list of strings")
        munis = c.get("municipalities", [])
        if not isinstance(munis, list) or not all(
            isinstance(m, str) and re.match(r"^GM\d{4}$", m) for m in munis
        ):
            raise TaxonomyError(f"{where}.municipalities: expected a list of GM codes")
        categories[code] = Category(
            code, _require(c, "name", where, str), group, tuple(keywords), tuple(munis)
        )
    if FALLBACK not in categories:
        raise TaxonomyError(f"categories.{FALLBACK}: the fallback category is required")
    if categories[FALLBACK].municipalities:
        raise TaxonomyError(f"categories.{FALLBACK}: the fallback category must apply everywhere")
    themes: dict[str, Theme] = {}
    for code, t in (data.get("themes") or {}).items():
        where = f"themes.{code}"
        if not CODE.match(code):
            raise TaxonomyError(f"{where}: codes are lower case letters, digits and _")
        cats = _require(t, "categories", where, list)
        unknown = [c for c in cats if c not in categories]
        if unknown or not cats:
            raise TaxonomyError(f"{where}.categories: unknown or empty {unknown}")
        weight = t.get("weight", 1.0)
        if not isinstance(weight, int | float) or weight <= 0:
            raise TaxonomyError(f"{where}.weight: must be a positive number")
        themes[code] = Theme(code, _require(t, "name", where, str), tuple(dict.fromkeys(cats)), float(weight))
    privacy = data.get("privacy") or {}
    protection = privacy.get("protection", 2)
    if not isinstance(protection, int) or protection < 1:
        raise TaxonomyError("privacy.protection: must be an integer >= 1")
    retention = (data.get("retention") or {}).get("text_days", 365)
    if not isinstance(retention, int) or retention < 1:
        raise TaxonomyError("retention.text_days: must be an integer >= 1")
    texts = data.get("texts") or {}
    if "nl" not in texts:
        raise TaxonomyError("texts.nl: the Dutch texts are required")
    for lang, table in texts.items():
        missing = {"received", "usage", "not_enrolled", "no_area"} - set(table)
        if missing:
            raise TaxonomyError(f"texts.{lang}: missing {sorted(missing)}")
    tax = Taxonomy(groups, categories, themes, protection, retention, texts)
    tax._patterns = {code: [_pattern(k) for k in c.keywords if tokenize(k)] for code, c in categories.items()}
    return tax


def load(path: Path | None = None) -> Taxonomy:
    path = path or Path(os.environ.get(ENV_FILE) or DEFAULT_FILE)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TaxonomyError(f"{path}: {exc}") from None
    return parse(data)


@cache
def taxonomy() -> Taxonomy:
    """The process-wide taxonomy (read once)."""
    return load()
