"""A digest of every table, to show a request changed nothing."""

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
