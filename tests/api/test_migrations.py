"""The migration runner: idempotent, serialised across processes, refuses edited files."""

from __future__ import annotations

import asyncio
import shutil

import asyncpg
import pytest

from burgerwacht.db import migrate


async def test_migrating_an_empty_database_twice_is_a_noop(empty_db_url):
    conn = await asyncpg.connect(empty_db_url)
    try:
        first = await migrate.migrate(conn)
        assert [m.version for m in first] == [m.version for m in migrate.discover()]
        tables_before = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        )
        second = await migrate.migrate(conn)
        assert second == []
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(first)
        tables_after = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        )
        assert tables_before == tables_after
        assert {"staff_users", "audit_log", "schema_migrations"} <= {r[0] for r in tables_after}
        assert await migrate.pending(conn) == []
    finally:
        await conn.close()


async def test_concurrent_runners_do_not_collide(empty_db_url):
    """Five runners start at once: every migration is applied exactly once, no errors."""
    results = await asyncio.gather(*(migrate.migrate_url(empty_db_url) for _ in range(5)))
    applied = [m.version for r in results for m in r]
    assert sorted(applied) == [m.version for m in migrate.discover()]
    conn = await asyncpg.connect(empty_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(applied)
    finally:
        await conn.close()


async def test_an_edited_applied_migration_is_refused(empty_db_url, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(migrate.MIGRATIONS_DIR, sql_dir)
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate.migrate(conn, sql_dir)
        first = sorted(sql_dir.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- sneaky edit\n")
        with pytest.raises(migrate.MigrationError, match="edited after it was applied"):
            await migrate.migrate(conn, sql_dir)
        with pytest.raises(migrate.MigrationError):
            await migrate.pending(conn, sql_dir)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(empty_db_url, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(migrate.MIGRATIONS_DIR, sql_dir)
    (sql_dir / "9999_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n"
    )
    conn = await asyncpg.connect(empty_db_url)
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await migrate.migrate(conn, sql_dir)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE version = 9999") == 0
        # the good ones before it are in
        assert [m.version for m in await migrate.pending(conn, sql_dir)] == [9999]
    finally:
        await conn.close()


def test_badly_named_files_are_rejected(tmp_path):
    (tmp_path / "1_init.sql").write_text("SELECT 1")
    with pytest.raises(migrate.MigrationError, match=r"NNNN_name\.sql"):
        migrate.discover(tmp_path)


def test_no_migrations_to_find_is_an_error(tmp_path):
    """An install without its migrations (a wheel built without the data files) must not
    report "applied 0 migration(s)" and carry on."""
    with pytest.raises(migrate.MigrationError, match="no migrations found"):
        migrate.discover(tmp_path)


def test_the_migrate_command_fails_without_migrations(db_url, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from burgerwacht.cli import cli

    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    result = CliRunner().invoke(cli, ["migrate"], env={"BURGERWACHT_DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert "no migrations found" in result.output


async def test_0011_gives_existing_signals_their_cells(empty_db_url, tmp_path):
    """Migration 0011 on a database that already holds signals: every signal gets the cell of
    its own municipality, buurt and category, nothing is marked dirty by the backfill,
    and later writes get theirs from the trigger."""
    before = tmp_path / "sql"
    before.mkdir()
    for path in migrate.MIGRATIONS_DIR.iterdir():
        if int(path.name[:4]) < 11:
            shutil.copy(path, before / path.name)
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate.migrate(conn, before, functions_dir=None)  # the functions are 0011's age
        rows = [
            (f"bs-{i}", gm, f"BU{gm[2:]}0{i % 3}0{i % 2}", cat, f"2025-03-0{1 + i % 5}")
            for i, (gm, cat) in enumerate(
                [("GM0001", "graffiti"), ("GM0001", "drugs"), ("GM0002", "graffiti")] * 7
            )
        ]
        await conn.executemany(
            "INSERT INTO signals (public_id, municipality_code, buurt_code, category, observed_on, source, "
            "created_by) VALUES ($1, $2, $3, $4, $5::text::date, 'schouw', 'test')",
            rows,
        )
        await conn.execute("DELETE FROM signal_dirty_days")
        await migrate.migrate(conn)
        assert await conn.fetchval("SELECT count(*) FROM signal_dirty_days") == 0
        await conn.execute(
            "INSERT INTO signals (public_id, municipality_code, buurt_code, category, observed_on, source, "
            "created_by) VALUES ('bs-new', 'GM0002', 'BU00020101', 'hondenpoep', '2025-04-01', 'schouw', 'test')"
        )
        mismatched = await conn.fetchval(
            "SELECT count(*) FROM signals s JOIN signal_cells c ON c.id = s.cell "
            "WHERE (c.municipality_code, c.buurt_code, c.category) <> (s.municipality_code, s.buurt_code, s.category)"
        )
        assert mismatched == 0
        assert await conn.fetchval("SELECT count(*) FROM signals WHERE cell IS NOT NULL") == len(rows) + 1
        distinct = await conn.fetchval(
            "SELECT count(DISTINCT (municipality_code, buurt_code, category)) FROM signals"
        )
        assert await conn.fetchval("SELECT count(*) FROM signal_cells") == distinct
    finally:
        await conn.close()
