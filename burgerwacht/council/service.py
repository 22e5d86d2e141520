"""Builds the council report: the context once, then every section in turn."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from burgerwacht.config import Settings
from burgerwacht.council import store
from burgerwacht.council.report import Report
from burgerwacht.council.sections import SECTIONS, ReportContext, period_name
from burgerwacht.errors import DomainError
from burgerwacht.signals.periods import AMSTERDAM, Period


def report_period(year: int, quarter: int | None) -> Period:
    return Period(year, "quarter", quarter) if quarter else Period(year, "year", 1)


async def build(conn: asyncpg.Connection, settings: Settings, municipality: str, period: Period) -> Report:
    row = await store.municipality(conn, municipality)
    if row is None:
        raise DomainError(404, "unknown-municipality", f"{municipality} is not a known municipality")
    ctx = ReportContext(
        conn=conn,
        settings=settings,
        municipality=municipality,
        municipality_name=row["name"],
        period=period,
        areas=await store.areas_with_outlines(conn, municipality),
    )
    sections = []
    for fn in SECTIONS:
        section = await fn(ctx)
        if section is not None:
            sections.append(section)
    return Report(
        municipality=municipality,
        municipality_name=row["name"],
        period_label=period.label,
        period_name=period_name(period),
        generated_at=datetime.now(AMSTERDAM),
        k=settings.privacy.k,
        round_to=settings.privacy.round_to,
        sections=sections,
    )
