"""SQL for the audit log. Appends go through the ``audit_append`` database function,
which serialises writers and chains each row to the previous one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg


async def append(
    conn: asyncpg.Connection | asyncpg.Pool,
    actor: str,
    action: str,
    object_type: str | None = None,
    object_id: Any = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one entry. Call inside the transaction of the action it records."""
    return await conn.fetchval(
        "SELECT audit_append($1, $2, $3, $4, $5)",
        actor,
        action,
        object_type,
        None if object_id is None else str(object_id),
        details or {},
    )


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    problems: list[str]


_VERIFY = """
SELECT id, prev_hash, hash,
       lag(hash) OVER (ORDER BY id) AS expected_prev,
       audit_hash(prev_hash, at, actor, action, object_type, object_id, details) AS expected_hash
FROM audit_log ORDER BY id
"""


async def verify(conn: asyncpg.Connection, limit_problems: int = 20) -> VerifyResult:
    """Recompute every row's hash and check each links to its predecessor."""
    problems: list[str] = []
    checked = 0
    genesis = "0" * 64
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(_VERIFY, prefetch=2000):
            checked += 1
            expected_prev = row["expected_prev"] or genesis
            if row["hash"] != row["expected_hash"]:
                problems.append(f"row {row['id']}: content does not match its hash (edited)")
            if row["prev_hash"] != expected_prev:
                problems.append(
                    f"row {row['id']}: does not follow the row before it (a row was deleted or inserted)"
                )
            if len(problems) >= limit_problems:
                break
    return VerifyResult(not problems, checked, problems)


async def recent(conn: asyncpg.Connection, *, object_type: str | None = None, limit: int = 100):
    return await conn.fetch(
        "SELECT id, at, actor, action, object_type, object_id, details FROM audit_log "
        "WHERE ($1::text IS NULL OR object_type = $1) ORDER BY id DESC LIMIT $2",
        object_type,
        limit,
    )
