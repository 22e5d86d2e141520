"""PostgreSQL NOTIFY: a hint to listeners, sent when the surrounding transaction commits."""

from __future__ import annotations

import asyncpg


async def notify(conn: asyncpg.Connection | asyncpg.Pool, channel: str, payload: str) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
