"""SQL of the public page: the alert behind a token, its follow-ups, area names, and the
tip form's rate-limit windows."""

from __future__ import annotations

import asyncpg


async def attach(conn: asyncpg.Connection, alert_id: int, token: str, link: str) -> None:
    """The page token and link mode of a new alert (a token collision, ~2^-59, is a
    unique violation that rolls the creation back)."""
    await conn.execute("UPDATE alerts SET public_token = $2, link = $3 WHERE id = $1", alert_id, token, link)


async def ensure_token(conn: asyncpg.Connection, alert_id: int, token: str) -> None:
    """A token for an alert made before pages existed (kept when it has one)."""
    await conn.execute(
        "UPDATE alerts SET public_token = $2 WHERE id = $1 AND public_token IS NULL", alert_id, token
    )


async def alert_by_token(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> asyncpg.Record | None:
    """What the page shows of an alert (no scope, no author: nothing personal)."""
    return await conn.fetchrow(
        """SELECT id, status, reference, title, message, message_en, sent_at, expires_at, closed_at,
                  closing_message, target, target_circle, target_codes, municipalities, update_number, mode,
                  greatest(sent_at, closed_at, (SELECT max(u.created_at) FROM alert_updates u
                                                WHERE u.alert_id = alerts.id)) AS modified_at,
                  (SELECT jsonb_build_object('width', p.width, 'height', p.height, 'alt', p.alt)
                   FROM alert_photos p WHERE p.alert_id = alerts.id) AS photo
           FROM alerts WHERE public_token = $1""",
        token,
    )


async def updates(conn: asyncpg.Connection | asyncpg.Pool, alert_id: int) -> list[asyncpg.Record]:
    """The alert's follow-ups, newest first."""
    return await conn.fetch(
        "SELECT number, message, created_at FROM alert_updates WHERE alert_id = $1 ORDER BY number DESC",
        alert_id,
    )


async def area_names(conn: asyncpg.Connection | asyncpg.Pool, codes: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT code, level, name FROM areas WHERE code = ANY($1::text[]) ORDER BY level, name", codes
    )


async def buurt_near(conn: asyncpg.Connection | asyncpg.Pool, centre: asyncpg.Point) -> asyncpg.Record | None:
    """The buurt (and its municipality) of the address point nearest to ``centre`` (RD
    New): a circle is described by its neighbourhood, never by an address."""
    return await conn.fetchrow(
        """SELECT b.name AS buurt, g.name AS municipality
           FROM (SELECT buurt_code, municipality_code FROM addresses WHERE buurt_code IS NOT NULL
                 ORDER BY location <-> $1 LIMIT 1) a
           JOIN areas b ON b.code = a.buurt_code
           LEFT JOIN areas g ON g.code = a.municipality_code""",
        centre,
    )


async def rate_hit(conn: asyncpg.Connection | asyncpg.Pool, bucket: str, window: str) -> tuple[int, int]:
    """Count one hit in ``bucket``'s current window (``'hour'`` or ``'minute'``) →
    (hits in it, seconds until it ends)."""
    row = await conn.fetchrow(
        """INSERT INTO public_tip_rate (bucket, window_start) VALUES ($1, date_trunc($2, now()))
           ON CONFLICT (bucket, window_start) DO UPDATE SET hits = public_tip_rate.hits + 1
           RETURNING hits,
                     ceil(extract(epoch FROM date_trunc($2, now()) + ('1 ' || $2)::interval - now()))::int AS left_s""",
        bucket,
        window,
    )
    return row["hits"], max(1, row["left_s"])


async def purge_rates(conn: asyncpg.Connection) -> int:
    result = await conn.execute("DELETE FROM public_tip_rate WHERE window_start < now() - interval '2 hours'")
    return int(result.split()[-1])
