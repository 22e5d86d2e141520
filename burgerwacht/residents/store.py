"""SQL for residents, their addresses, enrolments and code-request limits."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from uuid import UUID

import asyncpg

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
                                language, code_hash, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(mins => $10))
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


async def resident_by_phone(
    conn: asyncpg.Connection, phone: str, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM residents WHERE phone = $1" + (" FOR UPDATE" if lock else ""), phone
    )


async def resident_by_id(conn: asyncpg.Connection, resident_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM residents WHERE id = $1", resident_id)


async def address_ids(conn: asyncpg.Connection, resident_id: int) -> list[int]:
    rows = await conn.fetch("SELECT address_id FROM resident_addresses WHERE resident_id = $1", resident_id)
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
        SELECT ra.label, ra.channels, ra.quiet_start, ra.quiet_end, ra.created_at,
               a.postcode, a.house_number, a.house_letter, a.addition, a.buurt_code, a.wijk_code,
               a.municipality_code
        FROM resident_addresses ra JOIN addresses a ON a.id = ra.address_id
        WHERE ra.resident_id = $1 ORDER BY ra.id
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
    await conn.execute(
        "INSERT INTO stats_counters (name, value) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET value = stats_counters.value + EXCLUDED.value",
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
    deliveries = await conn.execute(
        "DELETE FROM deliveries WHERE created_at < now() - make_interval(days => $1)", deliveries_days
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
    }


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
