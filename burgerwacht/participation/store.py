"""SQL for participation coverage: CBS KWB figures, enrolments per buurt, and the
inhabitants an alert target covers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from burgerwacht.alerts.targets import Resolved
    from burgerwacht.participation.kwb import Figure


async def upsert_figures(conn: asyncpg.Connection, figures: list[Figure], year: int | None) -> int:
    """Insert or replace the figures (one statement); returns how many were new."""
    rows = await conn.fetch(
        """
        INSERT INTO area_figures (code, level, name, municipality_code, year, inhabitants, households)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[])
        ON CONFLICT (code) DO UPDATE SET
            level = EXCLUDED.level, name = EXCLUDED.name, municipality_code = EXCLUDED.municipality_code,
            year = EXCLUDED.year, inhabitants = EXCLUDED.inhabitants, households = EXCLUDED.households,
            imported_at = now()
        RETURNING (xmax = 0) AS inserted
        """,
        [f.code for f in figures],
        [f.level for f in figures],
        [f.name for f in figures],
        [f.municipality_code for f in figures],
        [year] * len(figures),
        [f.inhabitants for f in figures],
        [f.households for f in figures],
    )
    return sum(1 for r in rows if r["inserted"])


async def known_areas(conn: asyncpg.Connection, codes: list[str]) -> int:
    return await conn.fetchval("SELECT count(*) FROM areas WHERE code = ANY($1)", codes)


async def areas(conn: asyncpg.Connection, municipality: str) -> list[asyncpg.Record]:
    """The municipality's areas with their KWB figures (NULL where none were imported)."""
    return await conn.fetch(
        """
        SELECT a.code, a.level, a.name, a.district_code, f.inhabitants, f.households
        FROM areas a LEFT JOIN area_figures f ON f.code = a.code
        WHERE a.municipality_code = $1
        ORDER BY a.code
        """,
        municipality,
    )


async def enrolment_cells(
    conn: asyncpg.Connection, municipality: str, key_secret: str
) -> list[asyncpg.Record]:
    """Active residents per buurt and channel set (bits: 1 SMS, 2 voice, 3 both), each
    resident once per buurt, with the sum of the residents' record keys (32-bit keyed
    hashes of the phone number, for the cell-key noise; the service reduces the sum
    modulo signals.privacy.KEY_MODULUS; the key never leaves here)."""
    return await conn.fetch(
        """
        WITH per AS (
            SELECT ra.buurt_code, ra.resident_id, bit_or(ra.channel_bits) AS bits
            FROM resident_addresses ra
            WHERE ra.active AND ra.municipality_code = $1 AND ra.buurt_code IS NOT NULL
            GROUP BY ra.buurt_code, ra.resident_id
        )
        SELECT p.buurt_code, p.bits, count(*) AS n,
               sum(('x' || substr(md5($2 || r.phone), 1, 8))::bit(32)::bigint) AS key_sum
        FROM per p JOIN residents r ON r.id = p.resident_id
        WHERE p.bits > 0
        GROUP BY p.buurt_code, p.bits
        """,
        municipality,
        key_secret,
    )


async def geometries(conn: asyncpg.Connection, codes: list[str]) -> dict[str, Any]:
    rows = await conn.fetch("SELECT code, geometry FROM areas WHERE code = ANY($1)", codes)
    return {r["code"]: r["geometry"] for r in rows}


async def inhabitants_in_target(conn: asyncpg.Connection, target: Resolved) -> tuple[float | None, int]:
    """Estimated inhabitants of an alert target and the number of buurten it touches:
    each touched buurt with a KWB figure adds its inhabitants times the share of its
    addresses inside the target (a whole buurt, wijk or gemeente counts in full).
    None when no touched buurt has a figure."""
    condition = target.match.sql("a", "$1")
    row = await conn.fetchrow(
        f"""
        WITH hit AS (
            SELECT a.buurt_code, count(*) AS n FROM addresses a
            WHERE {condition} AND a.buurt_code IS NOT NULL GROUP BY a.buurt_code
        ), everything AS (
            SELECT a.buurt_code, count(*) AS n FROM addresses a
            WHERE a.buurt_code IN (SELECT buurt_code FROM hit) GROUP BY a.buurt_code
        )
        SELECT sum(f.inhabitants::float8 * h.n / e.n) AS inhabitants, count(f.inhabitants) AS buurten
        FROM hit h JOIN everything e USING (buurt_code)
        LEFT JOIN area_figures f ON f.code = h.buurt_code
        """,
        target.value,
    )
    return (row["inhabitants"] if row["buurten"] else None), row["buurten"]
