"""SQL for residents, their addresses, enrolments and code-request limits."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from burgerwacht.residents.address import AddressQuery

log = logging.getLogger(__name__)

ENROL_LOCK = 0x454E524C  # "ENRL": serialises code issuance so limits are exact


async def find_address(
    conn: asyncpg.Connection, postcode: str, number: int, letter: str | None, addition: str | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, postcode, house_number, house_letter, addition, buurt_code, wijk_code, municipality_code "
        "FROM addresses WHERE postcode = $1 AND house_number = $2 AND house_letter = $3 AND addition = $4",
        postcode,
        number,
        (letter or "").upper(),
        (addition or "").upper(),
    )


async def lock_code_issuance(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", ENROL_LOCK)


async def code_request_counts(conn: asyncpg.Connection, phone: str, ip: str) -> asyncpg.Record:
    """Requests in the last hour per number, client network, and numbers sharing all
    but the last 4 (``prefix``) or 6 (``wide``) digits; requests on the daily budget
    in the last day and hour. Each with its oldest timestamp (for Retry-After)."""
    return await conn.fetchrow(
        """
        WITH day AS (
            SELECT *, at > now() - interval '1 hour' AS recent
            FROM code_requests WHERE at > now() - interval '1 day'
        )
        SELECT count(*) FILTER (WHERE recent AND phone = $1) AS phone_n,
               min(at) FILTER (WHERE recent AND phone = $1) AS phone_oldest,
               count(*) FILTER (WHERE recent AND ip = $2) AS ip_n,
               min(at) FILTER (WHERE recent AND ip = $2) AS ip_oldest,
               count(*) FILTER (WHERE recent AND left(phone, -4) = left($1, -4)) AS prefix_n,
               min(at) FILTER (WHERE recent AND left(phone, -4) = left($1, -4)) AS prefix_oldest,
               count(*) FILTER (WHERE recent AND left(phone, -6) = left($1, -6)) AS wide_n,
               min(at) FILTER (WHERE recent AND left(phone, -6) = left($1, -6)) AS wide_oldest,
               count(*) FILTER (WHERE budget) AS day_n, min(at) FILTER (WHERE budget) AS day_oldest,
               count(*) FILTER (WHERE budget AND recent) AS budget_hour_n, now() AS now
        FROM day
        """,
        phone,
        ip,
    )


async def record_code_request(conn: asyncpg.Connection, phone: str, ip: str, *, budget: bool) -> None:
    """``ip`` is the client's network; ``budget`` False for an active resident's number."""
    await conn.execute(
        "INSERT INTO code_requests (phone, ip, prefix, budget) VALUES ($1, $2, $3, $4)",
        phone,
        ip,
        phone[:-4],
        budget,
    )


async def create_enrolment(conn: asyncpg.Connection, **f: Any) -> asyncpg.Record:
    return await conn.fetchrow(
        """
        INSERT INTO enrolments (phone, phone_kind, address_id, label, channels, quiet_start, quiet_end,
                                language, code_hash, expires_at, slow_speech, repeat_message, sms_only)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(mins => $10), $11, $12, $13)
        RETURNING id, expires_at
        """,
        f["phone"],
        f["phone_kind"],
        f["address_id"],
        f["label"],
        f["channels"],
        f["quiet_start"],
        f["quiet_end"],
        f["language"],
        f["code_hash"],
        f["ttl_minutes"],
        f.get("slow_speech", False),
        f.get("repeat_message", False),
        f.get("sms_only", False),
    )


async def delete_enrolment(conn: asyncpg.Connection, enrolment_id: UUID) -> None:
    await conn.execute("DELETE FROM enrolments WHERE id = $1", enrolment_id)


async def enrolment_for_update(conn: asyncpg.Connection, enrolment_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT *, expires_at < now() AS expired FROM enrolments WHERE id = $1 FOR UPDATE", enrolment_id
    )


async def count_failed_attempt(conn: asyncpg.Connection, enrolment_id: UUID) -> int:
    return await conn.fetchval(
        "UPDATE enrolments SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts", enrolment_id
    )


async def mark_verified(conn: asyncpg.Connection, enrolment_id: UUID, resident_id: int) -> None:
    await conn.execute(
        "UPDATE enrolments SET verified_at = now(), resident_id = $2 WHERE id = $1", enrolment_id, resident_id
    )


async def upsert_active_resident(conn: asyncpg.Connection, phone: str, kind: str, language: str) -> int:
    """Create the resident or re-activate it (a new enrolment is fresh consent)."""
    return await conn.fetchval(
        """
        INSERT INTO residents (phone, phone_kind, status, language) VALUES ($1, $2, 'active', $3)
        ON CONFLICT (phone) DO UPDATE SET status = 'active', stopped_at = NULL, language = EXCLUDED.language
        RETURNING id
        """,
        phone,
        kind,
        language,
    )


async def sms_enrol(
    conn: asyncpg.Connection, phone: str, phone_kind: str, q: AddressQuery, *, max_addresses: int
) -> asyncpg.Record:
    """AANMELDEN by SMS in one call (functions/enrolments.sql): outcome (enrolled,
    address_unknown, already_enrolled, too_many_addresses), the resident's language and
    the address found."""
    return await conn.fetchrow(
        "SELECT * FROM sms_enrol($1, $2, $3, $4, $5, $6, $7)",
        phone,
        phone_kind,
        q.postcode,
        q.house_number,
        q.house_letter,
        q.addition,
        max_addresses,
    )


class SmsEnrolment(NamedTuple):
    """One AANMELDEN <adres> webhook for :func:`sms_enrol_inbound`: its MessageSid and
    keyword kind, the number and its kind, the address asked for, the maximum of
    addresses and the replies ({language: {outcome: text}})."""

    sid: str
    kind: str
    phone: str
    phone_kind: str
    q: AddressQuery
    max_addresses: int
    replies: dict[str, dict[str, str]]


async def sms_enrol_inbound(pool: asyncpg.Pool, e: SmsEnrolment) -> str | None:
    """The webhook's claim, :func:`sms_enrol` and the remembered reply as one statement
    (functions/enrolments.sql): the reply, or a duplicate's remembered one."""
    return await pool.fetchval(
        "SELECT sms_enrol_inbound($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)",
        e.sid,
        e.kind,
        e.phone,
        e.phone_kind,
        e.q.postcode,
        e.q.house_number,
        e.q.house_letter,
        e.q.addition,
        e.max_addresses,
        e.replies,  # the pool's jsonb codec encodes it
    )


async def sms_enrol_inbound_batch(pool: asyncpg.Pool, items: list[SmsEnrolment]) -> list[str | None]:
    """Several in one statement and one transaction, replies in the order given. They go
    in ordered by number, so concurrent batches lock residents in one order."""
    order = sorted(range(len(items)), key=lambda i: items[i].phone)
    es = [items[i] for i in order]
    rows = await pool.fetch(
        "SELECT idx, answer FROM sms_enrol_inbound_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)",
        [e.sid for e in es],
        [e.kind for e in es],
        [e.phone for e in es],
        [e.phone_kind for e in es],
        [e.q.postcode for e in es],
        [e.q.house_number for e in es],
        [e.q.house_letter for e in es],
        [e.q.addition for e in es],
        es[0].max_addresses,
        [e.replies for e in es],
    )
    if len(rows) != len(items):
        raise RuntimeError("sms_enrol_inbound_batch returned fewer rows than enrolments")
    results: list[str | None] = [None] * len(items)
    for row in rows:
        results[order[row["idx"] - 1]] = row["answer"]
    return results


async def resident_by_phone(
    conn: asyncpg.Connection, phone: str, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM residents WHERE phone = $1" + (" FOR UPDATE" if lock else ""), phone
    )


async def resident_by_id(conn: asyncpg.Connection, resident_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT *, coalesce(paused_until > now(), false) AS pause_running FROM residents WHERE id = $1",
        resident_id,
    )


async def set_exercise(conn: asyncpg.Connection, resident_id: int, exercise: bool) -> None:
    await conn.execute("UPDATE residents SET exercise = $2 WHERE id = $1", resident_id, exercise)


async def address_ids(conn: asyncpg.Connection, resident_id: int) -> list[int]:
    """The resident's addresses that count towards the maximum: visits only while they last."""
    rows = await conn.fetch(
        "SELECT address_id FROM resident_addresses WHERE resident_id = $1 "
        "AND (visit_until IS NULL OR visit_until > now())",
        resident_id,
    )
    return [r[0] for r in rows]


async def upsert_resident_address(
    conn: asyncpg.Connection,
    resident_id: int,
    address_id: int,
    label: str,
    channels: list[str],
    quiet_start: time | None,
    quiet_end: time | None,
) -> bool:
    """Add the address (or update its settings); True when it is new."""
    return await conn.fetchval(
        """
        INSERT INTO resident_addresses (resident_id, address_id, label, channels, quiet_start, quiet_end)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (resident_id, address_id) DO UPDATE
            SET label = EXCLUDED.label, channels = EXCLUDED.channels,
                quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end
        RETURNING (xmax = 0)
        """,
        resident_id,
        address_id,
        label,
        channels,
        quiet_start,
        quiet_end,
    )


async def set_status(conn: asyncpg.Connection, resident_id: int, status: str) -> None:
    await conn.execute(
        "UPDATE residents SET status = $2, stopped_at = CASE WHEN $2 = 'stopped' THEN now() END WHERE id = $1",
        resident_id,
        status,
    )


async def resident_addresses(conn: asyncpg.Connection, resident_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT ra.id AS enrolment_id, ra.address_id, ra.label, ra.channels, ra.quiet_start, ra.quiet_end,
               ra.created_at, ra.visit_until, ra.time_windows,
               a.postcode, a.house_number, a.house_letter, a.addition, a.buurt_code, a.wijk_code,
               a.municipality_code
        FROM resident_addresses ra JOIN addresses a ON a.id = ra.address_id
        WHERE ra.resident_id = $1 AND (ra.visit_until IS NULL OR ra.visit_until > now()) ORDER BY ra.id
        """,
        resident_id,
    )


# Every table that may hold this resident's phone number or a link to them. Later
# domains add their own erasure statements to ERASURE_HOOKS (see service.erase).
async def erase(conn: asyncpg.Connection, resident_id: int, phone: str) -> None:
    await conn.execute("DELETE FROM code_requests WHERE phone = $1", phone)
    await conn.execute("DELETE FROM enrolments WHERE phone = $1 OR resident_id = $2", phone, resident_id)
    await conn.execute("DELETE FROM residents WHERE id = $1", resident_id)
    await bump_counter(conn, "residents_erased")


async def bump_counter(conn: asyncpg.Connection, name: str, by: int = 1) -> None:
    """Add to an anonymous counter (read: the view ``stats_counters``), in this server
    process's shard: concurrent transactions do not queue on one row (sql/0030)."""
    await conn.execute(
        "INSERT INTO stats_counter_shards (name, shard, value) VALUES ($1, pg_backend_pid() % 1024, $2) "
        "ON CONFLICT (name, shard) DO UPDATE SET value = stats_counter_shards.value + EXCLUDED.value",
        name,
        by,
    )


async def enrolments_of(conn: asyncpg.Connection, phone: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, created_at, expires_at, verified_at, attempts, label, channels FROM enrolments "
        "WHERE phone = $1 ORDER BY created_at",
        phone,
    )


async def code_requests_of(conn: asyncpg.Connection, phone: str) -> list[datetime]:
    return [
        r[0] for r in await conn.fetch("SELECT at FROM code_requests WHERE phone = $1 ORDER BY at", phone)
    ]


async def purge(conn: asyncpg.Connection, *, deliveries_days: int) -> dict[str, int]:
    """Code requests after a day (the limits look back at most a day), enrolments a week
    after they expired or were used, webhook replies after a week, deliveries after
    ``deliveries_days`` (they hold no number; only the counts go)."""
    codes = await conn.execute("DELETE FROM code_requests WHERE at < now() - interval '1 day'")
    enrolments = await conn.execute(
        "DELETE FROM enrolments WHERE coalesce(verified_at, expires_at) < now() - interval '7 days'"
    )
    replies = await conn.execute(
        "UPDATE inbound_messages SET reply = NULL WHERE reply IS NOT NULL AND received_at < now() - interval '7 days'"
    )
    dropped, dropped_rows = await drop_old_delivery_partitions(conn, deliveries_days)
    deliveries = await conn.execute(
        "DELETE FROM deliveries WHERE created_at < now() - make_interval(days => $1)", deliveries_days
    )
    visits = await purge_visits(conn)
    # the fatigue budget's entries older than its 24 hours (functions/deliveries.sql),
    # then rows left empty or of nobody
    await conn.execute(
        """UPDATE resident_fatigue f SET (alerts, times) = (
               SELECT coalesce(array_agg(u.alert_id ORDER BY u.i), '{}'), coalesce(array_agg(u.at ORDER BY u.i), '{}')
               FROM unnest(f.alerts, f.times) WITH ORDINALITY AS u (alert_id, at, i)
               WHERE u.at > now() - interval '24 hours')
           WHERE f.times[cardinality(f.times)] <= now() - interval '24 hours'"""
    )
    await conn.execute(
        """DELETE FROM resident_fatigue f WHERE cardinality(f.alerts) = 0
              OR NOT EXISTS (SELECT 1 FROM residents r WHERE r.id = f.resident_id)"""
    )
    # a resident erased while an alert to them was being materialised (sql/0008): their
    # delivery of those last days keeps an id of nobody; clear it as erasure would have
    await conn.execute(
        """UPDATE deliveries d SET resident_id = NULL
           WHERE d.created_at > now() - interval '3 days' AND d.resident_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM residents r WHERE r.id = d.resident_id)"""
    )
    return {
        name: int(result.split()[-1])
        for name, result in (
            ("code_requests", codes),
            ("enrolments", enrolments),
            ("replies", replies),
            ("deliveries", deliveries),
        )
    } | {
        "visits": visits,
        "deliveries": int(deliveries.split()[-1]) + dropped_rows,
        "delivery_partitions_dropped": dropped,
    }


_UPPER_BOUND = re.compile(r"TO \('(\d{4}-\d{2}-\d{2})'\)")


async def drop_old_delivery_partitions(conn: asyncpg.Connection, deliveries_days: int) -> tuple[int, int]:
    """Retention by partition (sql/0032): a month partition of deliveries whose every row
    is older than ``deliveries_days`` goes whole (DROP TABLE: no dead rows, no vacuum),
    which is what the DELETE would have done to it. Only partitions whose upper bound is
    before the cut-off are candidates (an alert's deliveries are made from its month on:
    mostly within it, up to alerts.max_expires_minutes past its end, later for a draft
    sent late or a closing message of an old alert); each is then locked against
    writes and checked for a row at or after the cut-off (the BRIN index on created_at),
    so a late row keeps it and the DELETE takes the rest. The default partition is never
    dropped. A partition busy past ``lock_timeout`` is left for the next run. Returns
    (partitions dropped, rows they held)."""
    rows = await conn.fetch(
        """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'deliveries'::regclass ORDER BY 1"""
    )
    cutoff = await conn.fetchval("SELECT (now() - make_interval(days => $1))::date", deliveries_days)
    dropped = held = 0
    for r in rows:
        m = _UPPER_BOUND.search(r["bound"] or "")
        if m is None or date.fromisoformat(m.group(1)) > cutoff:
            continue
        name = '"' + r["relname"].replace('"', '""') + '"'
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL lock_timeout = '2s'")
                await conn.execute(f"LOCK TABLE {name} IN EXCLUSIVE MODE")  # reads go on, writes wait
                late = await conn.fetchval(
                    f"SELECT EXISTS (SELECT 1 FROM {name} WHERE created_at >= now() - make_interval(days => $1))",
                    deliveries_days,
                )
                if late:
                    continue
                n = await conn.fetchval(f"SELECT count(*) FROM {name}")
                await conn.execute(f"DROP TABLE {name}")
        except asyncpg.LockNotAvailableError:
            log.info("deliveries partition %s busy: left for the next retention run", r["relname"])
            continue
        dropped += 1
        held += n
    return dropped, held


async def municipalities_of(conn: asyncpg.Connection, resident_id: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT a.municipality_code FROM resident_addresses ra JOIN addresses a ON a.id = ra.address_id "
        "WHERE ra.resident_id = $1 AND a.municipality_code IS NOT NULL",
        resident_id,
    )
    return [r[0] for r in rows]


async def set_code_cipher(conn: asyncpg.Connection, enrolment_id: UUID, cipher: bytes | None) -> None:
    """The code kept (encrypted) for a verification call, or forgotten once it is used."""
    await conn.execute("UPDATE enrolments SET code_cipher = $2 WHERE id = $1", enrolment_id, cipher)


async def pending_code(conn: asyncpg.Connection, enrolment_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT code_cipher, language FROM enrolments WHERE id = $1 AND verified_at IS NULL "
        "AND expires_at > now()",
        enrolment_id,
    )


async def erase_unenrolled(conn: asyncpg.Connection, phone: str) -> None:
    """A number with no resident may still have pending codes and request logs."""
    await conn.execute("DELETE FROM code_requests WHERE phone = $1", phone)
    await conn.execute("DELETE FROM enrolments WHERE phone = $1", phone)


# ------------------------------------------------------------------ self-service (issue 19)


async def set_channels(conn: asyncpg.Connection, resident_id: int, channels: list[str]) -> None:
    await conn.execute(
        "UPDATE resident_addresses SET channels = $2 WHERE resident_id = $1", resident_id, channels
    )


async def set_language(conn: asyncpg.Connection, resident_id: int, language: str) -> None:
    await conn.execute("UPDATE residents SET language = $2 WHERE id = $1", resident_id, language)


async def set_sms_only(conn: asyncpg.Connection, resident_id: int, sms_only: bool) -> None:
    await conn.execute("UPDATE residents SET sms_only = $2 WHERE id = $1", resident_id, sms_only)


async def set_pause(
    conn: asyncpg.Connection, resident_id: int, days: int | None, pause_all: bool
) -> datetime | None:
    """Pause for ``days`` from now (None: end the pause); returns the end."""
    return await conn.fetchval(
        """UPDATE residents SET paused_until = CASE WHEN $2::int IS NULL THEN NULL
                                                  ELSE now() + make_interval(days => $2::int) END,
                                pause_all = ($2::int IS NOT NULL AND $3)
           WHERE id = $1 RETURNING paused_until""",
        resident_id,
        days,
        pause_all,
    )


async def set_bulletins(conn: asyncpg.Connection, resident_id: int, on: bool) -> None:
    await conn.execute("UPDATE residents SET bulletins_opt_in = $2 WHERE id = $1", resident_id, on)


async def set_pending_move(
    conn: asyncpg.Connection, resident_id: int, address_id: int | None, from_id: int | None, minutes: int
) -> None:
    await conn.execute(
        """UPDATE residents SET move_address_id = $2, move_from_id = $3,
               move_expires_at = CASE WHEN $2::bigint IS NULL THEN NULL ELSE now() + make_interval(mins => $4) END
           WHERE id = $1""",
        resident_id,
        address_id,
        from_id,
        minutes,
    )


async def pending_move(conn: asyncpg.Connection, resident_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT r.move_address_id, r.move_from_id, r.move_expires_at <= now() AS expired
           FROM residents r WHERE r.id = $1 AND r.move_address_id IS NOT NULL""",
        resident_id,
    )


async def move_enrolment(
    conn: asyncpg.Connection, enrolment_id: int, resident_id: int, address_id: int
) -> bool:
    """The enrolment now points at the new address (the fill trigger re-places it)."""
    result = await conn.execute(
        "UPDATE resident_addresses SET address_id = $3 WHERE id = $1 AND resident_id = $2",
        enrolment_id,
        resident_id,
        address_id,
    )
    return result.endswith(" 1")


async def delete_enrolment_row(conn: asyncpg.Connection, enrolment_id: int, resident_id: int) -> bool:
    result = await conn.execute(
        "DELETE FROM resident_addresses WHERE id = $1 AND resident_id = $2", enrolment_id, resident_id
    )
    return result.endswith(" 1")


async def first_address_of_postcode(conn: asyncpg.Connection, postcode: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, postcode, house_number, house_letter, addition, buurt_code, wijk_code, municipality_code "
        "FROM addresses WHERE postcode = $1 ORDER BY house_number, house_letter, addition LIMIT 1",
        postcode,
    )


async def enrolment_row(conn: asyncpg.Connection, resident_id: int, address_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, visit_until, visit_until IS NOT NULL AND visit_until <= now() AS visit_over "
        "FROM resident_addresses WHERE resident_id = $1 AND address_id = $2",
        resident_id,
        address_id,
    )


async def upsert_visit(
    conn: asyncpg.Connection, resident_id: int, address_id: int, channels: list[str], hours: int
) -> datetime:
    """A visit of ``hours`` from now (a repeated or expired one is renewed)."""
    return await conn.fetchval(
        """INSERT INTO resident_addresses (resident_id, address_id, label, channels, visit_until)
           VALUES ($1, $2, 'bezoek', $3, now() + make_interval(hours => $4))
           ON CONFLICT (resident_id, address_id) DO UPDATE
               SET visit_until = EXCLUDED.visit_until, channels = EXCLUDED.channels
               WHERE resident_addresses.visit_until IS NOT NULL
           RETURNING visit_until""",
        resident_id,
        address_id,
        channels,
        hours,
    )


async def resident_channels(conn: asyncpg.Connection, resident_id: int) -> list[str]:
    """The channels of the resident's first lasting enrolment (for a visit)."""
    row = await conn.fetchval(
        "SELECT channels FROM resident_addresses WHERE resident_id = $1 AND visit_until IS NULL ORDER BY id LIMIT 1",
        resident_id,
    )
    return list(row) if row else ["sms"]


async def update_enrolment_settings(
    conn: asyncpg.Connection,
    resident_id: int,
    enrolment_id: int,
    *,
    label: str,
    channels: list[str],
    quiet_start: time | None,
    quiet_end: time | None,
    time_windows: list[dict[str, Any]] | None,
) -> bool:
    result = await conn.execute(
        """UPDATE resident_addresses SET label = $3, channels = $4, quiet_start = $5, quiet_end = $6,
               time_windows = $7::jsonb
           WHERE id = $2 AND resident_id = $1""",
        resident_id,
        enrolment_id,
        label,
        channels,
        quiet_start,
        quiet_end,
        time_windows,
    )
    return result.endswith(" 1")


async def set_accessibility(
    conn: asyncpg.Connection,
    resident_id: int,
    slow_speech: bool,
    repeat_message: bool,
    sms_only: bool,
    *,
    add: bool = False,
) -> None:
    """Set the three (``add``: only switch on what is asked, as a new enrolment does)."""
    await conn.execute(
        "UPDATE residents SET slow_speech = $2 OR ($5 AND slow_speech), repeat_message = $3 OR ($5 AND repeat_message), "
        "sms_only = $4 OR ($5 AND sms_only) WHERE id = $1",
        resident_id,
        slow_speech,
        repeat_message,
        sms_only,
        add,
    )


async def purge_visits(conn: asyncpg.Connection) -> int:
    """Visits that ended (they are no longer targeted; the row goes a day later)."""
    result = await conn.execute(
        "DELETE FROM resident_addresses WHERE visit_until IS NOT NULL AND visit_until < now() - interval '1 day'"
    )
    return int(result.split()[-1])


async def set_pause_all(conn: asyncpg.Connection, resident_id: int, pause_all: bool) -> None:
    """Change what a running pause holds back (nothing when there is no pause)."""
    await conn.execute(
        "UPDATE residents SET pause_all = $2 WHERE id = $1 AND paused_until > now()", resident_id, pause_all
    )


async def make_delivery_partitions(conn: asyncpg.Connection, *, months_ahead: int) -> int:
    """Make the month partitions of deliveries missing from this month to ``months_ahead``
    on (functions/deliveries.sql); waits at most ``lock_timeout`` for the table (a busy
    one is tried again the next day: two months ahead leave room)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '5s'")
        return await conn.fetchval("SELECT deliveries_partitions_ahead($1)", months_ahead)
