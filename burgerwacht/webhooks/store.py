"""SQL for inbound webhook idempotency (by the provider's MessageSid/RecordingSid)."""

from __future__ import annotations

import asyncpg


async def claim_inbound(conn: asyncpg.Connection, sid: str, kind: str) -> bool:
    """True when this provider id is new. Waits for a concurrent duplicate to commit."""
    return (
        await conn.fetchval(
            "INSERT INTO inbound_messages (sid, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
            sid,
            kind,
        )
        is True
    )


async def inbound_reply(conn: asyncpg.Connection, sid: str) -> str | None:
    return await conn.fetchval("SELECT reply FROM inbound_messages WHERE sid = $1", sid)


async def save_inbound_reply(conn: asyncpg.Connection, sid: str, kind: str, reply: str | None) -> None:
    await conn.execute("UPDATE inbound_messages SET kind = $2, reply = $3 WHERE sid = $1", sid, kind, reply)
