"""SQL for the council report: the municipality's areas with their outlines, and alert
figures per level (exact; the report publishes them under the k rule)."""

from __future__ import annotations

from datetime import date

import asyncpg


async def municipality(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT code, name FROM areas WHERE code = $1 AND level = 'gemeente'", code)


async def areas_with_outlines(conn: asyncpg.Connection, municipality: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT code, level, name, district_code, geometry FROM areas "
        "WHERE municipality_code = $1 AND level IN ('wijk', 'buurt') ORDER BY level, code",
        municipality,
    )


async def alerts_per_level(
    conn: asyncpg.Connection, municipality: str, start: date, end_exclusive: date
) -> list[asyncpg.Record]:
    """Alerts sent in the period (Dutch calendar days) that reached the municipality, per
    level, with the tips that came back on them and their deliveries that arrived.
    Exercises are in no figure."""
    return await conn.fetch(
        """
        WITH a AS (
            SELECT id, level FROM alerts
            WHERE $1 = ANY (municipalities) AND sent_at IS NOT NULL AND mode <> 'exercise'
              AND sent_at >= ($2::date::timestamp AT TIME ZONE 'Europe/Amsterdam')
              AND sent_at < ($3::date::timestamp AT TIME ZONE 'Europe/Amsterdam')
        )
        SELECT a.level, count(*)::int AS alerts,
               coalesce(sum((SELECT count(*) FROM tips t WHERE t.alert_id = a.id)), 0)::int AS tips,
               coalesce(sum((SELECT count(*) FROM deliveries d WHERE d.alert_id = a.id AND d.kind = 'alert'
                                AND d.state IN ('sent', 'delivered'))), 0)::int AS reached
        FROM a GROUP BY a.level ORDER BY a.level
        """,
        municipality,
        start,
        end_exclusive,
    )
