"""The database being away is expected and handled: requests answer 503 with
Retry-After (problem details), and the outage is logged as one warning when it starts
and one line when it ends, never as errors with tracebacks."""

from __future__ import annotations

import logging

import asyncpg
import pytest
from aiohttp import web

from burgerwacht.alerts.worker import DispatchWorker
from burgerwacht.db import outage
from burgerwacht.web.errors import problem_middleware
from tests.helpers.alerting import alert_body, create


@pytest.fixture(autouse=True)
def no_outage_before():
    outage.recovered()  # a previous test's outage is over
    yield
    outage.recovered()


UNREACHABLE = [
    ConnectionRefusedError(111, "Connect call failed"),
    ConnectionResetError(104, "Connection reset by peer"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
]


async def test_any_request_answers_503_while_the_database_is_unreachable(aiohttp_client, caplog):
    app = web.Application(middlewares=[problem_middleware])

    async def handler(request: web.Request):
        raise UNREACHABLE[int(request.match_info["i"])]

    app.router.add_get("/fail/{i}", handler)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.INFO):
        for i in range(len(UNREACHABLE)):
            resp = await client.get(f"/fail/{i}")
            assert resp.status == 503, (UNREACHABLE[i], await resp.text())
            assert resp.headers["Retry-After"].isdigit()
            assert resp.content_type == "application/problem+json"
            body = await resp.json()
            assert body["status"] == 503 and body["type"].endswith("/database-unavailable")
        outage.recovered()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "database unavailable" in warnings[0].getMessage()
    assert [r for r in caplog.records if "database available again" in r.getMessage()]


async def test_an_alert_read_while_the_database_is_down_is_a_503(client, op, db_url):
    from burgerwacht.web.keys import POOL

    alert = await create(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    pool = client.app[POOL]
    pool.set_connect_args(dsn="postgresql://burgerwacht@127.0.0.1:9/nowhere")  # nothing listens there
    await pool.expire_connections()
    resp = await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)
    assert resp.status == 503, await resp.text()
    assert resp.headers["Retry-After"]
    assert (await resp.json())["type"].endswith("/database-unavailable")


async def test_sends_during_an_outage_log_one_warning_and_no_tracebacks(settings, caplog):
    worker = DispatchWorker(None, None, settings)  # type: ignore[arg-type]

    async def database_gone(*_a, **_kw):
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    worker._send_one = database_gone  # type: ignore[method-assign]
    delivery = {"id": 1, "alert_id": 1, "channel": "sms", "attempts": 0}
    with caplog.at_level(logging.INFO):
        outcomes = [await worker._guarded(delivery, {}) for _ in range(20)]  # type: ignore[arg-type]
    assert all(o.state == "queued" and o.reconcile for o in outcomes)  # handled as before: checked first
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_callbacks_lost_in_an_outage_are_repaired_within_minutes():
    """Twilio does not retry a status callback the service refused (database away): the
    status check repairs it, with the defaults within 4 minutes (it was 10–15)."""
    from burgerwacht.config import load_settings
    from burgerwacht.scheduler import all_jobs

    settings = load_settings()
    worst = settings.alerts.status_check_after_minutes * 60 + all_jobs()["alerts-status-check"].seconds
    assert worst <= 4 * 60


async def test_scheduled_jobs_during_an_outage_log_one_warning(caplog):
    from burgerwacht.scheduler import JobSpec, run_once
    from burgerwacht.web.keys import POOL

    class AwayPool:
        async def execute(self, *_a, **_kw):
            raise asyncpg.CannotConnectNowError("the database system is shutting down")

    async def never(_app):
        raise AssertionError("a job runs only after its claim")

    app = web.Application()
    app[POOL] = AwayPool()
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            assert await run_once(app, JobSpec("outage-test", never, 60)) is False
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
