"""SQL for areas and address points."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg


async def upsert_areas(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """rows: (code, level, name, municipality_code, district_code, year, geometry, bbox)."""
    await conn.executemany(
        """
        INSERT INTO areas (code, level, name, municipality_code, district_code, year, geometry, bbox)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (code) DO UPDATE SET
            level = EXCLUDED.level, name = EXCLUDED.name, municipality_code = EXCLUDED.municipality_code,
            district_code = EXCLUDED.district_code, year = EXCLUDED.year, geometry = EXCLUDED.geometry,
            bbox = EXCLUDED.bbox, updated_at = now()
        """,
        rows,
    )


async def delete_areas_not_in(
    conn: asyncpg.Connection, municipalities: list[str], levels: list[str], keep: list[str]
) -> int:
    """Areas of these municipalities and levels that the new map no longer has."""
    result = await conn.execute(
        "DELETE FROM areas WHERE municipality_code = ANY($1) AND level = ANY($2) AND NOT code = ANY($3)",
        municipalities,
        levels,
        keep,
    )
    return int(result.split()[-1])


async def buurten(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT code, municipality_code, district_code, geometry FROM areas WHERE level = 'buurt' ORDER BY code"
    )


async def areas_of(conn: asyncpg.Connection, municipality: str, level: str | None) -> list[asyncpg.Record]:
    """A municipality's areas with their address counts, without the outlines."""
    return await conn.fetch(
        """
        SELECT a.code, a.level, a.name, a.municipality_code, a.district_code, a.year, a.updated_at,
               (SELECT count(*) FROM addresses ad WHERE
                    CASE a.level WHEN 'buurt' THEN ad.buurt_code = a.code
                                 WHEN 'wijk' THEN ad.wijk_code = a.code
                                 ELSE ad.municipality_code = a.code END) AS addresses
        FROM areas a
        WHERE a.municipality_code = $1 AND ($2::text IS NULL OR a.level = $2)
        ORDER BY CASE a.level WHEN 'gemeente' THEN 0 WHEN 'wijk' THEN 1 ELSE 2 END, a.code
        """,
        municipality,
        level,
    )


async def outlines_text(conn: asyncpg.Connection, codes: list[str]) -> list[asyncpg.Record]:
    """(code, updated_at, geometry) with the GeoJSON as text: the caller decodes it off
    the event loop (the connection's jsonb codec would decode it on the loop)."""
    return await conn.fetch(
        "SELECT code, updated_at, convert_to(geometry::text, 'UTF8') AS geometry FROM areas WHERE code = ANY($1)",
        codes,
    )


async def existing_codes(conn: asyncpg.Connection, codes: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT code, level, municipality_code FROM areas WHERE code = ANY($1)", codes)


ADDRESS_COLUMNS = (
    "line",
    "postcode",
    "house_number",
    "house_letter",
    "addition",
    "location",
    "buurt_code",
    "wijk_code",
    "municipality_code",
)


async def create_address_staging(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        CREATE TEMP TABLE address_staging (
            line integer, postcode text, house_number integer, house_letter text, addition text,
            location point, buurt_code text, wijk_code text, municipality_code text
        ) ON COMMIT DROP
        """
    )


async def copy_addresses(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    await conn.copy_records_to_table("address_staging", records=records, columns=ADDRESS_COLUMNS)


async def merge_staged_addresses(conn: asyncpg.Connection) -> int:
    """Upsert staged rows (the last line wins for a repeated address)."""
    result = await conn.execute(
        """
        INSERT INTO addresses (postcode, house_number, house_letter, addition, location, buurt_code, wijk_code,
                               municipality_code)
        SELECT DISTINCT ON (postcode, house_number, house_letter, addition)
               postcode, house_number, house_letter, addition, location, buurt_code, wijk_code, municipality_code
        FROM address_staging
        ORDER BY postcode, house_number, house_letter, addition, line DESC
        ON CONFLICT (postcode, house_number, house_letter, addition) DO UPDATE SET
            location = EXCLUDED.location, buurt_code = EXCLUDED.buurt_code, wijk_code = EXCLUDED.wijk_code,
            municipality_code = EXCLUDED.municipality_code
        """
    )
    return int(result.split()[-1])


async def address_points(conn: asyncpg.Connection, chunk: int = 20000) -> AsyncIterator[list[asyncpg.Record]]:
    """Every address point, in chunks (inside a transaction)."""
    batch: list[asyncpg.Record] = []
    async for row in conn.cursor(
        "SELECT id, location, buurt_code FROM addresses ORDER BY id", prefetch=chunk
    ):
        batch.append(row)
        if len(batch) >= chunk:
            yield batch
            batch = []
    if batch:
        yield batch


async def set_address_areas(
    conn: asyncpg.Connection,
    ids: list[int],
    buurt: list[str | None],
    wijk: list[str | None],
    gm: list[str | None],
) -> int:
    result = await conn.execute(
        """
        UPDATE addresses a SET buurt_code = u.b, wijk_code = u.w, municipality_code = u.g
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, b, w, g)
        WHERE a.id = u.id AND (a.buurt_code IS DISTINCT FROM u.b OR a.wijk_code IS DISTINCT FROM u.w
                               OR a.municipality_code IS DISTINCT FROM u.g)
        """,
        ids,
        buurt,
        wijk,
        gm,
    )
    return int(result.split()[-1])
