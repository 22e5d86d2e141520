"""Every table at once: a digest to show a request changed nothing, and all stored text to
search for a phone number after erasure."""

from __future__ import annotations


async def snapshot(db) -> dict[str, str]:
    """A digest of every table's content."""
    tables = [
        r[0]
        for r in await db.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
    ]
    out = {}
    for t in tables:
        out[t] = await db.fetchval(
            f"SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM \"{t}\" x"
        )
    return out


async def all_text(db) -> str:
    """Every text/json column of every table, as one string (to search for numbers)."""
    cols = await db.fetch(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND data_type IN ('text', 'jsonb', 'json', 'character varying', 'ARRAY')"
    )
    parts = []
    for c in cols:
        rows = await db.fetch(f'SELECT "{c["column_name"]}"::text AS v FROM "{c["table_name"]}"')
        parts += [r["v"] for r in rows if r["v"]]
    return "\n".join(parts)
