"""SQL for staff users and tokens."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def create_user(
    conn: asyncpg.Connection, name: str, role: str, municipalities: list[str], wijken: list[str] | None = None
) -> int:
    return await conn.fetchval(
        "INSERT INTO staff_users (name, role, municipalities, wijken) VALUES ($1, $2, $3, $4) RETURNING id",
        name,
        role,
        municipalities,
        wijken or [],
    )


async def add_token(
    conn: asyncpg.Connection, user_id: int, token_hash: bytes, prefix: str, expires_at: datetime | None
) -> int:
    return await conn.fetchval(
        "INSERT INTO staff_tokens (user_id, token_hash, prefix, expires_at) VALUES ($1, $2, $3, $4) "
        "RETURNING id",
        user_id,
        token_hash,
        prefix,
        expires_at,
    )


async def user_for_token(conn: asyncpg.Connection | asyncpg.Pool, token_hash: bytes) -> asyncpg.Record | None:
    """The active user holding this (unrevoked, unexpired) token; touches last_used_at."""
    return await conn.fetchrow(
        """
        WITH hit AS (
            SELECT t.id AS token_id, u.id, u.name, u.role, u.municipalities, u.wijken
            FROM staff_tokens t JOIN staff_users u ON u.id = t.user_id
            WHERE t.token_hash = $1 AND t.revoked_at IS NULL
              AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.disabled_at IS NULL
        ), touch AS (
            -- at most one write a minute per token, not one per request
            UPDATE staff_tokens SET last_used_at = now()
            WHERE id = (SELECT token_id FROM hit)
              AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        )
        SELECT id, name, role, municipalities, wijken FROM hit
        """,
        token_hash,
    )


async def revoke_user_tokens(conn: asyncpg.Connection, user_id: int) -> int:
    result = await conn.execute(
        "UPDATE staff_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", user_id
    )
    return int(result.split()[-1])


async def revoke_token_prefix(conn: asyncpg.Connection, prefix: str) -> int:
    result = await conn.execute(
        "UPDATE staff_tokens SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL", prefix
    )
    return int(result.split()[-1])


async def disable_user(conn: asyncpg.Connection, user_id: int) -> bool:
    result = await conn.execute(
        "UPDATE staff_users SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL", user_id
    )
    return result.endswith(" 1")


USER_COLUMNS = "id, name, role, municipalities, wijken, created_at, disabled_at, control_room_number"


async def list_users(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {USER_COLUMNS} FROM staff_users ORDER BY id")


async def user(conn: asyncpg.Connection, user_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM staff_users WHERE id = $1", user_id)


async def set_control_room_number(conn: asyncpg.Connection, user_id: int, number: str | None) -> None:
    """The user's own control-room number (E.164) for the live line; None: none."""
    await conn.execute("UPDATE staff_users SET control_room_number = $2 WHERE id = $1", user_id, number)
