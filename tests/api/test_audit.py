"""The audit log is append-only and its hash chain exposes edits and deletions."""

from __future__ import annotations

import subprocess
import sys

import asyncpg
import pytest

from burgerwacht.audit import store


async def _fill(db, n=5):
    for i in range(n):
        await store.append(db, "user:1", "alert.send", "alert", i, {"recipients": i * 10})


async def test_intact_chain_verifies(db):
    await _fill(db)
    result = await store.verify(db)
    assert result.ok and result.checked == 5


async def test_service_role_cannot_update_or_delete(db):
    await _fill(db, 2)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("DELETE FROM audit_log")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("TRUNCATE audit_log")
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 2


async def test_verify_catches_an_edited_row(db, db_url):
    await _fill(db)
    # a DBA with the power to switch the trigger off edits row 3
    await db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
    await db.execute(
        "UPDATE audit_log SET details = '{\"recipients\": 0}' WHERE id = (SELECT min(id) + 2 FROM audit_log)"
    )
    result = await store.verify(db)
    assert not result.ok
    assert any("edited" in p for p in result.problems)
    proc = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "audit", "verify"],
        env={"BURGERWACHT_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "BROKEN" in proc.stderr


async def test_verify_catches_a_deleted_row(db):
    await _fill(db)
    await db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
    await db.execute("DELETE FROM audit_log WHERE id = (SELECT min(id) + 1 FROM audit_log)")
    result = await store.verify(db)
    assert not result.ok
    assert any("deleted" in p for p in result.problems)


async def test_concurrent_appends_keep_one_chain(db_url):
    from burgerwacht.db.pool import init_connection

    pool = await asyncpg.create_pool(db_url, min_size=5, max_size=10, init=init_connection)
    try:
        import asyncio

        async def one(i):
            async with pool.acquire() as conn, conn.transaction():
                await store.append(conn, "user:1", "tip.read", "tip", i, {})

        await asyncio.gather(*(one(i) for i in range(50)))
        async with pool.acquire() as conn:
            result = await store.verify(conn)
        assert result.ok and result.checked == 50
    finally:
        await pool.close()
