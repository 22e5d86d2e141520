"""The scale-out settings (database.pgbouncer, direct_url, replica_*) without a server:
validation, what the pools are given, the CLI refusing to migrate through PgBouncer, and
the read pool's fallback with fake pools (a replica lost mid-read cannot be timed with a
real one). The behaviour against a real PgBouncer and a real standby is in tests/scaleout."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from burgerwacht.config import ConfigError, load_settings
from burgerwacht.db import pool as pools


def test_defaults_and_environment(monkeypatch):
    s = load_settings()
    assert s.database.pgbouncer is False and s.database.direct_url == ""
    assert s.database.replica_connect_timeout == 1.0 and s.database.replica_retry_seconds == 5.0
    monkeypatch.setenv("BURGERWACHT_DATABASE__PGBOUNCER", "true")
    monkeypatch.setenv("BURGERWACHT_DATABASE__DIRECT_URL", "postgresql://u@db:5432/bw")
    s = load_settings()
    assert s.database.pgbouncer is True and s.database.direct_url == "postgresql://u@db:5432/bw"


@pytest.mark.parametrize(
    ("database", "variable"),
    [
        ({"direct_url": "mysql://db/bw"}, "BURGERWACHT_DATABASE__DIRECT_URL"),
        ({"replica_connect_timeout": 0}, "BURGERWACHT_DATABASE__REPLICA_CONNECT_TIMEOUT"),
        ({"replica_retry_seconds": -1}, "BURGERWACHT_DATABASE__REPLICA_RETRY_SECONDS"),
    ],
)
def test_bad_values_name_their_variable(database, variable):
    with pytest.raises(ConfigError, match=variable):
        load_settings(database=database)


@pytest.mark.parametrize("pgbouncer", [False, True])
async def test_pool_options_behind_pgbouncer(monkeypatch, pgbouncer):
    seen = {}

    async def fake_create_pool(url, **kw):
        seen.update(kw)
        return object()

    monkeypatch.setattr(pools.asyncpg, "create_pool", fake_create_pool)
    await pools.create_pool("postgresql://db/bw", load_settings(database={"pgbouncer": pgbouncer}))
    # behind PgBouncer: no named prepared statements, no statement_timeout startup parameter
    assert ("statement_cache_size" in seen) is pgbouncer
    assert ("statement_timeout" in seen["server_settings"]) is not pgbouncer
    assert seen["server_settings"]["application_name"] == "burgerwacht"
    assert seen["server_settings"]["timezone"] == "UTC"


def test_migrate_refuses_to_run_through_pgbouncer(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BURGERWACHT_DATABASE_URL": "postgresql://u@127.0.0.1:1/bw",
        "BURGERWACHT_DATABASE__PGBOUNCER": "true",
    }
    result = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "BURGERWACHT_DATABASE__DIRECT_URL" in result.stderr


class FakeConn:
    def __init__(self, name: str, fail: BaseException | None = None) -> None:
        self.name, self.fail, self.closed = name, fail, False

    async def fetchval(self, _sql: str) -> str:
        if self.fail is not None:
            self.closed = True
            raise self.fail
        return self.name

    def is_closed(self) -> bool:
        return self.closed


class FakePool:
    def __init__(self, conn: FakeConn | None = None, refuse: BaseException | None = None) -> None:
        self.conn, self.refuse, self.acquired = conn, refuse, 0

    async def acquire(self) -> FakeConn:
        self.acquired += 1
        if self.refuse is not None:
            raise self.refuse
        assert self.conn is not None
        return self.conn

    async def release(self, _conn: FakeConn) -> None:
        pass


class FakePrimary:
    def __init__(self) -> None:
        self.reads = 0

    def acquire(self):
        import contextlib

        @contextlib.asynccontextmanager
        async def cm():
            self.reads += 1
            yield FakeConn("primary")

        return cm()


async def _serve(aiohttp_client, read_pool):
    from aiohttp import web

    from burgerwacht.db.replica import replica_retry

    async def figures(_request):
        async with read_pool.acquire() as conn:
            return web.json_response({"from": await conn.fetchval("SELECT 1")})

    app = web.Application(middlewares=[replica_retry])
    app.router.add_get("/figures", figures)
    return await aiohttp_client(app)


async def test_a_replica_lost_mid_read_is_read_again_from_the_primary(aiohttp_client):
    import asyncpg

    from burgerwacht.db.replica import ReadPool
    from burgerwacht.metrics import REPLICA_FALLBACKS

    primary = FakePrimary()
    dying = FakeConn("replica", fail=asyncpg.ConnectionDoesNotExistError("closed in the middle"))
    replica = FakePool(dying)
    pool = ReadPool(primary, replica, load_settings(database={"replica_retry_seconds": 60}))  # type: ignore[arg-type]
    client = await _serve(aiohttp_client, pool)
    before = REPLICA_FALLBACKS._value.get()
    resp = await client.get("/figures")
    assert resp.status == 200 and (await resp.json()) == {"from": "primary"}
    assert replica.acquired == 1 and primary.reads == 1
    # the replica is left alone until replica_retry_seconds have passed
    resp = await client.get("/figures")
    assert (await resp.json()) == {"from": "primary"} and replica.acquired == 1
    assert REPLICA_FALLBACKS._value.get() == before + 2


@pytest.mark.parametrize(
    "refusal",
    [ConnectionRefusedError(), TimeoutError(), "InvalidCatalogNameError"],
    ids=["refused", "timeout", "no-database-yet"],
)
async def test_a_replica_that_cannot_be_reached_is_read_from_the_primary(aiohttp_client, refusal):
    import asyncpg

    from burgerwacht.db.replica import ReadPool

    if isinstance(refusal, str):
        refusal = getattr(asyncpg, refusal)("database does not exist")
    primary, replica = FakePrimary(), FakePool(refuse=refusal)
    pool = ReadPool(primary, replica, load_settings(database={"replica_retry_seconds": 0.01}))  # type: ignore[arg-type]
    client = await _serve(aiohttp_client, pool)
    resp = await client.get("/figures")
    assert resp.status == 200 and (await resp.json()) == {"from": "primary"}
    # back after replica_retry_seconds
    replica.refuse, replica.conn = None, FakeConn("replica")
    await asyncio.sleep(0.02)
    resp = await client.get("/figures")
    assert (await resp.json()) == {"from": "replica"}
