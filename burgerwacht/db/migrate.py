"""Forward-only migrations (``burgerwacht/sql/migrations/NNNN_name.sql``) applied in
order, then every SQL function and trigger (``burgerwacht/sql/functions/*.sql``).

Each migration runs in its own transaction and is recorded in ``schema_migrations`` with
a SHA-256 checksum. A session-level advisory lock serialises concurrent runners (two
processes starting at once: the second waits, then finds nothing to do). An applied
file whose text has changed stops the runner: migrations are history, never edited.

Functions and triggers are not history but code: their current definitions live in one
place, the functions files (``CREATE OR REPLACE``), which the runner applies after the
migrations, under the same lock and in one transaction, every time it runs. Older
migrations still create the versions of their day (deployed databases recorded them, and
a later migration in the sequence may use them); the functions files then replace them.
A migration therefore never relies on a function first defined in a functions file: on
an empty database those run only after the last migration.

The files ship inside the package (:mod:`burgerwacht.resources`), so an installed wheel
migrates; finding no migration at all is an error, not "nothing to do".
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable

import asyncpg

from burgerwacht import resources

log = logging.getLogger(__name__)

MIGRATIONS_DIR = resources.MIGRATIONS
FUNCTIONS_DIR = resources.FUNCTIONS
LOCK_KEY = 0x42_57_4D_49  # "BWMI": arbitrary, fixed advisory-lock key for migrations
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Traversable

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def _sql_files(folder: Traversable) -> list[Traversable]:
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.name.endswith(".sql") and p.is_file()), key=lambda p: p.name
    )


def discover(sql_dir: Traversable | None = None) -> list[Migration]:
    """The migrations in ``sql_dir``, in order. None at all is an error: the package
    is incomplete (a wheel built without its data files), and a runner that "applied 0
    migrations" to an empty database would let the service start on nothing."""
    sql_dir = MIGRATIONS_DIR if sql_dir is None else sql_dir
    found: dict[int, Migration] = {}
    for path in _sql_files(sql_dir):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file name must be NNNN_name.sql: {path.name}")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, m.group(2), path)
    if not found:
        raise MigrationError(f"no migrations found in {sql_dir} (is the package installed completely?)")
    return [found[v] for v in sorted(found)]


def functions(functions_dir: Traversable = FUNCTIONS_DIR) -> list[Traversable]:
    """The functions files, applied in name order."""
    return _sql_files(functions_dir)


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
                f"database has migration {version:04d}_{row['name']} that is not in this version of burgerwacht"
            )
        if m.checksum != row["checksum"]:
            raise MigrationError(
                f"migration {m.path.name} was edited after it was applied (checksum mismatch); "
                "add a new migration instead"
            )
    return [m for m in migrations if m.version not in applied]


async def pending(conn: asyncpg.Connection, sql_dir: Traversable | None = None) -> list[Migration]:
    """Migrations not yet applied (raises if an applied one was edited, or if there are
    no migrations to compare with)."""
    return _check(discover(sql_dir), await _applied(conn))


async def migrate(
    conn: asyncpg.Connection,
    sql_dir: Traversable | None = None,
    functions_dir: Traversable | None = FUNCTIONS_DIR,
) -> list[Migration]:
    """Apply every pending migration, then the functions files; return the migrations
    applied (empty: none was pending). ``functions_dir=None`` skips the functions, for
    a database deliberately left at an older migration (tests of a migration itself)."""
    migrations = discover(sql_dir)
    scripts = functions(functions_dir) if functions_dir is not None else []
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
        async with conn.transaction():
            for script in scripts:
                await conn.execute(script.read_text(encoding="utf-8"))
        if scripts:
            log.info("applied %d functions file(s)", len(scripts))
        return todo
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def migrate_url(url: str, sql_dir: Traversable | None = None) -> list[Migration]:
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn, sql_dir)
    finally:
        await conn.close()
