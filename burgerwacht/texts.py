"""Texts residents read or hear, from ``burgerwacht/defaults/messages.toml`` (Dutch, English)."""

from __future__ import annotations

import tomllib
from functools import cache
from typing import Any

from burgerwacht.resources import DEFAULTS

MESSAGES = DEFAULTS / "messages.toml"
LANGUAGES = ("nl", "en")


@cache
def _catalogue() -> dict[str, dict[str, str]]:
    with MESSAGES.open("rb") as fh:
        data = tomllib.load(fh)
    missing = set(data["nl"]) - set(data.get("en", {}))
    if missing:
        raise RuntimeError(f"messages.toml: English texts missing for {sorted(missing)}")
    return data


def text(key: str, language: str = "nl", **values: Any) -> str:
    """The text ``key`` in ``language`` (Dutch when unknown), filled in."""
    cat = _catalogue()
    lang = language if language in cat else "nl"
    return cat[lang][key].format(**values)


def keys() -> list[str]:
    return list(_catalogue()["nl"])
