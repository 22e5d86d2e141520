"""The scale-out settings (database.pgbouncer, direct_url, replica_*) without a server:
validation, what the pools are given, and the CLI refusing to migrate through PgBouncer.
The behaviour against a real PgBouncer and a real standby is in tests/scaleout."""

from __future__ import annotations

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
