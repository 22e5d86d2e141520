"""SQL of alert photos (table ``alert_photos``, migration 0026)."""

from __future__ import annotations

import asyncpg


async def put(
    conn: asyncpg.Connection,
    alert_id: int,
    *,
    data: bytes,
    width: int,
    height: int,
    source_format: str,
    alt: str,
    etag: str,
) -> None:
    """The alert's photo, replacing an earlier one."""
    await conn.execute(
        """INSERT INTO alert_photos (alert_id, data, width, height, bytes, source_format, alt, etag)
           VALUES ($1, $2::bytea, $3, $4, octet_length($2::bytea), $5, $6, $7)
           ON CONFLICT (alert_id) DO UPDATE SET
               data = EXCLUDED.data, width = EXCLUDED.width, height = EXCLUDED.height,
               bytes = EXCLUDED.bytes, source_format = EXCLUDED.source_format, alt = EXCLUDED.alt,
               etag = EXCLUDED.etag, created_at = now()""",
        alert_id,
        data,
        width,
        height,
        source_format,
        alt,
        etag,
    )


async def delete(conn: asyncpg.Connection, alert_id: int) -> bool:
    return await conn.execute("DELETE FROM alert_photos WHERE alert_id = $1", alert_id) != "DELETE 0"


async def photo(conn: asyncpg.Connection | asyncpg.Pool, alert_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT data, width, height, bytes, alt, etag, created_at FROM alert_photos WHERE alert_id = $1",
        alert_id,
    )


async def purge(conn: asyncpg.Connection, days: int, draft_days: int) -> int:
    """Photos of alerts that ended (closed, expired or cancelled) ``days`` ago or more:
    their page answers 410 by then, and the photo goes with it. Also photos put on a
    draft (or an alert awaiting approval) ``draft_days`` ago or more: an abandoned draft
    does not keep a picture of a suspect or a missing person for ever."""
    result = await conn.execute(
        """DELETE FROM alert_photos p USING alerts a
           WHERE a.id = p.alert_id
             AND ((a.status IN ('closed', 'cancelled') AND a.closed_at <= now() - make_interval(days => $1))
               OR (a.status IN ('sending', 'active', 'expired')
                   AND a.expires_at <= now() - make_interval(days => $1))
               OR (a.status IN ('draft', 'awaiting_approval')
                   AND p.created_at <= now() - make_interval(days => $2)))""",
        days,
        draft_days,
    )
    return int(result.split()[-1])
