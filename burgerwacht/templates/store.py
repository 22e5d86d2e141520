"""SQL for alert templates (table ``alert_templates``, migration 0023)."""

from __future__ import annotations

from typing import Any

import asyncpg

COLUMNS = (
    "id, name, municipality_code, level, title, message, voice_message, channels, expires_in_minutes, "
    "radius_m, created_by, created_at, updated_at"
)
#: The columns a create or change writes (besides the bookkeeping ones).
FIELDS = (
    "name",
    "municipality_code",
    "level",
    "title",
    "message",
    "voice_message",
    "channels",
    "expires_in_minutes",
    "radius_m",
)


class NameTaken(Exception):
    """Another template of the same municipality (or national) has this name."""


async def list_templates(conn: asyncpg.Connection, scope: list[str] | None) -> list[asyncpg.Record]:
    """Templates of the municipalities in ``scope`` and the national ones (``None``: all),
    national first, then by municipality and name."""
    return await conn.fetch(
        f"""SELECT {COLUMNS} FROM alert_templates
        WHERE $1::text[] IS NULL OR municipality_code IS NULL OR municipality_code = ANY ($1::text[])
        ORDER BY municipality_code NULLS FIRST, lower(name), id""",
        scope,
    )


async def template(
    conn: asyncpg.Connection, template_id: int, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM alert_templates WHERE id = $1" + (" FOR UPDATE" if lock else ""), template_id
    )


async def insert(
    conn: asyncpg.Connection, values: dict[str, Any], actor: str, *, if_missing: bool = False
) -> asyncpg.Record | None:
    """Store a template. A name taken in its municipality raises NameTaken, or with
    ``if_missing`` returns None (the starter set loads idempotently)."""
    row = await conn.fetchrow(
        f"""INSERT INTO alert_templates ({", ".join(FIELDS)}, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT ((coalesce(municipality_code, '')), lower(name)) DO NOTHING
        RETURNING {COLUMNS}""",
        *(values[f] for f in FIELDS),
        actor,
    )
    if row is None and not if_missing:
        raise NameTaken
    return row


async def update(conn: asyncpg.Connection, template_id: int, values: dict[str, Any]) -> asyncpg.Record:
    """Write every field of the template (raises NameTaken on a name already used)."""
    sets = ", ".join(f"{f} = ${i}" for i, f in enumerate(FIELDS, start=2))
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction survives the refusal
            return await conn.fetchrow(
                f"UPDATE alert_templates SET {sets}, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
                template_id,
                *(values[f] for f in FIELDS),
            )
    except asyncpg.UniqueViolationError:
        raise NameTaken from None


async def delete(conn: asyncpg.Connection, template_id: int) -> None:
    await conn.execute("DELETE FROM alert_templates WHERE id = $1", template_id)
