"""SQL for /mijn logins (a code by SMS) and sessions; only hashes are stored."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def create_login(
    conn: asyncpg.Connection, phone: str, code_hash: bytes, ttl_minutes: int
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO mijn_logins (phone, code_hash, expires_at) VALUES ($1, $2, now() + make_interval(mins => $3)) "
        "RETURNING id, expires_at",
        phone,
        code_hash,
        ttl_minutes,
    )


async def delete_login(conn: asyncpg.Connection, login_id: UUID) -> None:
    await conn.execute("DELETE FROM mijn_logins WHERE id = $1", login_id)


async def login_for_update(conn: asyncpg.Connection, login_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT *, expires_at <= now() AS expired FROM mijn_logins WHERE id = $1 FOR UPDATE", login_id
    )


async def count_failed(conn: asyncpg.Connection, login_id: UUID) -> int:
    return await conn.fetchval(
        "UPDATE mijn_logins SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts", login_id
    )


async def mark_used(conn: asyncpg.Connection, login_id: UUID) -> None:
    await conn.execute("UPDATE mijn_logins SET used_at = now() WHERE id = $1", login_id)


async def create_session(
    conn: asyncpg.Connection, token_hash: bytes, resident_id: int, minutes: int
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO mijn_sessions (token_hash, resident_id, expires_at) "
        "VALUES ($1, $2, now() + make_interval(mins => $3)) RETURNING expires_at",
        token_hash,
        resident_id,
        minutes,
    )


async def session(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    """The live session's resident (and phone), None when unknown or over."""
    return await conn.fetchrow(
        "SELECT s.resident_id, s.expires_at, r.phone FROM mijn_sessions s JOIN residents r ON r.id = s.resident_id "
        "WHERE s.token_hash = $1 AND s.expires_at > now()",
        token_hash,
    )


async def end_session(conn: asyncpg.Connection, token_hash: bytes) -> None:
    await conn.execute("DELETE FROM mijn_sessions WHERE token_hash = $1", token_hash)


async def logins_of(conn: asyncpg.Connection, phone: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT created_at, expires_at, used_at, attempts FROM mijn_logins WHERE phone = $1 ORDER BY created_at",
        phone,
    )


async def erase(conn: asyncpg.Connection, resident_id: int, phone: str) -> None:
    await conn.execute("DELETE FROM mijn_logins WHERE phone = $1", phone)
    await conn.execute("DELETE FROM mijn_sessions WHERE resident_id = $1", resident_id)


async def purge(conn: asyncpg.Connection) -> dict[str, int]:
    """Sessions once over, login codes a day after they expired."""
    sessions = await conn.execute("DELETE FROM mijn_sessions WHERE expires_at < now()")
    logins = await conn.execute("DELETE FROM mijn_logins WHERE expires_at < now() - interval '1 day'")
    return {"sessions": int(sessions.split()[-1]), "logins": int(logins.split()[-1])}
