"""SQL for bulletins: the bulletin rows, their deliveries in the dispatch queue (kind
'bulletin', alert_id = -bulletin id), and the texts the dispatch worker sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from burgerwacht.alerts.store import RecipientQuery, recipients_sql
from burgerwacht.alerts.targets import CODES, Resolved

#: Serialises bulletin sends, so two at once cannot both pass a resident's monthly cap.
CAP_LOCK = 0x4255_4C4C  # "BULL"

COLUMNS = (
    "b.id, b.municipality_code, b.area_code, b.area_level, b.message, b.created_by, b.created_at, "
    "b.recipients, b.deferred, b.over_cap, (SELECT name FROM areas a WHERE a.code = b.area_code) AS area_name"
)


async def area(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT code, level, name, municipality_code FROM areas WHERE code = $1", code)


async def insert(
    conn: asyncpg.Connection, *, municipality: str, area_code: str, level: str, message: str, actor: str
) -> int:
    return await conn.fetchval(
        "INSERT INTO bulletins (municipality_code, area_code, area_level, message, created_by) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        municipality,
        area_code,
        level,
        message,
        actor,
    )


async def materialise(
    conn: asyncpg.Connection,
    bulletin_id: int,
    *,
    area_code: str,
    municipality: str,
    max_per_month: int,
    ttl: timedelta,
) -> dict[str, int]:
    """One SMS delivery per opted-in resident with an address in the area, in one
    statement: deferred to the end of their quiet hours when those hold now (the alert
    recipient query's own notion), skipped (reason 'monthly_cap') when the resident had
    ``max_per_month`` bulletins this calendar month (Europe/Amsterdam) already."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", CAP_LOCK)
    query = RecipientQuery(
        alert_id=0,
        target=Resolved(CODES, [area_code]),
        channels=["sms"],
        scope=[municipality],
        level="bulletin",  # no fatigue budget: that counts regular alerts
        expires_at=datetime.now(UTC) + ttl,  # only its quiet-skip column reads it (not used here)
        regular_per_day=0,
    )
    rows = await conn.fetch(
        f"""
        WITH x AS ({recipients_sql(CODES, ["sms"])}),
        r AS (
            SELECT x.resident_id, x.quiet_until FROM x
            JOIN residents res ON res.id = x.resident_id AND res.status = 'active' AND res.bulletins_opt_in
        ),
        used AS (
            SELECT d.resident_id, count(*) AS n FROM deliveries d
            WHERE d.kind = 'bulletin' AND d.resident_id IN (SELECT resident_id FROM r)
              AND d.state NOT IN ('skipped', 'cancelled', 'expired')
              AND d.created_at >= date_trunc('month', now() AT TIME ZONE 'Europe/Amsterdam')
                                  AT TIME ZONE 'Europe/Amsterdam'
            GROUP BY d.resident_id
        ),
        ins AS (
            INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, reason, not_before, expires_at,
                                    alert_month)
            SELECT -$8::bigint, r.resident_id, 'sms', 'bulletin', 'bulletin',
                   CASE WHEN coalesce(u.n, 0) >= $9 THEN 'skipped' ELSE 'queued' END,
                   CASE WHEN coalesce(u.n, 0) >= $9 THEN 'monthly_cap'
                        WHEN r.quiet_until IS NOT NULL THEN 'quiet_hours' END,
                   coalesce(r.quiet_until, now()),
                   coalesce(r.quiet_until, now()) + $10::interval,
                   (SELECT b.alert_month FROM bulletins b WHERE b.id = $8)  -- the partition key (sql/0032)
            FROM r LEFT JOIN used u ON u.resident_id = r.resident_id
            ON CONFLICT DO NOTHING
            RETURNING state, reason
        )
        SELECT count(*) FILTER (WHERE state = 'queued') AS recipients,
               count(*) FILTER (WHERE state = 'queued' AND reason = 'quiet_hours') AS deferred,
               count(*) FILTER (WHERE reason = 'monthly_cap') AS over_cap
        FROM ins
        """,
        *query.args(),
        bulletin_id,
        max_per_month,
        ttl,
    )
    counts = {k: int(v) for k, v in rows[0].items()}
    await conn.execute(
        "UPDATE bulletins SET recipients = $2, deferred = $3, over_cap = $4 WHERE id = $1",
        bulletin_id,
        counts["recipients"],
        counts["deferred"],
        counts["over_cap"],
    )
    return counts


async def bulletin(conn: asyncpg.Connection, bulletin_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM bulletins b WHERE b.id = $1", bulletin_id)


async def list_bulletins(
    conn: asyncpg.Connection, scope: list[str] | None, before: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {COLUMNS} FROM bulletins b
        WHERE ($1::text[] IS NULL OR b.municipality_code = ANY ($1::text[])) AND ($2::bigint IS NULL OR b.id < $2)
        ORDER BY b.id DESC LIMIT $3""",
        scope,
        before,
        limit,
    )


async def received_by(conn: asyncpg.Connection, resident_id: int) -> asyncpg.Record:
    """A resident's opt-in and the bulletins they were sent (or skipped for), for the
    AVG access export."""
    return await conn.fetchrow(
        """SELECT r.bulletins_opt_in AS opted_in,
                  coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'area_code', b.area_code, 'message', b.message, 'created_at', b.created_at,
                                'state', d.state, 'reason', d.reason, 'sent_at', d.sent_at) ORDER BY d.id)
                            FROM deliveries d JOIN bulletins b ON b.id = -d.alert_id
                            WHERE d.resident_id = r.id AND d.kind = 'bulletin'), '[]'::jsonb) AS received
           FROM residents r WHERE r.id = $1""",
        resident_id,
    )


async def texts(conn: asyncpg.Connection, alert_ids: list[int]) -> dict[int, dict[str, Any]]:
    """What the dispatch worker reads per claimed batch, keyed by the deliveries'
    (negative) alert_id, shaped like an alert's texts (always sendable: a bulletin is
    not closed or cancelled)."""
    rows = await conn.fetch(
        "SELECT id, message FROM bulletins WHERE id = ANY($1::bigint[])", [-i for i in alert_ids if i < 0]
    )
    return {
        -r["id"]: {"id": -r["id"], "reference": "", "message": r["message"], "status": "active"} for r in rows
    }
