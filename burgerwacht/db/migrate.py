"""Forward-only migrations: ``sql/NNNN_name.sql`` applied in order.

Each file runs in its own transaction and is recorded in ``schema_migrations`` with a
SHA-256 checksum. A session-level advisory lock serialises concurrent runners (two
processes starting at once: the second waits, then finds nothing to do). An applied
file whose text has changed stops the runner: migrations are history, never edited.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from burgerwacht.config import PROJECT_ROOT

log = logging.getLogger(__name__)

SQL_DIR = PROJECT_ROOT / "sql"
LOCK_KEY = 0x42_57_4D_49  # "BWMI": arbitrary, fixed advisory-lock key for migrations
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file name must be NNNN_name.sql: {path.name}")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, m.group(2), path)
    return [found[v] for v in sorted(found)]


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def _applied(conn: asyncpg.Connection) -> dict[int, asyncpg.Record]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    return {r["version"]: r for r in rows}


def _check(migrations: list[Migration], applied: dict[int, asyncpg.Record]) -> list[Migration]:
    """Verify applied files are unchanged; return the pending ones."""
    known = {m.version: m for m in migrations}
    for version, row in applied.items():
        m = known.get(version)
        if m is None:
            raise MigrationError(
                f"database has migration {version:04d}_{row['name']} that is not in {SQL_DIR.name}/"
            )
        if m.checksum != row["checksum"]:
            raise MigrationError(
                f"migration {m.path.name} was edited after it was applied (checksum mismatch); "
                "add a new migration instead"
            )
    return [m for m in migrations if m.version not in applied]


async def pending(conn: asyncpg.Connection, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Migrations not yet applied (raises if an applied one was edited)."""
    return _check(discover(sql_dir), await _applied(conn))


async def migrate(conn: asyncpg.Connection, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Apply every pending migration; return what was applied (empty: nothing to do)."""
    migrations = discover(sql_dir)
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE)
        todo = _check(migrations, await _applied(conn))
        for m in todo:
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version,
                    m.name,
                    m.checksum,
                )
            log.info("applied migration %s", m.path.name)
        return todo
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def migrate_url(url: str, sql_dir: Path = SQL_DIR) -> list[Migration]:
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn, sql_dir)
    finally:
        await conn.close()
