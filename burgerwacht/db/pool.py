"""Connection pools with the codecs and session settings every store expects."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from burgerwacht.config import Settings
from burgerwacht.db import outage
from burgerwacht.db.embedded import start_embedded


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started on demand)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb/json as Python objects, so stores never call json.dumps by hand. A new
    connection also ends a database outage (logged once, see db.outage)."""
    outage.recovered()
    await set_codecs(conn)


async def set_codecs(conn: asyncpg.Connection) -> None:
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(
            typ, encoder=lambda v: json.dumps(v, default=str), decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook. asyncpg has already rolled back any open transaction and
    dropped listener callbacks; the default RESET ALL / UNLISTEN * / advisory-unlock
    round trip on every release costs a tenth of a webhook's time and is not needed:
    no code leaves session state behind (advisory locks here are transaction-scoped,
    settings come from server_settings)."""


async def create_pool(
    url: str,
    settings: Settings,
    *,
    min_size: int | None = None,
    max_size: int | None = None,
    application_name: str = "burgerwacht",
    **kw: Any,
) -> asyncpg.Pool:
    """A pool with the codecs and session settings every store expects.

    Behind PgBouncer in transaction pooling (``database.pgbouncer``) every transaction may
    run on another server connection, so nothing may rely on session state: asyncpg's
    named prepared statements are off (``statement_cache_size=0``: it prepares unnamed
    statements in the same round trip as their execution) and ``statement_timeout`` is not
    sent as a startup parameter (PgBouncer 1.18 refuses unknown ones; set it on the role or
    in PgBouncer's ``connect_query``). ``application_name`` and ``timezone`` are parameters
    PgBouncer tracks per client. The code keeps no other session state: advisory locks
    and temporary tables are transaction-scoped, and LISTEN (workers, the event hub) uses
    ``database.direct_url`` or nothing.
    """
    db = settings.database
    server_settings = {"application_name": application_name, "timezone": "UTC"}
    if db.pgbouncer:
        kw.setdefault("statement_cache_size", 0)
    else:
        server_settings["statement_timeout"] = str(db.statement_timeout_ms)
    kw.setdefault("init", init_connection)
    pool = await asyncpg.create_pool(
        url,
        min_size=db.pool_min if min_size is None else min_size,
        max_size=db.pool_max if max_size is None else max_size,
        command_timeout=db.command_timeout,
        reset=_keep_session,
        server_settings=server_settings,
        **kw,
    )
    assert pool is not None
    return pool
