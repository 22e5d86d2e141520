"""Seeding neighbourhood signals straight into the database."""

from __future__ import annotations

from datetime import date

from burgerwacht.signals import intake

BINNENSTAD = "BU99990101"


EILAND = "BU99990302"


async def insert(db, rows):
    """rows: (buurt, category, day, severity, n)."""
    areas = {r["code"]: r for r in await db.fetch("SELECT code, district_code, municipality_code FROM areas")}
    records = []
    for buurt, category, day, severity, n in rows:
        for _ in range(n):
            records.append(
                (
                    intake.new_public_id(),
                    areas[buurt]["municipality_code"],
                    areas[buurt]["district_code"],
                    buurt,
                    category,
                    severity,
                    day,
                    "interview",
                    "test",
                    "geheime tekst 06-12345678",
                )
            )
    await db.copy_records_to_table(
        "signals",
        records=records,
        columns=[
            "public_id",
            "municipality_code",
            "wijk_code",
            "buurt_code",
            "category",
            "severity",
            "observed_on",
            "source",
            "created_by",
            "text",
        ],
    )


MARCH = date(2025, 3, 10)


FEB = date(2025, 2, 10)


async def seed(db):
    await insert(
        db,
        [
            (BINNENSTAD, "graffiti", MARCH, 3, 23),
            ("BU99990102", "graffiti", MARCH, 2, 9),
            ("BU99990103", "graffiti", MARCH, 4, 3),  # small: suppressed
            (BINNENSTAD, "drugs", MARCH, 5, 12),
            ("BU99990201", "drugs", MARCH, 4, 2),  # small
            (BINNENSTAD, "graffiti", FEB, 3, 14),
            (EILAND, "woninginbraak", MARCH, 5, 1),  # a single burglary: never visible
        ],
    )


def possible(true: int) -> set[int | None]:
    """Every value a summary can publish for a cell of ``true`` signals under the default
    cell-key noise (None: hidden). Which one a cell shows depends on its records' random
    keys (burgerwacht.signals.privacy), so exact expectations name this set."""
    import numpy as np

    from burgerwacht.config import PrivacySettings
    from burgerwacht.signals.privacy import Noise, round_count

    conf = PrivacySettings()
    d = Noise(tuple(conf.noise)).max
    out: set[int | None] = set()
    for offset in range(-d, d + 1):
        v = true + offset
        hidden = true < conf.k or v < conf.k + d
        out.add(None if hidden else int(round_count(np.array([v]), conf.round_to)[0]))
    return out
