"""burgerwacht/sql/schema.sql is what the migrations and the functions files make of an
empty database (and of one deployed before the functions files existed): a change to
the schema shows in that file, in the same commit. Regenerate it with ``make schema``."""

from __future__ import annotations

import difflib
import re
import shutil

import asyncpg

from burgerwacht import resources
from burgerwacht.db import migrate, schema

REGENERATE = "regenerate it: make schema (burgerwacht schema-dump --fresh -o burgerwacht/sql/schema.sql)"


def _same(actual: str) -> None:
    expected = resources.SCHEMA.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), "sql/schema.sql", "migrated", n=2
            )
        )
        raise AssertionError(f"the migrated schema differs from sql/schema.sql; {REGENERATE}\n{diff}")


async def test_migrations_produce_schema_sql(empty_db_url):
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate.migrate(conn)
        first = await schema.dump(conn)
        _same(first)
        await migrate.migrate(conn)  # the functions files again: nothing changes
        assert await schema.dump(conn) == first
    finally:
        await conn.close()


async def test_a_database_from_before_the_functions_files_ends_up_the_same(empty_db_url, tmp_path):
    """A database deployed at 0009 (its functions as the migrations of the day made them)
    gets today's functions and triggers from the next migrate."""
    old = tmp_path / "migrations"
    old.mkdir()
    for path in migrate.MIGRATIONS_DIR.iterdir():
        if path.name.endswith(".sql") and int(path.name[:4]) <= 9:
            shutil.copy(str(path), old / path.name)
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate.migrate(conn, old, functions_dir=None)
        await migrate.migrate(conn)
        _same(await schema.dump(conn))
    finally:
        await conn.close()


def test_every_function_and_trigger_lives_in_a_functions_file():
    """The functions files define every function and trigger schema.sql lists (the
    migrations may have made earlier versions; these replace them)."""
    text = "\n".join(f.read_text(encoding="utf-8") for f in migrate.functions())
    listed = resources.SCHEMA.read_text(encoding="utf-8")
    for line in listed.splitlines():
        if line.startswith("CREATE OR REPLACE FUNCTION public."):
            name = line.removeprefix("CREATE OR REPLACE FUNCTION public.").split("(")[0]
            assert f"CREATE OR REPLACE FUNCTION {name}(" in text, name
        elif line.startswith("CREATE TRIGGER "):
            name = line.split()[2]
            assert re.search(rf"CREATE OR REPLACE TRIGGER {name}\s", text), name
