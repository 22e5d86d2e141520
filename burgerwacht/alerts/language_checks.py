"""What the alert preview says about language (issue 19): who reads English, whether they
will get Dutch, and a plain-Dutch check of the texts. Warnings only, never a block.

Each warning is ``{code, message}`` in the preview's ``warnings`` list; the codes:

* ``english-gets-dutch``: residents who chose English will be reached and the alert has
  no ``message_en`` (calls to them use ``voice_message_en``, else ``message_en``);
* ``plain-long-sentence``, ``plain-long-word``, ``plain-abbreviation``,
  ``plain-ambiguous-time``: from :func:`plain_dutch_warnings`, with the limits and word
  lists in ``[plain_dutch]`` of the configuration.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from burgerwacht.alerts import store
from burgerwacht.alerts.models import Preview, PreviewWarning
from burgerwacht.alerts.store import RecipientQuery
from burgerwacht.config import PlainDutchSettings, Settings

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*", re.UNICODE)
_HOUR_WORDS = "een|twee|drie|vier|vijf|zes|zeven|acht|negen|tien|elf|twaalf"
_NEEDS_HOUR = frozenset({"half", "kwart over", "kwart voor"})
# "om 8 uur", "8 uur", "om 8": a clock hour up to 12 without minutes, morning or evening?
_BARE_HOUR = re.compile(
    rf"(?<![\d:.])(?:\bom\s+)?\b(?:[1-9]|1[0-2]|{_HOUR_WORDS})\s+uur\b|\bom\s+(?:[1-9]|1[0-2])\b(?![:.]\d)",
    re.IGNORECASE,
)


def _abbreviation_pattern(abbreviation: str) -> re.Pattern[str]:
    """``"m.b.t."`` matches ``m.b.t.``, ``M.B.T`` and ``mbt`` as a whole word."""
    letters = [c for c in abbreviation if c.isalnum()]
    body = r"\.?\s?".join(re.escape(c) for c in letters)
    return re.compile(rf"(?<![\w.])(?:{body})\.?(?![\w])", re.IGNORECASE)


def plain_dutch_warnings(
    text: str, cfg: PlainDutchSettings, *, field: str = "message"
) -> list[PreviewWarning]:
    """Warnings for a text residents will read or hear; empty when it reads plainly."""
    out: list[PreviewWarning] = []
    if not text:
        return out
    for sentence in _SENTENCE_END.split(text.strip()):
        n = len(_WORD.findall(sentence))
        if n > cfg.max_sentence_words:
            start = " ".join(sentence.split()[:5])
            out.append(
                PreviewWarning(
                    code="plain-long-sentence",
                    message=f'{field}: een zin van {n} woorden ("{start} ..."); houd zinnen onder '
                    f"{cfg.max_sentence_words + 1} woorden.",
                )
            )
    long_words = sorted({w for w in _WORD.findall(text) if len(w) > cfg.max_word_letters})
    if long_words:
        out.append(
            PreviewWarning(
                code="plain-long-word",
                message=f"{field}: lange woorden ({', '.join(long_words)}); kies kortere of splits ze.",
            )
        )
    found = [a for a in cfg.abbreviations if _abbreviation_pattern(a).search(text)]
    if found:
        out.append(
            PreviewWarning(
                code="plain-abbreviation",
                message=f"{field}: afkortingen ({', '.join(found)}); schrijf ze voluit.",
            )
        )
    times = []
    for phrase in cfg.ambiguous_times:
        words = r"\s+".join(re.escape(p) for p in phrase.split())
        after = rf"\s+(?:\d{{1,2}}|{_HOUR_WORDS})\b" if phrase.lower() in _NEEDS_HOUR else ""
        if re.search(rf"(?<![\w']){words}{after}(?!\w)", text, re.IGNORECASE):
            times.append(phrase)
    times += [m.group(0).strip() for m in _BARE_HOUR.finditer(text)]
    if times:
        out.append(
            PreviewWarning(
                code="plain-ambiguous-time",
                message=f"{field}: tijd die op twee manieren te lezen is ({', '.join(times)}); "
                "schrijf de tijd als 20:30 en noem de dag.",
            )
        )
    return out


def english_warnings(
    row: asyncpg.Record | dict[str, Any], by_language: dict[str, int]
) -> list[PreviewWarning]:
    english = by_language.get("en", 0)
    if not english:
        return []
    if row["message_en"]:
        return []
    return [
        PreviewWarning(
            code="english-gets-dutch",
            message=f"{english} resident(s) chose English and will get the Dutch text: add message_en.",
        )
    ]


async def add_to_preview(
    conn: asyncpg.Connection, settings: Settings, row: asyncpg.Record, query: RecipientQuery, preview: Preview
) -> None:
    """Recipients per language and the language warnings, added to ``preview``."""
    by_language = await store.recipient_languages(conn, query)
    preview.recipients_by_language = {"nl": by_language.get("nl", 0), "en": by_language.get("en", 0)}
    preview.warnings.extend(english_warnings(row, by_language))
    cfg = settings.plain_dutch
    preview.warnings.extend(plain_dutch_warnings(row["message"], cfg))
    if row["voice_message"]:
        preview.warnings.extend(plain_dutch_warnings(row["voice_message"], cfg, field="voice_message"))
