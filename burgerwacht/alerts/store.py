"""SQL for alerts, the recipient query, the delivery queue and the shared rate limiter."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from burgerwacht.alerts.targets import Match, Resolved

DISPATCH_CHANNEL = "bw_dispatch"  # NOTIFY channel that wakes the dispatch workers
WORK_MEM = "64MB"  # for the recipient query's grouping and a wave's anti-join


@dataclass(frozen=True)
class RecipientQuery:
    """What the recipient query needs: bound as $1 … $7 in this order (``args``)."""

    alert_id: int  # 0 for none (a preview before the alert exists)
    target: Resolved
    channels: list[str]
    scope: list[str] | None  # the operator's municipalities; None = national
    level: str
    expires_at: datetime
    regular_per_day: int  # regular alerts per resident per 24 h
    follows: int = 0  # the alert this one follows ($8): its reached residents are 'related'
    new_only: bool = False  # only (resident, channel) pairs the alert has no start message for (a wave)
    exercise: bool = False  # an exercise: only residents flagged as exercise participants
    # only residents with lo < id <= hi (a chunk of a large alert's deliveries, see
    # ``materialise``); None = everyone
    chunk: tuple[int, int] | None = None

    def args(self) -> tuple[Any, ...]:
        base = (
            self.alert_id,
            self.target.value,
            self.channels,
            self.scope,
            self.level,
            self.expires_at,
            self.regular_per_day,
        )
        return (*base, self.follows) if self.follows else base

    def sql(self) -> str:
        return recipients_sql(
            self.target.match,
            self.channels,
            follows=bool(self.follows),
            new_only=self.new_only,
            budget=self.level == "regular",
            exercise=self.exercise,
            chunk=self.chunk,
        )

    def national(self) -> RecipientQuery:
        """The same query without the operator's scope."""
        return replace(self, scope=None)


# One enrolment's match: its resident, channel and, when its quiet hours hold now, when
# they end (else {not_quiet}: NULL, or -infinity where min() has to prefer a NULL). resident_addresses carries its address's place and its
# resident's status (sql/0008), so a circle or polygon is an index-only scan.
_HITS = """
    SELECT ra.resident_id, {channel} AS channel,
           CASE WHEN ra.quiet_start IS NULL THEN {not_quiet}
                WHEN (CASE WHEN ra.quiet_start < ra.quiet_end
                           THEN l.lt::time >= ra.quiet_start AND l.lt::time < ra.quiet_end
                           ELSE l.lt::time >= ra.quiet_start OR l.lt::time < ra.quiet_end END)
                THEN (CASE WHEN l.lt::time < ra.quiet_end THEN date_trunc('day', l.lt) + ra.quiet_end
                           ELSE date_trunc('day', l.lt) + interval '1 day' + ra.quiet_end END)
                     AT TIME ZONE 'Europe/Amsterdam'
                ELSE {not_quiet}
           END AS quiet_until
    FROM {source} ra
    {channel_join}
    CROSS JOIN (SELECT now() AT TIME ZONE 'Europe/Amsterdam' AS lt) l
    WHERE ra.active AND {sole} AND {target} AND {channel_filter}
      AND ($4::text[] IS NULL OR ra.municipality_code = ANY ($4::text[])){exercise}
      -- the resident's own limits: pause, visits, time windows (functions/residents_self_service.sql)
      AND resident_address_targeted(ra.paused_until, ra.pause_all, ra.visit_until, ra.time_windows, $5)
"""

# Recipients per (resident, channel) with what happens to each: sent now, deferred to
# the end of the quiet hours, skipped (quiet hours past expiry, or over the budget).
# $1 alert id (or 0), $2 target, $3 channels, $4 scope (NULL = national), $5 level,
# $6 expiry, $7 regular alerts per resident per 24 h.
_RECIPIENTS = """
WITH {chunk}per AS (
    -- one row per (resident, channel). A resident with one enrolment is one row as it
    -- stands; one with several (ra.sole false, kept by a trigger) is grouped: quiet only
    -- when quiet at every matched address, then until the earliest end. Grouping only
    -- those keeps the per-recipient cost of a big alert to the index scan.
    {sole_hits}
    UNION ALL
    SELECT resident_id, channel, nullif(min(quiet_until), '-infinity')
    FROM ({multi_hits}) m GROUP BY resident_id, channel
){new_only}, budget AS ({budget}
)
SELECT p.resident_id, p.channel, p.quiet_until,
       CASE {related_case}WHEN $5 <> 'regular' THEN 'now'
            WHEN coalesce(b.n, 0) >= $7 THEN 'budget'
            WHEN p.quiet_until IS NOT NULL AND p.quiet_until >= $6 THEN 'quiet_skip'
            WHEN p.quiet_until IS NOT NULL THEN 'quiet_defer'
            ELSE 'now' END AS disposition
FROM {per} p LEFT JOIN budget b ON b.resident_id = p.resident_id
"""

# A chunk of resident ids: read by the resident-id index once, whatever the target
# (the target's own indexes would scan every matching enrolment for every chunk: the
# geometric operators' fixed selectivity makes the planner prefer them), then matched.
_CHUNK = """chunk AS MATERIALIZED (
    SELECT * FROM resident_addresses WHERE resident_id > {lo} AND resident_id <= {hi} AND active
), """

# A wave: only (resident, channel) pairs without a start message of this alert yet; ON
# CONFLICT stays as the safety net. NOT IN over the alert's start messages is a hashed
# subplan (one pass over them, then a hash probe per candidate; the caller sets work_mem
# so it fits). A NOT EXISTS would be planned as a join from the geometric operators'
# fixed selectivity (0.1 % of the rows) and deliveries just written (no statistics
# yet): a nested loop over every start message for every candidate (measured: 17 s for
# a 20k wave); forced to an index probe per candidate it took ~2 µs a candidate.
_NEW_ONLY = """, fresh AS (
    SELECT p.* FROM per p
    WHERE (p.resident_id, p.channel) NOT IN (
        SELECT x.resident_id, x.channel FROM deliveries x
        WHERE x.alert_id = $1 AND x.kind = 'alert' AND x.seq = 0 AND x.resident_id IS NOT NULL)
)"""

# The 'related' lookup is one probe of the deliveries' unique key per candidate: OFFSET
# 0 keeps the planner from making it a join (see above).

# ``follows``: residents the followed alert ($8) reached (or counted as reached through
# an alert it followed in turn) are 'related': they get what is new, not the start again.
_RELATED_CASE = """WHEN EXISTS (SELECT 1 FROM deliveries f WHERE f.alert_id = $8 AND f.resident_id = p.resident_id
                  AND f.kind = 'alert' AND f.seq = 0
                  AND (f.state IN ('sent', 'delivered') OR (f.state = 'skipped' AND f.reason = 'related_alert'))
                  OFFSET 0) THEN 'related' """


# The fatigue budget: regular alerts per resident in the last 24 h. Other levels skip it,
# and their query does not read it at all: then ``per`` is read once, so PostgreSQL
# streams it (a wave's first batch stops after its LIMIT instead of targeting everyone).
# It reads the summary the send path keeps (resident_fatigue, functions/deliveries.sql):
# only the residents with at least $7 entries (an index range, whatever the recipients
# and the day's history), counted exactly here (the window, and the alert itself left
# out), so a busy day costs what a quiet one does. The upper bound keeps a generic plan
# on the index (a range, not a one-sided comparison the planner guesses at a third).
_BUDGET = """
    SELECT f.resident_id,
           (SELECT count(*) FROM unnest(f.alerts, f.times) AS u (alert_id, at)
            WHERE u.alert_id <> $1 AND u.at > now() - interval '24 hours') AS n
    FROM resident_fatigue f
    WHERE $5 = 'regular' AND cardinality(f.alerts) BETWEEN $7 AND 2147483647"""
_NO_BUDGET = """
    SELECT NULL::bigint AS resident_id, 0::bigint AS n WHERE $1::bigint IS NULL AND $7::int IS NULL AND $5 = 'regular'"""

# An exercise reaches only exercise participants (few: a probe of residents_exercise).
_EXERCISE = "\n      AND ra.resident_id IN (SELECT r.id FROM residents r WHERE r.exercise)"

_CHANNEL_BIT = {"sms": 1, "voice": 2}
_CHANNEL_NAME = {bit: name for name, bit in _CHANNEL_BIT.items()}


def recipients_sql(
    match: Match,
    channels: list[str] | tuple[str, ...],
    *,
    follows: bool = False,
    new_only: bool = False,
    budget: bool = True,
    exercise: bool = False,
    chunk: tuple[int, int] | None = None,
) -> str:
    """The recipient query for a target's match (``alerts.targets``: its predicate on
    ``ra`` with the target in $2) and the alert's channels ($3 holds them too): one
    channel reads the enrolments' channel bit directly, both join a two-row list of
    channels. ``exercise``: only residents flagged as exercise participants; ``chunk``:
    only residents with lo < id <= hi."""
    target = match.sql("ra", "$2")
    source = "resident_addresses" if chunk is None else "chunk"
    parts_exercise = _EXERCISE if exercise else ""
    bits = sorted({_CHANNEL_BIT[c] for c in channels})
    if len(bits) == 1:
        parts = {
            "channel": f"'{_CHANNEL_NAME[bits[0]]}'::text",
            "channel_join": "",
            "channel_filter": f"(ra.channel_bits & {bits[0]}) <> 0 AND $3::text[] IS NOT NULL",
        }
    else:
        parts = {
            "channel": "c.name",
            "channel_join": "JOIN (VALUES (1::smallint, 'sms'::text), (2::smallint, 'voice'::text)) "
            "AS c (bit, name) ON (ra.channel_bits & c.bit) <> 0",
            "channel_filter": "$3::text[] IS NOT NULL",
        }
    return _RECIPIENTS.format(
        chunk="" if chunk is None else _CHUNK.format(lo=int(chunk[0]), hi=int(chunk[1])),
        budget=_BUDGET if budget else _NO_BUDGET,
        new_only=_NEW_ONLY if new_only else "",
        per="fresh" if new_only else "per",
        related_case=_RELATED_CASE if follows else "",
        sole_hits=_HITS.format(
            sole="ra.sole",
            target=target,
            not_quiet="NULL::timestamptz",
            exercise=parts_exercise,
            source=source,
            **parts,
        ),
        multi_hits=_HITS.format(
            sole="NOT ra.sole",
            target=target,
            not_quiet="'-infinity'::timestamptz",
            exercise=parts_exercise,
            source=source,
            **parts,
        ),
    )


async def recipient_counts(
    conn: asyncpg.Connection, query: RecipientQuery
) -> tuple[dict[tuple[str, str], int], int]:
    if query.new_only:  # the anti-join's hash table must fit in work_mem (see _NEW_ONLY)
        async with conn.transaction():
            await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            return await _recipient_counts(conn, query)
    return await _recipient_counts(conn, query)


async def _recipient_counts(
    conn: asyncpg.Connection, query: RecipientQuery
) -> tuple[dict[tuple[str, str], int], int]:
    """Deliveries per (channel, disposition), and the residents who will be reached
    (now or after their quiet hours), in one pass over the recipient query; (None,
    'related') counts the residents a followed alert reached."""
    rows = await conn.fetch(
        f"""WITH x AS ({query.sql()})
        SELECT channel, disposition, count(*) AS n, NULL::bigint AS reached FROM x GROUP BY channel, disposition
        UNION ALL
        SELECT NULL, NULL, NULL, count(DISTINCT resident_id) FROM x WHERE disposition IN ('now', 'quiet_defer')
        UNION ALL
        SELECT NULL, 'related', count(DISTINCT resident_id), NULL FROM x WHERE disposition = 'related'""",
        *query.args(),
    )
    groups = {(r["channel"], r["disposition"]): r["n"] for r in rows if r["disposition"] is not None}
    reached = next(r["reached"] for r in rows if r["disposition"] is None)
    return groups, reached


async def distinct_residents(conn: asyncpg.Connection, query: RecipientQuery) -> int:
    """Residents the target query finds (for the outside-scope count)."""
    if query.new_only:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            return await conn.fetchval(
                f"SELECT count(DISTINCT resident_id) FROM ({query.sql()}) x", *query.args()
            )
    return await conn.fetchval(
        f"SELECT count(DISTINCT resident_id) FROM ({query.sql()}) x",
        *query.args(),
    )


async def materialise(
    conn: asyncpg.Connection, query: RecipientQuery, *, wave: int = 0, limit: int | None = None
) -> tuple[int, int]:
    """One start message per (alert, resident, channel) in one statement: at send time
    (the draft → sending step holds the alert's row lock) and for each wave (the same
    lock; ``query.new_only`` leaves out whoever already has one). The recipient query
    yields each (resident, channel) once; ON CONFLICT DO NOTHING stays as the safety net,
    so a duplicate row never fails an urgent alert's send. Residents a followed alert
    reached are written as skipped ('related_alert', text_seq 0): they are reached for
    follow-ups and the closing message. ``limit``: at most that many rows (a wave's
    first batch). Returns (rows written, residents to be messaged).

    A chunk of a large alert (``query.chunk``) is written without ON CONFLICT first: its
    residents cannot have a start message of the alert yet (chunks are disjoint ranges of
    resident ids, each written once, in the transaction that deletes its row, and no wave
    runs while the alert materialises), and the arbiter costs a probe of the unique key
    and a WAL record per row, a fifth of a chunk's time (BENCHMARKS.md). Should one exist
    after all, the unique key refuses the statement and the chunk is written again with
    the safety net."""
    # the per-resident grouping (and a wave's anti-join) stays in memory
    await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    if query.chunk is not None and limit is None:
        with contextlib.suppress(asyncpg.UniqueViolationError):
            async with conn.transaction():  # a savepoint: the fallback below runs in a clean state
                row = await conn.fetchrow(_materialise_sql(query, wave, limit, arbiter=False), *query.args())
            return row["n"], row["reached"]
    row = await conn.fetchrow(_materialise_sql(query, wave, limit, arbiter=True), *query.args())
    return row["n"], row["reached"]


def _materialise_sql(query: RecipientQuery, wave: int, limit: int | None, *, arbiter: bool) -> str:
    return f"""
        WITH ins AS (
            INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, reason, not_before, expires_at,
                                    wave, text_seq, alert_month)
            SELECT $1, resident_id, channel, 'alert', $5,
                   CASE WHEN disposition IN ('budget', 'quiet_skip', 'related') THEN 'skipped' ELSE 'queued' END,
                   CASE disposition WHEN 'budget' THEN 'budget' WHEN 'quiet_skip' THEN 'quiet_hours'
                                    WHEN 'quiet_defer' THEN 'quiet_hours' WHEN 'related' THEN 'related_alert' END,
                   CASE WHEN disposition = 'quiet_defer' THEN quiet_until ELSE now() END,
                   $6, {int(wave)}, CASE WHEN disposition = 'related' THEN 0 END,
                   (SELECT a.alert_month FROM alerts a WHERE a.id = $1)  -- the partition key (sql/0032)
            FROM ({query.sql()}) x
            {f"LIMIT {int(limit)}" if limit is not None else ""}
            {"ON CONFLICT DO NOTHING" if arbiter else ""}
            RETURNING resident_id, state
        )
        SELECT count(*) AS n, count(DISTINCT resident_id) FILTER (WHERE state = 'queued') AS reached FROM ins
        """


async def target_exceeds(conn: asyncpg.Connection, query: RecipientQuery, n: int) -> bool:
    """Whether the target holds more than ``n`` active enrolments within the scope (reads
    at most n + 1 entries of each of the target indexes the recipient query reads, sole
    and other enrolments: cheap whatever the target's size)."""
    part = f"""(SELECT count(*) FROM (
               SELECT 1 FROM resident_addresses ra
               WHERE ra.active AND {{sole}} AND {query.target.match.sql("ra", "$1")}
                 AND ($2::text[] IS NULL OR ra.municipality_code = ANY ($2::text[]))
               LIMIT $3 + 1) x)"""
    return await conn.fetchval(
        f"SELECT {part.format(sole='ra.sole')} + {part.format(sole='NOT ra.sole')} > $3",
        query.target.value,
        query.scope,
        n,
    )


async def start_chunks(conn: asyncpg.Connection, alert_id: int) -> tuple[int, int]:
    """The alert's deliveries will be written in chunks of resident ids: (the id before
    the first, the last id at this moment)."""
    row = await conn.fetchrow(
        """UPDATE alerts SET (materialise_cursor, materialise_end, materialised_at) =
               (SELECT coalesce(min(id), 1) - 1, coalesce(max(id), 0), NULL::timestamptz FROM residents)
           WHERE id = $1 RETURNING materialise_cursor, materialise_end""",
        alert_id,
    )
    return row["materialise_cursor"], row["materialise_end"]


async def plan_chunks(conn: asyncpg.Connection, alert_id: int, lo: int, end: int, size: int) -> bool:
    """Residents lo < id <= end are still to be written: one ``materialise_chunks`` row
    per ``size`` resident ids (in the send transaction, so the writers see them when the
    alert is sent). True when there is nothing left (then the alert is materialised)."""
    if lo >= end:
        await conn.execute(
            "UPDATE alerts SET materialise_cursor = NULL, materialised_at = clock_timestamp() WHERE id = $1",
            alert_id,
        )
        return True
    await conn.execute(
        """INSERT INTO materialise_chunks (alert_id, lo, hi)
           SELECT $1, g, least(g + $4, $3) FROM generate_series($2::bigint, $3::bigint - 1, $4::bigint) g""",
        alert_id,
        lo,
        end,
        size,
    )
    return False


async def materialising_alerts(conn: asyncpg.Connection) -> list[int]:
    """The alerts whose deliveries are still being written (oldest first; a few at most)."""
    return [
        r[0]
        for r in await conn.fetch("SELECT id FROM alerts WHERE materialise_cursor IS NOT NULL ORDER BY id")
    ]


async def claim_chunk(conn: asyncpg.Connection, alert_id: int) -> tuple[asyncpg.Record, int, int] | None:
    """The alert (locked FOR SHARE: other chunk writers go on, a follow-up, close or cancel
    waits for the chunks in flight and new ones wait for it) and one chunk of it no other
    writer holds (FOR UPDATE SKIP LOCKED, lowest resident ids first), for this
    transaction; None if the alert is ended or locked by its closing, or every chunk left
    is being written right now. The alert is locked before the chunk, in the order close
    and cancel lock them (the alert, then the chunks its trigger deletes): no deadlock."""
    row = await conn.fetchrow(
        f"""SELECT {ALERT_COLUMNS} FROM alerts
            WHERE id = $1 AND materialise_cursor IS NOT NULL AND status IN ('sending', 'active')
            FOR SHARE SKIP LOCKED""",
        alert_id,
    )
    if row is None:
        return None
    chunk = await conn.fetchrow(
        "SELECT lo, hi FROM materialise_chunks WHERE alert_id = $1 ORDER BY lo LIMIT 1 FOR UPDATE SKIP LOCKED",
        alert_id,
    )
    if chunk is None:
        return None
    return row, chunk["lo"], chunk["hi"]


async def chunk_written(conn: asyncpg.Connection, alert_id: int, lo: int) -> None:
    """The chunk is written (in the transaction that wrote it): it is not taken again."""
    await conn.execute("DELETE FROM materialise_chunks WHERE alert_id = $1 AND lo = $2", alert_id, lo)


async def refresh_statistics(conn: asyncpg.Connection, alert_id: int, least_pages: int) -> str | None:
    """ANALYZE the partition holding the alert's start messages once it has at least
    doubled in pages since its statistics were taken (and holds ``least_pages``); returns
    its name then. A national alert writes two million rows into the month's partition
    within seconds, while autovacuum looks at most once a minute: planned from the
    statistics of the partition empty (or holding only sent messages), the claim sorted
    every queued row for each batch and the outcomes' update read the whole partition
    (measured: up to 1.2 s a claim; BENCHMARKS.md). The size is read
    from the file, so a writer sees the others' rows at once; ANALYZE sets relpages
    to it. SKIP_LOCKED: a concurrent writer's ANALYZE is enough."""
    row = await conn.fetchrow(
        """SELECT c.oid::regclass::text AS rel, c.relpages AS counted,
                  pg_relation_size(c.oid) / current_setting('block_size')::int AS pages
           FROM pg_class c
           WHERE c.oid = (SELECT d.tableoid FROM deliveries d
                          WHERE d.alert_month = (SELECT a.alert_month FROM alerts a WHERE a.id = $1)
                            AND d.alert_id = $1 AND d.kind = 'alert' LIMIT 1)""",
        alert_id,
    )
    if row is None or row["pages"] < max(2 * row["counted"], least_pages):
        return None
    await conn.execute(f"ANALYZE (SKIP_LOCKED) {row['rel']}")
    return row["rel"]


async def finish_chunks(conn: asyncpg.Connection, alert_id: int) -> bool | None:
    """Once no chunk is left (written, or the writer of the last one committed): the
    alert is materialised (True, exactly once: the row lock makes a second caller see
    the cursor already NULL) or, ended meanwhile, it just stops (False); None while
    chunks are left or it was finished before. Takes no lock while chunks are left."""
    return await conn.fetchval(
        """UPDATE alerts SET materialise_cursor = NULL,
               materialised_at = CASE WHEN status IN ('sending', 'active') THEN clock_timestamp() END
           WHERE id = $1 AND materialise_cursor IS NOT NULL
             AND (status NOT IN ('sending', 'active')
                  OR NOT EXISTS (SELECT 1 FROM materialise_chunks WHERE alert_id = $1))
           RETURNING materialised_at IS NOT NULL""",
        alert_id,
    )


# Up to this many addresses inside a target, municipalities_in_target reads them all.
TOUCHED_DIRECT_READ = 20_000


async def municipalities_in_target(
    conn: asyncpg.Connection, target: Resolved, *, direct_read: int = TOUCHED_DIRECT_READ
) -> list[str]:
    """The municipalities with an address inside the target (sorted).

    A target with at most ``direct_read`` addresses has them read. A larger one (a
    region, the whole country) is asked per municipality instead: is one of its addresses
    inside both its extent (``municipality_extents``, sql/0035) and the target, an index
    probe each. A national polygon at 10M addresses: 58-76 ms instead of 2.1-5.3 s
    (BENCHMARKS.md)."""
    match = target.match.sql("a", "$1")
    # counted on the location index alone (an index-only scan that stops at the limit;
    # reading the codes too would make it a bitmap scan of the whole target first)
    small = await conn.fetchval(
        f"SELECT count(*) <= $2 FROM (SELECT FROM addresses a WHERE {match} LIMIT $2 + 1) x",
        target.value,
        direct_read,
    )
    if small:
        rows = await conn.fetch(
            f"SELECT DISTINCT a.municipality_code FROM addresses a WHERE {match} AND a.municipality_code IS NOT NULL",
            target.value,
        )
        return sorted(r[0] for r in rows)
    rows = await conn.fetch(
        f"""SELECT e.municipality_code FROM municipality_extents e
            WHERE EXISTS (SELECT 1 FROM addresses a
                          WHERE a.location <@ e.extent AND {match} AND a.municipality_code = e.municipality_code)""",
        target.value,
    )
    return sorted(r[0] for r in rows)


async def areas_by_code(conn: asyncpg.Connection, codes: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT code, level, municipality_code FROM areas WHERE code = ANY($1)", codes)


# ------------------------------------------------------------------ alerts


async def insert_alert(conn: asyncpg.Connection, **f: Any) -> int:
    return await conn.fetchval(
        """
        INSERT INTO alerts (reference, level, title, message, voice_message, target, target_circle, target_polygon,
                            target_codes, municipalities, channels, expires_in_minutes, family_consent, created_by,
                            scope, cap_source_identifier, cap_source_sender, cap_source_sent, follows, widen,
                            message_en, voice_message_en, mode)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
                $23)
        RETURNING id
        """,
        f["reference"],
        f["level"],
        f["title"],
        f["message"],
        f["voice_message"],
        f["target"],
        f["target_circle"],
        f["target_polygon"],
        f["target_codes"],
        f["municipalities"],
        f["channels"],
        f["expires_in_minutes"],
        f["family_consent"],
        f["created_by"],
        f["scope"],
        f.get("cap_source_identifier"),
        f.get("cap_source_sender"),
        f.get("cap_source_sent"),
        f.get("follows"),
        f.get("widen"),
        f.get("message_en"),
        f.get("voice_message_en"),
        f.get("mode", "live"),
    )


ALERT_COLUMNS = """id, reference, status, level, title, message, voice_message, target, target_circle, target_polygon,
    target_codes, municipalities, channels, expires_in_minutes, family_consent, created_by, scope, created_at, sent_at,
    expires_at, closed_at, closing_message, estimate, cap_source_identifier, cap_source_sender, cap_source_sent,
    cap_sent, outcome, outcome_note, update_number, wave_number, follows, widen, widen_radius_m,
    widen_next_at, widen_ended, message_en, voice_message_en, public_token, link, template_id, mode, approval, rejection,
    materialise_cursor, materialise_end, materialised_at,
    (SELECT jsonb_build_object('width', p.width, 'height', p.height, 'bytes', p.bytes, 'alt', p.alt,
                               'created_at', p.created_at)
     FROM alert_photos p WHERE p.alert_id = alerts.id) AS photo"""


async def set_template(conn: asyncpg.Connection, alert_id: int, template_id: int) -> None:
    """Record the template an alert was made from."""
    await conn.execute("UPDATE alerts SET template_id = $2 WHERE id = $1", alert_id, template_id)


async def fix_cap_sent(conn: asyncpg.Connection, alert_id: int, sent: Any) -> Any:
    """The sent of the alert's CAP Alert message: ``sent`` at its first export, the same
    ever after (set once)."""
    return await conn.fetchval(
        "UPDATE alerts SET cap_sent = COALESCE(cap_sent, $2) WHERE id = $1 RETURNING cap_sent", alert_id, sent
    )


async def alert(conn: asyncpg.Connection, alert_id: int, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1" + (" FOR UPDATE" if lock else ""), alert_id
    )


async def list_alerts(
    conn: asyncpg.Connection,
    scope: list[str] | None,
    status: str | None,
    before: int | None,
    limit: int,
    mode: str | None = None,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {ALERT_COLUMNS} FROM alerts
        WHERE ($1::text[] IS NULL OR municipalities && $1::text[])
          AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3)
          AND ($5::text IS NULL OR mode = $5)
        ORDER BY id DESC LIMIT $4""",
        scope,
        status,
        before,
        limit,
        mode,
    )


async def counts(
    conn: asyncpg.Connection, alert_ids: list[int]
) -> dict[tuple[int, str, str], dict[str, int]]:
    """Deliveries per (alert, kind, channel) and state (an index-only scan of
    deliveries_alert_state)."""
    rows = await conn.fetch(
        "SELECT alert_id, kind, channel, state, count(*) AS n FROM deliveries WHERE alert_id = ANY($1) "
        "GROUP BY alert_id, kind, channel, state",
        alert_ids,
    )
    out: dict[tuple[int, str, str], dict[str, int]] = {}
    for r in rows:
        out.setdefault((r["alert_id"], r["kind"], r["channel"]), {})[r["state"]] = r["n"]
    return out


async def live_reference_exists(conn: asyncpg.Connection, reference: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM alerts WHERE reference = $1 "
        "AND status IN ('draft', 'awaiting_approval', 'sending', 'active'))",
        reference,
    )


async def mark_sending(
    conn: asyncpg.Connection, alert_id: int, estimate: dict[str, Any] | None, sent_by: int | None = None
) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE alerts SET status = 'sending', sent_at = now(), sent_by = coalesce($3, sent_by),
               materialised_at = now(),
               expires_at = now() + make_interval(mins => expires_in_minutes),
               estimate = coalesce($2, estimate),
               widen_next_at = CASE WHEN widen IS NOT NULL
                                    THEN now() + make_interval(secs => (widen ->> 'every_minutes')::float8 * 60) END
           WHERE id = $1 RETURNING sent_at, expires_at""",
        alert_id,
        estimate,
        sent_by,
    )


async def request_approval(conn: asyncpg.Connection, alert_id: int, approval: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE alerts SET status = 'awaiting_approval', approval = $2 WHERE id = $1", alert_id, approval
    )


async def approved(conn: asyncpg.Connection, alert_id: int, approved_by: int) -> None:
    """The open request granted (the send itself is :func:`mark_sending`)."""
    await conn.execute(
        """UPDATE alerts SET approval = approval || jsonb_build_object('approved_by', $2::bigint,
                                                                         'approved_at', now())
           WHERE id = $1""",
        alert_id,
        approved_by,
    )


async def reject(conn: asyncpg.Connection, alert_id: int, rejected_by: int, reason: str) -> None:
    """Back to draft with the reason; the request is gone."""
    await conn.execute(
        """UPDATE alerts SET status = 'draft', approval = NULL,
               rejection = jsonb_build_object('rejected_by', $2::bigint, 'rejected_at', now(), 'reason', $3::text)
           WHERE id = $1""",
        alert_id,
        rejected_by,
        reason,
    )


async def save_estimate(conn: asyncpg.Connection, alert_id: int, estimate: dict[str, Any]) -> None:
    await conn.execute("UPDATE alerts SET estimate = $2 WHERE id = $1", alert_id, estimate)


# The fatigue summary rows (resident_fatigue) of some residents, to lock in resident order.
_LOCK_FATIGUE = "SELECT 1 FROM resident_fatigue WHERE resident_id IN"


async def cancel_unsent(
    conn: asyncpg.Connection, alert_id: int, kinds: tuple[str, ...] = ("alert", "update")
) -> int:
    """What has not gone out of the alert's start messages and follow-ups is dropped
    (closing or cancelling it), including chunks not yet written; auto-widening ends too."""
    await conn.execute(
        "UPDATE alerts SET widen_next_at = NULL, widen_ended = coalesce(widen_ended, 'alert_ended') "
        "WHERE id = $1 AND widen IS NOT NULL",
        alert_id,
    )
    # deliveries not yet written (a large alert's later chunks) are never written
    await conn.execute(
        "UPDATE alerts SET materialise_cursor = NULL WHERE id = $1 AND materialise_cursor IS NOT NULL",
        alert_id,
    )
    # a regular alert's start messages count towards the fatigue budget: their residents'
    # summary rows are locked in resident order first, as the writers lock them (one
    # INSERT, ordered), not in the order the messages happen to lie in (a deadlock)
    if (
        "alert" in kinds
        and await conn.fetchval(
            "SELECT level FROM deliveries WHERE alert_id = $1 AND kind = 'alert' LIMIT 1", alert_id
        )
        == "regular"
    ):
        await conn.execute(
            f"""{_LOCK_FATIGUE} (SELECT resident_id FROM deliveries
                   WHERE alert_id = $1 AND kind = 'alert' AND state = 'queued') ORDER BY resident_id FOR UPDATE""",
            alert_id,
        )
    result = await conn.execute(
        "UPDATE deliveries SET state = 'cancelled', reason = 'alert_ended', updated_at = now() "
        "WHERE alert_id = $1 AND kind = ANY($2::text[]) AND state = 'queued'",
        alert_id,
        list(kinds),
    )
    return int(result.split()[-1])


async def set_status(
    conn: asyncpg.Connection, alert_id: int, status: str, closing_message: str | None = None
) -> None:
    await conn.execute(
        """UPDATE alerts SET status = $2,
               closed_at = CASE WHEN $2 IN ('closed', 'cancelled') THEN now() ELSE closed_at END,
               closing_message = coalesce($3, closing_message)
           WHERE id = $1""",
        alert_id,
        status,
        closing_message,
    )


async def set_outcome(conn: asyncpg.Connection, alert_id: int, outcome: str, note: str | None) -> None:
    await conn.execute(
        "UPDATE alerts SET outcome = $2, outcome_note = $3 WHERE id = $1", alert_id, outcome, note
    )


async def materialise_closing(conn: asyncpg.Connection, alert_id: int, expires_at: datetime) -> int:
    """A closing message to everyone the alert reached — its start message in any wave,
    any follow-up, or a related alert (``follows``) — once per resident, on the channel
    that reached them. Called again whenever an outcome of a closed alert is recorded
    (idempotent: a resident with a closing message on any channel gets no other)."""
    result = await conn.execute(
        """
        INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month)
        SELECT DISTINCT ON (d.resident_id) d.alert_id, d.resident_id, d.channel, 'closing', d.level, 'queued', $2,
               d.alert_month
        FROM deliveries d JOIN residents r ON r.id = d.resident_id AND r.status = 'active'
        WHERE d.alert_id = $1 AND d.kind IN ('alert', 'update')
          AND (d.state IN ('sent', 'delivered') OR (d.state = 'skipped' AND d.reason = 'related_alert'))
          AND NOT EXISTS (SELECT 1 FROM deliveries c WHERE c.alert_id = d.alert_id AND c.resident_id = d.resident_id
                          AND c.kind = 'closing')
        ORDER BY d.resident_id, (d.kind = 'alert') DESC, (d.state = 'delivered') DESC, (d.channel = 'sms') DESC
        ON CONFLICT DO NOTHING
        """,
        alert_id,
        expires_at,
    )
    return int(result.split()[-1])


# ------------------------------------------------------------------ the queue


async def notify_dispatch(conn: asyncpg.Connection, alert_id: int) -> None:
    """Wake the workers (a hint: they poll anyway); sent when the transaction commits."""
    await conn.execute("SELECT pg_notify($1, $2)", DISPATCH_CHANNEL, str(alert_id))


# A follow-up goes out once the resident's start message on its channel has: the worker
# reads that message's state and the text version it carried (``alerts/worker.py``).
_START = (
    "(SELECT s.{col} FROM deliveries s WHERE d.kind = 'update' AND s.alert_id = d.alert_id "
    "AND s.resident_id = d.resident_id AND s.channel = d.channel AND s.kind = 'alert' AND s.seq = 0)"
)


# the alert's latest follow-up number (a bulletin's negative alert_id has no alert: NULL)
_UPDATE_NUMBER = "(SELECT a.update_number FROM alerts a WHERE a.id = d.alert_id)"


async def claim(
    conn: asyncpg.Connection, worker: str, channel: str, limit: int, senders: Sequence[str] = ()
) -> list[asyncpg.Record]:
    """Claim due deliveries of one channel. ``prev_attempt_at`` is when the previous claim
    of the row began (a lower bound of any earlier send, for reconciliation); the phone
    number is returned only for residents still active (STOP after queueing holds).

    With ``senders`` (the pool) a delivery comes with the sender it must go from: the one
    it already has (a retry after an attempt that may have gone out), else the one the
    resident's earlier deliveries of the alert went from (replies thread), else the pool's
    only sender; NULL otherwise, and the worker takes the sender with tokens available
    (:func:`take_pool_tokens`) and records it with the outcome. Senders no longer in
    the pool are not reused."""
    return await conn.fetch(
        f"""
        WITH c AS (
            SELECT id, attempt_at AS prev_attempt_at FROM deliveries
            WHERE state = 'queued' AND channel = $2 AND not_before <= now() AND expires_at > now()
            ORDER BY not_before, id
            LIMIT $3 FOR UPDATE SKIP LOCKED
        )
        UPDATE deliveries d SET state = 'sending', claimed_by = $1, claimed_at = now(), updated_at = now(),
                                attempt_at = now(),
                                sender = CASE WHEN cardinality($4::text[]) = 0 THEN d.sender ELSE coalesce(
                                    CASE WHEN d.sender = ANY($4::text[]) THEN d.sender END,
                                    (SELECT e.sender FROM deliveries e
                                     WHERE e.alert_id = d.alert_id AND e.resident_id = d.resident_id
                                       AND e.id <> d.id AND e.sender = ANY($4::text[])
                                     ORDER BY e.id LIMIT 1),
                                    CASE WHEN cardinality($4::text[]) = 1 THEN ($4::text[])[1] END) END,
                                text_seq = CASE WHEN d.kind <> 'alert' THEN d.text_seq
                                                WHEN d.reconcile THEN coalesce(d.text_seq, {_UPDATE_NUMBER})
                                                ELSE {_UPDATE_NUMBER} END
        FROM c WHERE d.id = c.id
        RETURNING d.id, d.alert_id, d.resident_id, d.channel, d.kind, d.seq, d.text_seq, d.attempts, d.reconcile,
                  c.prev_attempt_at, d.expires_at, d.created_at, d.sender,
                  (SELECT phone FROM residents r WHERE r.id = d.resident_id AND r.status = 'active') AS phone,
                  (SELECT language FROM residents r WHERE r.id = d.resident_id) AS language,
                  {_START.format(col="state")} AS start_state, {_START.format(col="reason")} AS start_reason,
                  {_START.format(col="text_seq")} AS start_text_seq
        """,
        worker,
        channel,
        limit,
        list(senders),
    )


async def alert_texts(conn: asyncpg.Connection, alert_ids: list[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, reference, level, message, voice_message, closing_message, status, update_number, "
        "message_en, public_token, link, mode, "
        "EXISTS (SELECT 1 FROM alert_photos p WHERE p.alert_id = alerts.id) AS has_photo "
        "FROM alerts WHERE id = ANY($1)",
        alert_ids,
    )


async def update_texts(conn: asyncpg.Connection, alert_ids: list[int]) -> list[asyncpg.Record]:
    """The follow-ups of these alerts (immutable once written)."""
    return await conn.fetch(
        "SELECT alert_id, number, message, voice_message FROM alert_updates WHERE alert_id = ANY($1)",
        alert_ids,
    )


async def lock_alerts_shared(conn: asyncpg.Connection, alert_ids: list[int]) -> None:
    """Recording outcomes waits for a follow-up being written to these alerts (which
    holds the alert's row FOR UPDATE) and keeps the next one waiting until it commits:
    so either that follow-up sees a start message recorded here, or
    :func:`catch_up_updates` here sees the follow-up. KEY SHARE: recorders do not wait
    for each other, nor for status changes."""
    await conn.execute("SELECT 1 FROM alerts WHERE id = ANY($1) ORDER BY id FOR KEY SHARE", alert_ids)


# The start messages that may have reached their resident (or reached them through a
# related alert) and carried text version < the follow-up's number: they get the follow-up.
_MAY_HAVE_REACHED = """(d.state IN ('sending', 'sent', 'delivered') OR (d.state = 'queued' AND d.reconcile)
       OR (d.state = 'skipped' AND d.reason = 'related_alert'))"""


async def catch_up_updates(conn: asyncpg.Connection, delivery_ids: list[int]) -> int:
    """Start messages just recorded that carried an older text than the alert's latest
    follow-up (claimed while it was being written) get the follow-ups they missed. Runs
    under :func:`lock_alerts_shared`; ON CONFLICT: the follow-up's own transaction may
    have written them already."""
    result = await conn.execute(
        f"""
        INSERT INTO deliveries (alert_id, resident_id, channel, kind, seq, level, state, expires_at, alert_month)
        SELECT d.alert_id, d.resident_id, d.channel, 'update', u.number, d.level, 'queued', a.expires_at,
               d.alert_month
        FROM deliveries d
        JOIN alerts a ON a.id = d.alert_id AND a.status IN ('sending', 'active') AND coalesce(d.text_seq, 0) < a.update_number
        JOIN alert_updates u ON u.alert_id = d.alert_id AND u.number > coalesce(d.text_seq, 0)
        WHERE d.id = ANY($1) AND d.kind = 'alert' AND d.resident_id IS NOT NULL AND {_MAY_HAVE_REACHED}
        ON CONFLICT DO NOTHING
        """,
        delivery_ids,
    )
    return int(result.split()[-1])


# ------------------------------------------------------------------ follow-ups and waves


async def insert_update(
    conn: asyncpg.Connection, alert_id: int, number: int, message: str, voice: str | None, by: int | None
) -> asyncpg.Record:
    """Follow-up ``number``, not yet complete (see :func:`finish_update`)."""
    await conn.execute("UPDATE alerts SET update_number = $2 WHERE id = $1", alert_id, number)
    return await conn.fetchrow(
        """INSERT INTO alert_updates (alert_id, number, message, voice_message, created_by)
           VALUES ($1, $2, $3, $4, $5) RETURNING id, alert_id, number, message, voice_message, created_at""",
        alert_id,
        number,
        message,
        voice,
        by,
    )


async def materialise_update(
    conn: asyncpg.Connection, alert_id: int, number: int, expires_at: datetime, limit: int | None = None
) -> int:
    """Follow-up ``number`` to every (resident, channel) whose start message may have
    reached them with an older text; run while the alert's row is locked FOR UPDATE (a
    start claimed meanwhile reads the new text, or is caught up when recorded).
    ``limit``: at most that many (the first batch)."""
    result = await conn.execute(
        f"""
        INSERT INTO deliveries (alert_id, resident_id, channel, kind, seq, level, state, expires_at, alert_month)
        SELECT d.alert_id, d.resident_id, d.channel, 'update', $2, d.level, 'queued', $3, d.alert_month
        FROM deliveries d
        WHERE d.alert_id = $1 AND d.kind = 'alert' AND d.resident_id IS NOT NULL AND coalesce(d.text_seq, 0) < $2
          AND {_MAY_HAVE_REACHED}
        {f"LIMIT {int(limit)}" if limit is not None else ""}
        ON CONFLICT DO NOTHING
        """,
        alert_id,
        number,
        expires_at,
    )
    return int(result.split()[-1])


async def update_audience(conn: asyncpg.Connection, alert_id: int) -> dict[str, dict[str, int]]:
    """For a follow-up preview: per channel, the residents it would go to ('reached')
    and those whose start message is still to go out ('pending': they get one message
    with the latest text), per channel and over both ('*', residents)."""
    rows = await conn.fetch(
        f"""SELECT coalesce(d.channel, '*') AS channel,
                  count(DISTINCT d.resident_id) FILTER (WHERE {_MAY_HAVE_REACHED}) AS reached,
                  count(DISTINCT d.resident_id) FILTER (WHERE d.state = 'queued' AND NOT d.reconcile) AS pending
           FROM deliveries d WHERE d.alert_id = $1 AND d.kind = 'alert' AND d.resident_id IS NOT NULL
           GROUP BY GROUPING SETS ((d.channel), ())""",
        alert_id,
    )
    return {r["channel"]: {"reached": r["reached"], "pending": r["pending"]} for r in rows}


async def updates_of(conn: asyncpg.Connection, alert_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, alert_id, number, message, voice_message, created_at FROM alert_updates WHERE alert_id = $1 "
        "ORDER BY number",
        alert_id,
    )


async def update_counts(conn: asyncpg.Connection, alert_id: int) -> dict[int, dict[str, int]]:
    rows = await conn.fetch(
        "SELECT seq, state, count(*) AS n FROM deliveries WHERE alert_id = $1 AND kind = 'update' "
        "GROUP BY seq, state",
        alert_id,
    )
    out: dict[int, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["seq"], {})[r["state"]] = r["n"]
    return out


async def insert_wave(conn: asyncpg.Connection, alert_id: int, number: int, **f: Any) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO alert_waves (alert_id, number, target, target_circle, target_polygon, target_codes, added,
                                    auto, created_by, scope)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           RETURNING id, alert_id, number, target, added, auto, created_at""",
        alert_id,
        number,
        f["target"],
        f["target_circle"],
        f["target_polygon"],
        f["target_codes"],
        f["added"],
        f["auto"],
        f["created_by"],
        f["scope"],
    )


async def after_wave(
    conn: asyncpg.Connection, alert_id: int, number: int, municipalities: list[str], sending: bool
) -> None:
    """The alert's wave count and municipalities; back to 'sending' while a wave goes out."""
    await conn.execute(
        """UPDATE alerts SET wave_number = $2,
               municipalities = ARRAY(SELECT DISTINCT m FROM unnest(municipalities || $3::text[]) m ORDER BY m),
               status = CASE WHEN $4 AND status = 'active' THEN 'sending' ELSE status END
           WHERE id = $1""",
        alert_id,
        number,
        municipalities,
        sending,
    )


async def wave(conn: asyncpg.Connection, alert_id: int, number: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM alert_waves WHERE alert_id = $1 AND number = $2", alert_id, number
    )


async def wave_added(conn: asyncpg.Connection, alert_id: int, number: int) -> int:
    """Residents a wave brought in to be messaged (not skipped)."""
    return await conn.fetchval(
        "SELECT count(DISTINCT resident_id) FROM deliveries WHERE alert_id = $1 AND kind = 'alert' AND wave = $2 "
        "AND state <> 'skipped'",
        alert_id,
        number,
    )


async def finish_wave(conn: asyncpg.Connection, alert_id: int, number: int, added: int) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE alert_waves SET added = $3, complete = true WHERE alert_id = $1 AND number = $2
           RETURNING id, alert_id, number, target, added, auto, created_at""",
        alert_id,
        number,
        added,
    )


async def finish_update(conn: asyncpg.Connection, alert_id: int, number: int) -> None:
    await conn.execute(
        "UPDATE alert_updates SET complete = true WHERE alert_id = $1 AND number = $2", alert_id, number
    )


async def incomplete(conn: asyncpg.Connection, older_than_s: float) -> list[asyncpg.Record]:
    """Follow-ups and waves whose second step never ran (the process died in between)."""
    return await conn.fetch(
        """SELECT 'update' AS what, alert_id, number FROM alert_updates
           WHERE NOT complete AND created_at < now() - make_interval(secs => $1)
           UNION ALL
           SELECT 'wave', alert_id, number FROM alert_waves
           WHERE NOT complete AND created_at < now() - make_interval(secs => $1)
           ORDER BY 2, 3""",
        older_than_s,
    )


async def waves_of(conn: asyncpg.Connection, alert_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, alert_id, number, target, added, auto, created_at FROM alert_waves WHERE alert_id = $1 "
        "ORDER BY number",
        alert_id,
    )


async def wave_counts(conn: asyncpg.Connection, alert_id: int) -> dict[int, dict[str, int]]:
    rows = await conn.fetch(
        "SELECT wave, state, count(*) AS n FROM deliveries WHERE alert_id = $1 AND kind = 'alert' AND wave > 0 "
        "GROUP BY wave, state",
        alert_id,
    )
    out: dict[int, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["wave"], {})[r["state"]] = r["n"]
    return out


async def due_widening(conn: asyncpg.Connection, limit: int = 10) -> list[int]:
    """Alerts whose next automatic wave is due (locked; others skip them); not while the
    alert's own deliveries are still being written."""
    rows = await conn.fetch(
        """SELECT id FROM alerts WHERE widen_next_at <= now() AND materialise_cursor IS NULL
           ORDER BY widen_next_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [r[0] for r in rows]


async def set_widening(
    conn: asyncpg.Connection, alert_id: int, radius_m: float | None, next_at: Any, ended: str | None
) -> None:
    await conn.execute(
        """UPDATE alerts SET widen_radius_m = coalesce($2, widen_radius_m), widen_next_at = $3,
               widen_ended = coalesce($4, widen_ended) WHERE id = $1""",
        alert_id,
        radius_m,
        next_at,
        ended,
    )


async def followable(conn: asyncpg.Connection, alert_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, status, reference FROM alerts WHERE id = $1", alert_id)


async def record_outcomes(conn: asyncpg.Connection, worker: str, rows: list[tuple[Any, ...]]) -> None:
    """rows: (id, state, sid, error_code, reason, not_before, reconcile, attempts, attempt_at,
    sender).

    Every condition reads ``d``, the row as it is when updated (a status callback may
    have committed meanwhile; PostgreSQL re-checks the row), never an earlier snapshot.

    The claim holder's outcome applies only while the row is still 'sending' under its
    claim. Otherwise (a callback moved it on, or the claim was taken back) only what is
    certain is added: the provider id, and 'sent' for a row taken back for
    reconciliation although we know it went out (never over a scheduled retry)."""
    if not rows:
        return
    cols = list(zip(*rows, strict=True))
    await conn.execute(
        """
        UPDATE deliveries d SET
            state = CASE WHEN (d.state = 'sending' AND d.claimed_by = $11) THEN u.state
                         WHEN d.state = 'queued' AND d.reconcile AND u.state = 'sent' AND u.sid IS NOT NULL
                         THEN 'sent'
                         ELSE d.state END,
            reconcile = CASE WHEN (d.state = 'sending' AND d.claimed_by = $11) THEN u.reconcile
                             WHEN d.state = 'queued' AND d.reconcile AND u.state = 'sent' AND u.sid IS NOT NULL
                             THEN false
                             ELSE d.reconcile END,
            provider_sid = CASE WHEN EXISTS (SELECT 1 FROM deliveries x WHERE x.provider_sid = u.sid AND x.id <> d.id)
                                THEN d.provider_sid ELSE coalesce(d.provider_sid, u.sid) END,
            error_code = CASE WHEN (d.state = 'sending' AND d.claimed_by = $11) THEN coalesce(u.code, d.error_code) ELSE d.error_code END,
            reason = CASE WHEN (d.state = 'sending' AND d.claimed_by = $11) THEN coalesce(u.reason, d.reason) ELSE d.reason END,
            not_before = CASE WHEN (d.state = 'sending' AND d.claimed_by = $11) THEN coalesce(u.not_before, d.not_before) ELSE d.not_before END,
            attempts = greatest(d.attempts, u.attempts),
            -- the sender of an attempt that went out, or may have: kept for retries and
            -- for the resident's later messages of the alert
            sender = CASE WHEN d.sender IS NULL AND (u.sid IS NOT NULL OR u.reconcile) THEN u.sender
                          ELSE d.sender END,
            attempt_at = CASE WHEN (d.state = 'sending' AND d.claimed_by = $11) THEN coalesce(u.attempt_at, d.attempt_at) ELSE d.attempt_at END,
            sent_at = CASE WHEN u.state IN ('sent', 'delivered') AND u.sid IS NOT NULL THEN coalesce(d.sent_at, now())
                           ELSE d.sent_at END,
            claimed_by = CASE WHEN d.claimed_by = $11 THEN NULL ELSE d.claimed_by END,
            claimed_at = CASE WHEN d.claimed_by = $11 THEN NULL ELSE d.claimed_at END,
            updated_at = now()
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::bool[],
                    $8::int[], $9::timestamptz[], $10::text[])
             AS u(id, state, sid, code, reason, not_before, reconcile, attempts, attempt_at, sender)
        WHERE d.id = u.id
        """,
        *[list(c) for c in cols],
        worker,
    )


async def known_sids(conn: asyncpg.Connection, sids: list[str], delivery_id: int) -> set[str]:
    """Provider ids recorded on other deliveries (not candidates for reconciliation of
    this one). A sid on this delivery itself is its own message (a status callback of
    the unknown attempt can record it while the delivery waits): it is found, not known."""
    if not sids:
        return set()
    rows = await conn.fetch(
        "SELECT provider_sid FROM deliveries WHERE provider_sid = ANY($1) AND id <> $2", sids, delivery_id
    )
    return {r[0] for r in rows}


async def closed_among(conn: asyncpg.Connection, alert_ids: list[int]) -> list[int]:
    rows = await conn.fetch("SELECT id FROM alerts WHERE id = ANY($1) AND status = 'closed'", alert_ids)
    return [r[0] for r in rows]


async def heartbeat(conn: asyncpg.Connection, worker: str, ids: list[int]) -> set[int]:
    """Keep the claims on ``ids`` fresh; returns those still claimed by this worker (in
    any state: a callback may already have moved a row on, which does not take it away)."""
    rows = await conn.fetch(
        """WITH t AS (UPDATE deliveries SET claimed_at = now()
                      WHERE id = ANY($2) AND claimed_by = $1 AND state = 'sending')
           SELECT id FROM deliveries WHERE id = ANY($2) AND claimed_by = $1""",
        worker,
        ids,
    )
    return {r[0] for r in rows}


async def release_stale_claims(conn: asyncpg.Connection, lease_seconds: float) -> int:
    """Claims of a crashed or hung worker go back to the queue, marked for
    reconciliation with the provider before anything is resent. A fresh send that may
    have been in flight (its callbacks carry attempts + 1) becomes the recorded attempt,
    so late callbacks of an earlier, deliberately retried attempt cannot settle it; a
    claim that was itself reconciling keeps its number (its unknown attempt's callbacks
    must still count)."""
    result = await conn.execute(
        """UPDATE deliveries SET state = 'queued', reconcile = true, claimed_by = NULL, claimed_at = NULL,
               attempts = attempts + CASE WHEN reconcile THEN 0 ELSE 1 END, not_before = now(), updated_at = now()
           WHERE state = 'sending' AND claimed_at < now() - make_interval(secs => $1)""",
        lease_seconds,
    )
    return int(result.split()[-1])


async def release_claims_of(conn: asyncpg.Connection, worker: str) -> int:
    """A worker shutting down hands back what it still holds. Some of it may have gone
    out without the outcome being recorded, so all of it is checked with the provider
    before anything is resent."""
    result = await conn.execute(
        """UPDATE deliveries SET state = 'queued', reconcile = true, claimed_by = NULL, claimed_at = NULL,
               attempts = attempts + CASE WHEN reconcile THEN 0 ELSE 1 END, updated_at = now()
           WHERE state = 'sending' AND claimed_by = $1""",
        worker,
    )
    return int(result.split()[-1])


async def expire_due(conn: asyncpg.Connection) -> list[int]:
    """Queued deliveries past their expiry are dropped; alerts past expiry end."""
    # the regular ones' fatigue summary rows first, in resident order (see cancel_unsent)
    await conn.execute(
        f"""{_LOCK_FATIGUE} (SELECT resident_id FROM deliveries
               WHERE state = 'queued' AND expires_at <= now() AND kind = 'alert' AND level = 'regular')
            ORDER BY resident_id FOR UPDATE"""
    )
    rows = await conn.fetch(
        """UPDATE deliveries SET state = 'expired', reason = 'alert_expired', updated_at = now()
           WHERE state = 'queued' AND expires_at <= now() RETURNING alert_id"""
    )
    ended = await conn.fetch(
        """UPDATE alerts SET status = 'expired', materialise_cursor = NULL,
               widen_ended = CASE WHEN widen IS NOT NULL THEN coalesce(widen_ended, 'expired') END,
               widen_next_at = NULL
           WHERE status IN ('sending', 'active') AND expires_at <= now() RETURNING id"""
    )
    return sorted({r[0] for r in rows} | {r[0] for r in ended})


async def finish_sent_alerts(conn: asyncpg.Connection, alert_ids: list[int] | None = None) -> list[int]:
    """'sending' becomes 'active' once nothing is left queued or in flight, and nothing
    left to write. OFFSET 0 keeps the check a probe of the alert's (alert_id, kind, state)
    entries per alert: as a join it was planned as a hash anti-join reading every
    delivery of the partition (0.5 s with a national alert's two million queued, for
    every batch recorded)."""
    rows = await conn.fetch(
        """UPDATE alerts a SET status = 'active'
           WHERE a.status = 'sending' AND a.materialise_cursor IS NULL
             AND ($1::bigint[] IS NULL OR a.id = ANY($1)) AND NOT EXISTS (
               SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.kind = 'alert'
                 AND d.state IN ('queued', 'sending') OFFSET 0)
           RETURNING id""",
        alert_ids,
    )
    return [r[0] for r in rows]


async def queue_depth(conn: asyncpg.Connection) -> int:
    """Deliveries due and not yet claimed: reads every one (hence metrics.QUEUE_CACHE_SECONDS)."""
    return await conn.fetchval(
        "SELECT count(*) FROM deliveries WHERE state = 'queued' AND not_before <= now()"
    )


async def queue_oldest_age(conn: asyncpg.Connection) -> float:
    """Seconds the oldest due delivery has waited (0 when none): the first entry of each
    channel's part of the queue index (the channel leads it, sql/0034)."""
    return await conn.fetchval(
        """SELECT coalesce(extract(epoch FROM now() - min(o.at)), 0)::float8
           FROM unnest($1::text[]) AS c (channel),
                LATERAL (SELECT min(d.not_before) AS at FROM deliveries d
                         WHERE d.state = 'queued' AND d.channel = c.channel AND d.not_before <= now()) o""",
        list(_CHANNEL_BIT),
    )


async def queue_by_channel(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Per channel: deliveries queued (due or deferred), in flight ('sending'), and the age
    of the oldest one that is due. Reads only the two partial queue indexes' rows."""
    return await conn.fetch(
        """SELECT channel, count(*) FILTER (WHERE state = 'queued') AS queued,
                  count(*) FILTER (WHERE state = 'sending') AS sending,
                  extract(epoch FROM now() - min(not_before) FILTER (WHERE state = 'queued'
                                                                     AND not_before <= now())) AS oldest_age
           FROM deliveries WHERE state IN ('queued', 'sending') GROUP BY channel"""
    )


# ------------------------------------------------------------------ callbacks


async def apply_status(
    conn: asyncpg.Connection,
    delivery_id: int,
    attempt: int,
    new_state: str,
    allowed_from: list[str],
    sid: str | None,
    error_code: int | None,
) -> asyncpg.Record | None:
    """Move a delivery forward (never back); None when the callback changes nothing.

    A delivery queued again after attempt a is either a deliberate retry (callbacks of
    attempt a are stale and dropped) or waiting for reconciliation because attempt a's
    outcome was unknown (``reconcile``): then a callback of attempt a is the answer, the
    provider took the message, and it settles the delivery (no resend, and the final
    state is not lost to a reconciliation that can only say "sent")."""
    return await conn.fetchrow(
        """
        UPDATE deliveries SET state = $3, provider_sid = coalesce(provider_sid, $5),
               error_code = coalesce($6, error_code),
               sent_at = CASE WHEN $3 IN ('sent', 'delivered') THEN coalesce(sent_at, now()) ELSE sent_at END,
               reconcile = false,  -- the provider has an attempt at least as recent: known
               updated_at = now()
        WHERE id = $1 AND attempts <= $2 AND state = ANY($4::text[])
          AND (state <> 'queued' OR attempts < $2 OR (reconcile AND attempts = $2))
        RETURNING id, alert_id, resident_id, channel, kind, state, attempts, expires_at
        """,
        delivery_id,
        attempt,
        new_state,
        allowed_from,
        sid,
        error_code,
    )


async def stale_sent(conn: asyncpg.Connection, minutes: int, limit: int) -> list[asyncpg.Record]:
    """SMS and call deliveries the provider took more than ``minutes`` ago whose final
    status never arrived (oldest first)."""
    return await conn.fetch(
        """SELECT id, attempts, provider_sid, channel FROM deliveries
           WHERE state = 'sent' AND provider_sid IS NOT NULL
             AND updated_at < now() - make_interval(mins => $1) AND expires_at > now()
           ORDER BY updated_at LIMIT $2""",
        minutes,
        limit,
    )


async def checked_unchanged(conn: asyncpg.Connection, ids: list[int]) -> None:
    """Deliveries the provider still reports as sent: asked again a period later (so the
    next run moves on to others)."""
    await conn.execute(
        "UPDATE deliveries SET updated_at = now() WHERE id = ANY($1::bigint[]) AND state = 'sent'", ids
    )


async def delivery(conn: asyncpg.Connection, delivery_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT d.*, a.reference, a.message, a.voice_message, a.closing_message, a.level AS alert_level,
                  u.message AS update_message, u.voice_message AS update_voice_message,
                  a.message_en, a.voice_message_en, a.mode AS alert_mode, r.language, r.slow_speech,
                  r.repeat_message
           FROM deliveries d JOIN alerts a ON a.id = d.alert_id LEFT JOIN residents r ON r.id = d.resident_id
           -- the follow-up a call carries: its own (kind 'update'), or the one folded into a start
           LEFT JOIN alert_updates u ON u.alert_id = d.alert_id
                AND u.number = CASE WHEN d.kind = 'update' THEN d.seq ELSE d.text_seq END
           WHERE d.id = $1""",
        delivery_id,
    )


async def resident_allows_voice(conn: asyncpg.Connection, resident_id: int) -> bool:
    return await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM resident_addresses ra JOIN residents r ON r.id = ra.resident_id
                          WHERE ra.resident_id = $1 AND r.status = 'active' AND 'voice' = ANY(ra.channels)
                            AND NOT r.sms_only)""",
        resident_id,
    )


async def add_fallback(conn: asyncpg.Connection, failed: asyncpg.Record, channel: str) -> int | None:
    return await conn.fetchval(
        """INSERT INTO deliveries (alert_id, resident_id, channel, kind, seq, wave, level, state, expires_at,
                                  fallback_of, alert_month)
           SELECT alert_id, resident_id, $2, kind, seq, wave, level, 'queued', expires_at, id, alert_month
           FROM deliveries
           WHERE id = $1 AND expires_at > now() AND kind <> 'bulletin'  -- a bulletin is SMS only
           ON CONFLICT DO NOTHING RETURNING id""",
        failed["id"],
        channel,
    )


async def retry_later(conn: asyncpg.Connection, delivery_id: int, delay_s: float) -> bool:
    """One more attempt after a transient delivery failure (the attempt number changes,
    so late callbacks of the old attempt are ignored)."""
    result = await conn.execute(
        """UPDATE deliveries SET state = 'queued', not_before = now() + make_interval(secs => $2),
               provider_sid = NULL, updated_at = now()
           WHERE id = $1 AND attempts < 2 AND expires_at > now() + make_interval(secs => $2)""",
        delivery_id,
        delay_s,
    )
    return result.endswith(" 1")


async def stop_resident(conn: asyncpg.Connection, resident_id: int) -> None:
    await conn.execute(
        "UPDATE residents SET status = 'stopped', stopped_at = now() WHERE id = $1", resident_id
    )


# ------------------------------------------------------------------ rate limiter


async def ensure_bucket(conn: asyncpg.Connection, name: str, capacity: float) -> None:
    await conn.execute(
        "INSERT INTO rate_buckets (name, tokens) VALUES ($1, $2) ON CONFLICT DO NOTHING", name, capacity
    )


async def take_tokens(
    conn: asyncpg.Connection, name: str, want: int, rate: float, capacity: float
) -> tuple[int, float]:
    """Take up to ``want`` whole tokens; returns (granted, tokens left)."""
    row = await conn.fetchrow(
        """
        WITH b AS (SELECT tokens, updated_at, clock_timestamp() AS now FROM rate_buckets WHERE name = $1 FOR UPDATE),
        c AS (SELECT least($4::float8, tokens + extract(epoch FROM now - updated_at)::float8 * $3::float8) AS avail,
                     now FROM b)
        UPDATE rate_buckets r SET tokens = c.avail - least($2::int, floor(c.avail))::int, updated_at = c.now
        FROM c WHERE r.name = $1
        RETURNING least($2::int, floor(c.avail))::int AS granted, c.avail - least($2::int, floor(c.avail)) AS left
        """,
        name,
        want,
        rate,
        capacity,
    )
    return row["granted"], row["left"]


async def take_sender_tokens(
    conn: asyncpg.Connection,
    account: tuple[str, float, float],
    sender: tuple[str, float, float],
    want: int,
) -> tuple[int, float]:
    """Take up to ``want`` whole tokens from an account bucket and a sender's bucket
    together, in one statement: as many as both have, so neither limit is ever
    exceeded. ``account`` and ``sender`` are (bucket name, rate, capacity); the rows are
    locked in name order (the account's name is a prefix of its senders'), as
    :func:`take_tokens` locks the account alone, so takers never deadlock. Returns
    (granted, seconds until both have a whole token again)."""
    rows = await conn.fetch(
        """
        WITH p AS (SELECT * FROM (VALUES ($1::text, $2::float8, $3::float8), ($4::text, $5::float8, $6::float8))
                   AS p(name, rate, capacity)),
        b AS (SELECT r.name, r.tokens, r.updated_at, clock_timestamp() AS now FROM rate_buckets r
              WHERE r.name IN ($1, $4) ORDER BY r.name FOR UPDATE),
        c AS (SELECT b.name, p.rate, b.now,
                     least(p.capacity, b.tokens + extract(epoch FROM b.now - b.updated_at)::float8 * p.rate) AS avail
              FROM b JOIN p USING (name)),
        g AS (SELECT least($7::int, floor(min(avail)))::int AS granted, count(*) AS found FROM c)
        UPDATE rate_buckets r SET tokens = c.avail - g.granted, updated_at = c.now
        FROM c, g WHERE r.name = c.name AND g.found = 2
        RETURNING g.granted, greatest(0, (1 - (c.avail - g.granted)) / c.rate) AS wait
        """,
        *account,
        *sender,
        want,
    )
    # one row per bucket; both carry the grant; the wait is the longer of the two
    if len(rows) != 2:
        raise LookupError(f"rate buckets {account[0]!r} and {sender[0]!r} must exist")
    return rows[0]["granted"], max(r["wait"] for r in rows)


async def take_pool_tokens(
    conn: asyncpg.Connection,
    account: tuple[str, float, float],
    senders: Sequence[str],
    sender_rate: float,
    sender_capacity: float,
    want: int,
) -> tuple[str, int, float]:
    """Take up to ``want`` tokens from the account's bucket and from the bucket (of
    ``senders``) that has the most now, in one statement (rows locked in name order, as
    :func:`take_sender_tokens` does). Returns (that bucket's name, granted, seconds
    until a token is there again when none was granted)."""
    rows = await conn.fetch(
        """
        WITH b AS (SELECT r.name, r.tokens, r.updated_at, clock_timestamp() AS now FROM rate_buckets r
                   WHERE r.name = $1 OR r.name = ANY($4::text[]) ORDER BY r.name FOR UPDATE),
        c AS (SELECT b.name, b.now, CASE WHEN b.name = $1 THEN $2::float8 ELSE $5::float8 END AS rate,
                     least(CASE WHEN b.name = $1 THEN $3::float8 ELSE $6::float8 END,
                           b.tokens + extract(epoch FROM b.now - b.updated_at)::float8
                                      * CASE WHEN b.name = $1 THEN $2::float8 ELSE $5::float8 END) AS avail
              FROM b),
        s AS (SELECT name, avail FROM c WHERE name <> $1 ORDER BY avail DESC, random() LIMIT 1),
        g AS (SELECT s.name AS sender, least($7::int, floor(least(a.avail, s.avail)))::int AS granted
              FROM s, c a WHERE a.name = $1)
        UPDATE rate_buckets r SET tokens = c.avail - g.granted, updated_at = c.now
        FROM c, g WHERE r.name = c.name AND (c.name = $1 OR c.name = g.sender)
        RETURNING g.sender, g.granted, greatest(0, (1 - (c.avail - g.granted)) / c.rate) AS wait
        """,
        *account,
        list(senders),
        sender_rate,
        sender_capacity,
        want,
    )
    if len(rows) != 2:
        raise LookupError(f"rate bucket {account[0]!r} and its senders' must exist")
    return rows[0]["sender"], rows[0]["granted"], max(r["wait"] for r in rows)


async def recipient_languages(conn: asyncpg.Connection, query: RecipientQuery) -> dict[str, int]:
    """Residents who will be reached (now or after quiet hours), per language (issue 19)."""
    rows = await conn.fetch(
        f"""SELECT r.language, count(*) AS n FROM residents r
            WHERE r.id IN (SELECT resident_id FROM ({query.sql()}) x
                           WHERE disposition IN ('now', 'quiet_defer'))
            GROUP BY r.language""",
        *query.args(),
    )
    return {r["language"]: r["n"] for r in rows}


# ------------------------------------------------------------------ calls in progress

CALL_SLOTS_LOCK = 0x42_57_43_53  # "BWCS": serialises taking call slots (count, then insert)


async def take_call_slot(
    conn: asyncpg.Connection, delivery_id: int, attempt: int, maximum: int, hold_seconds: float
) -> tuple[bool, int]:
    """A place among the calls in progress for ``delivery_id`` (its ``attempt``), while
    fewer than ``maximum`` are; the row lapses after ``hold_seconds`` unless its final
    status callback removes it first. A delivery that holds a place already keeps it (a
    send retried after an unknown outcome). Returns (taken, calls in progress before)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", CALL_SLOTS_LOCK)
        await conn.execute("DELETE FROM call_slots WHERE expires_at <= clock_timestamp()")
        row = await conn.fetchrow(
            """
            WITH n AS (SELECT count(*) AS busy, bool_or(delivery_id = $1) AS mine FROM call_slots),
            ins AS (
                INSERT INTO call_slots (delivery_id, attempt, expires_at)
                SELECT $1, $2, clock_timestamp() + make_interval(secs => $4) FROM n
                WHERE coalesce(n.mine, false) OR n.busy < $3
                ON CONFLICT (delivery_id) DO UPDATE
                    SET attempt = EXCLUDED.attempt, taken_at = clock_timestamp(), expires_at = EXCLUDED.expires_at
                RETURNING 1
            )
            SELECT EXISTS (SELECT 1 FROM ins) AS taken, n.busy FROM n
            """,
            delivery_id,
            attempt,
            maximum,
            hold_seconds,
        )
    return row["taken"], row["busy"]


async def release_call_slot(conn: asyncpg.Connection, delivery_id: int, attempt: int | None = None) -> bool:
    """The call of ``delivery_id`` (of ``attempt`` or an earlier one) has ended, or was
    never made: its place is free."""
    result = await conn.execute(
        "DELETE FROM call_slots WHERE delivery_id = $1 AND ($2::int IS NULL OR attempt <= $2)",
        delivery_id,
        attempt,
    )
    return result.endswith(" 1")


async def calls_in_progress(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM call_slots WHERE expires_at > clock_timestamp()")


async def alert_status(conn: asyncpg.Connection, alert_id: int) -> str | None:
    return await conn.fetchval("SELECT status FROM alerts WHERE id = $1", alert_id)
