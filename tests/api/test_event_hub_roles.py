"""Only a web process listens for live events: a worker-only process publishes but holds
no LISTEN connection for them, and its event streams answer 503 (issue 16: a national
deployment runs many workers, each connection counts, behind PgBouncer most of all)."""

from __future__ import annotations

import pytest

from tests.helpers.alerting import wait_until

EVENT_LISTENERS = """SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND query ILIKE 'LISTEN%bw_events%'"""


@pytest.mark.parametrize("service_roles", [{"web"}, {"worker"}])
async def test_only_web_processes_listen_for_live_events(client, db, op, service_roles):
    expected = 1 if "web" in service_roles else 0

    async def settled() -> bool:
        return await db.fetchval(EVENT_LISTENERS) == expected

    await wait_until(settled, timeout=10, interval=0.05)
    resp = await client.get("/api/v1/tips/events", headers=op)
    if expected:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    else:
        assert resp.status == 503
        problem = await resp.json()
        assert problem["type"].endswith("events-not-served") and "web processes" in problem["detail"]
    resp.close()
