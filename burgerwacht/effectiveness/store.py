"""SQL for the effectiveness figures and the joint picture (read-only).

Months are calendar months in Europe/Amsterdam, by the alert's send (``sent_at``); a
draft (never sent) is in no figure.
"""

from __future__ import annotations

from datetime import date

import asyncpg

from burgerwacht.alerts.targets import CIRCLE, CODES, POLYGON

TZ = "Europe/Amsterdam"


# A record's fixed random key for the cell-key perturbation (privacy.py): 32 bits of a
# keyed hash of what identifies the record; $5 is the key (never leaves the server).
def _record_key(expr: str) -> str:
    return f"('x' || substr(md5($5 || ':' || {expr}), 1, 8))::bit(32)::bigint"


# The alerts of one municipality sent in [$2, $3) (dates, local midnight), of level $4 (or all).
_ALERTS = f"""
    SELECT id, level, status, outcome, sent_at, closed_at, target_circle, target_polygon, target_codes,
           to_char(sent_at AT TIME ZONE '{TZ}', 'YYYY-MM') AS month
    FROM alerts
    WHERE sent_at >= ($2::date::timestamp AT TIME ZONE '{TZ}')
      AND sent_at < ($3::date::timestamp AT TIME ZONE '{TZ}')
      AND $1 = ANY(municipalities)
      AND ($4::text IS NULL OR level = $4)
      AND mode <> 'exercise'  -- exercises (sql/0022) are in no figure
"""


STATS = f"""
WITH a AS MATERIALIZED ({_ALERTS}),
who AS (
    -- residents reached: a message (the alert, a follow-up or a wave; not the closing
    -- message, which only goes to the reached) sent or delivered; an erased resident's
    -- delivery has no resident any more and counts on its own
    SELECT DISTINCT d.alert_id, coalesce(d.resident_id, -d.id) AS who
    FROM deliveries d JOIN a ON a.id = d.alert_id
    WHERE d.kind <> 'closing' AND d.state IN ('sent', 'delivered')
),
reach AS (
    SELECT alert_id, count(*) AS reached, sum({_record_key("alert_id || ':' || who")}) AS reached_key
    FROM who GROUP BY alert_id
),
t AS (
    SELECT t.alert_id, count(*) AS tips, sum({_record_key("t.id")}) AS tips_key, min(t.received_at) AS first_tip,
           min(t.received_at) FILTER (WHERE t.led_to_outcome) AS first_useful
    FROM tips t JOIN a ON a.id = t.alert_id
    GROUP BY t.alert_id
),
m AS (
    SELECT a.id, a.level, a.month, a.status, a.outcome, coalesce(reach.reached, 0) AS reached,
           coalesce(reach.reached_key, 0) AS reached_key, coalesce(t.tips, 0) AS tips,
           coalesce(t.tips_key, 0) AS tips_key,
           extract(epoch FROM t.first_tip - a.sent_at) / 60 AS first_tip,
           extract(epoch FROM t.first_useful - a.sent_at) / 60 AS first_useful,
           CASE WHEN a.status = 'closed' THEN extract(epoch FROM a.closed_at - a.sent_at) / 60 END AS close_minutes
    FROM a LEFT JOIN reach ON reach.alert_id = a.id LEFT JOIN t ON t.alert_id = a.id
)
SELECT level, month,
       count(*) AS alerts,
       array_agg(id ORDER BY id) AS alert_ids,
       sum(reached)::bigint AS reached,
       sum(tips)::bigint AS tips,
       sum(reached_key)::numeric AS reached_key,
       sum(tips_key)::numeric AS tips_key,
       count(first_tip) AS with_tip,
       count(first_useful) AS with_useful,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_tip) AS first_tip_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY first_tip) AS first_tip_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_useful) AS first_useful_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY first_useful) AS first_useful_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY close_minutes) AS close_median,
       coalesce(array_agg(outcome) FILTER (WHERE status = 'closed' AND outcome IS NOT NULL), '{{}}') AS outcomes
FROM m
GROUP BY level, month
ORDER BY month, level
"""


async def stats(
    conn: asyncpg.Connection, municipality: str, first: date, after: date, level: str | None, key: str
) -> list[asyncpg.Record]:
    """One row per (level, month) with alerts sent in [first, after) (local dates);
    ``*_key`` the sums of the records' keys (``key`` makes them)."""
    return await conn.fetch(STATS, municipality, first, after, level, key)


#: Follow-ups and widening waves live in tables of their own (``alert_updates``,
#: ``alert_waves``, sql/0019), one row each with its ``alert_id``.
UPDATE_WAVE_TABLES = {"updates": "alert_updates", "waves": "alert_waves"}


async def count_updates_waves(conn: asyncpg.Connection, alert_ids: list[int]) -> dict[int, dict[str, int]]:
    """Follow-ups and waves per alert: ``{alert_id: {"updates": n, "waves": n}}``."""
    out: dict[int, dict[str, int]] = {i: {k: 0 for k in UPDATE_WAVE_TABLES} for i in alert_ids}
    for key, table in UPDATE_WAVE_TABLES.items():
        rows = await conn.fetch(
            f"SELECT alert_id, count(*) AS n FROM {table} WHERE alert_id = ANY($1::bigint[]) GROUP BY alert_id",
            alert_ids,
        )
        for r in rows:
            out[r["alert_id"]][key] = r["n"]
    return out


def _touch(match, column: str) -> str:
    return f"""
    SELECT a.id AS alert_id, ad.buurt_code
    FROM a JOIN addresses ad ON {match.sql("ad", "a." + column)}
    WHERE a.{column} IS NOT NULL AND ad.municipality_code = $1 AND ad.buurt_code IS NOT NULL"""


# An alert touches a buurt when its target contains at least one address of the buurt
# (the same match the recipient query uses, on addresses instead of residents: which
# buurten an alert touches does not depend on who happens to be enrolled there).
PICTURE = f"""
WITH a AS MATERIALIZED ({_ALERTS}),
touch AS ({_touch(CIRCLE, "target_circle")}
    UNION {_touch(POLYGON, "target_polygon")}
    UNION {_touch(CODES, "target_codes")}
),
t AS (
    SELECT t.alert_id, count(*) AS tips, sum({_record_key("t.id")}) AS tips_key
    FROM tips t JOIN a ON a.id = t.alert_id GROUP BY t.alert_id
)
SELECT touch.buurt_code, a.id, a.level, a.month, a.status, a.outcome, coalesce(t.tips, 0) AS tips,
       coalesce(t.tips_key, 0)::numeric AS tips_key
FROM touch JOIN a ON a.id = touch.alert_id LEFT JOIN t ON t.alert_id = a.id
ORDER BY touch.buurt_code, a.month, a.level
"""


async def picture(
    conn: asyncpg.Connection, municipality: str, first: date, after: date, key: str
) -> list[asyncpg.Record]:
    """One row per (buurt, alert touching it) for alerts sent in [first, after)."""
    return await conn.fetch(PICTURE, municipality, first, after, None, key)


async def buurten(conn: asyncpg.Connection, municipality: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT code, name, district_code FROM areas WHERE municipality_code = $1 AND level = 'buurt' ORDER BY code",
        municipality,
    )
