"""Helpers for the alert-lifecycle tests (follow-ups, waves): a dispatch worker the test
starts and stops, and each resident's messages and calls as the simulator saw them."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any

from aiohttp import web

from tests.helpers.alerting import wait_until


class Worker:
    """The service's worker role in its own app (no HTTP port), started and stopped by
    the test: deliveries stay queued while it is stopped."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        from burgerwacht.web.app import create_app

        self.runner = web.AppRunner(create_app(self.settings, roles={"worker"}))
        await self.runner.setup()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@contextlib.asynccontextmanager
async def running(worker: Worker):
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def quiet_queue(db, *, except_residents: list[int] = (), timeout: float = 30.0) -> None:
    """Until nothing is queued or in flight (but for ``except_residents``) and every call
    has ended (a call still 'sent' is ringing or talking)."""

    async def check():
        return not await db.fetchval(
            """SELECT count(*) FROM deliveries
               WHERE (state IN ('queued', 'sending') OR (state = 'sent' AND channel = 'voice'))
                 AND NOT (resident_id = ANY($1::bigint[]))""",
            list(except_residents),
        )

    await wait_until(check, timeout)


async def sms_by_number(sandbox) -> dict[str, list[str]]:
    """Each number's SMS bodies in the order the simulator took them."""
    out: dict[str, list[str]] = defaultdict(list)
    for m in await sandbox.outbound():
        out[m["to"]].append(m["body"])
    return dict(out)


async def calls_by_number(sandbox) -> dict[str, list[str]]:
    """Each number's calls made by the service, as what was said, in the order made."""
    out: dict[str, list[str]] = defaultdict(list)
    for c in await sandbox.calls():
        if c.get("direction", "outbound-api") == "outbound-api":
            out[c["to"]].append(" ".join(t["text"] for t in c.get("transcript", [])))
    return dict(out)


async def post(client, path: str, headers, body: Any = None, status: int | None = None) -> dict[str, Any]:
    resp = await client.post(path, json=body, headers=headers)
    data = await resp.json()
    if status is not None:
        assert resp.status == status, data
    return data


async def in_ring(db, centre, inner: float, outer: float, n: int) -> list[int]:
    """``n`` addresses between ``inner`` and ``outer`` metres from ``centre`` (well clear
    of the circles' edges, so rounding in the projection cannot move them)."""
    rows = await db.fetch(
        """SELECT id FROM addresses WHERE location <-> point($1, $2) BETWEEN $3 AND $4
           ORDER BY location <-> point($1, $2) LIMIT $5""",
        centre["x"],
        centre["y"],
        inner,
        outer,
        n,
    )
    assert len(rows) == n, (inner, outer, len(rows))
    return [r[0] for r in rows]
