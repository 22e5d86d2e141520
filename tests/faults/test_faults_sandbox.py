"""The simulator's fault-injection knobs used by the fault suites: 500s after the
message was created, hangs only after creating, scripted bursts of 429, callbacks
posted several times in a random order."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from burgerwacht.sandbox import SandboxConfig, ScenarioError, apply_scenario, create_sandbox_app

ACCOUNT_SID = "AC" + "3" * 32
AUTH_TOKEN = "sandbox-fault-token"
SERVICE_NUMBER = "+3197010000000"
API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()}


class Sim:
    def __init__(self, base: str, session: aiohttp.ClientSession, received: list[dict[str, str]]) -> None:
        self.base, self.session, self.received = base, session, received

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, headers=AUTH, **kwargs) as r:
            return r.status, await r.json(content_type=None)

    async def create_sms(self, to: str, **extra: str) -> tuple[int, Any]:
        form = {"To": to, "From": SERVICE_NUMBER, "Body": "Let op", **extra}
        return await self.request("POST", f"{API}/Messages.json", data=form)

    async def scenario(self, **changes: Any) -> dict[str, Any]:
        status, body = await self.request("POST", "/sandbox/scenario", json=changes)
        assert status == 200, body
        return body

    async def stats(self) -> dict[str, Any]:
        return (await self.request("GET", "/sandbox/stats"))[1]


@pytest.fixture
async def sim(aiohttp_server) -> AsyncIterator[Sim]:
    received: list[dict[str, str]] = []

    async def status(request: web.Request) -> web.Response:
        received.append(dict(await request.post()))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/status", status)
    service = await aiohttp_server(receiver)
    config = SandboxConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        service_url=str(service.make_url("")).rstrip("/"),
        phone_number=SERVICE_NUMBER,
        hang_seconds=0.2,
    )
    server = await aiohttp_server(create_sandbox_app(config))
    async with aiohttp.ClientSession() as session:
        s = Sim(str(server.make_url("")).rstrip("/"), session, received)
        s.status_url = str(service.make_url("/status"))  # type: ignore[attr-defined]
        yield s


async def test_500_after_create_leaves_a_message_behind(sim: Sim) -> None:
    await sim.scenario(error_rate=1.0, error_after_share=1.0)
    status, body = await sim.create_sms("+31611111111")
    assert (status, body["code"]) == (500, 20500)
    _, listed = await sim.request("GET", f"{API}/Messages.json", params={"To": "+31611111111"})
    assert len(listed["messages"]) == 1  # the provider did create it: resending would duplicate
    stats = await sim.stats()
    assert stats["requests"]["errors_after_create"] == 1


async def test_plain_500_creates_nothing(sim: Sim) -> None:
    await sim.scenario(error_rate=1.0)
    assert (await sim.create_sms("+31611111112"))[0] == 500
    assert (await sim.stats())["messages"]["total"] == 0


@pytest.mark.parametrize(("share", "created"), [(1.0, 3), (0.0, 0)])
async def test_hang_after_share(sim: Sim, share: float, created: int) -> None:
    await sim.scenario(timeout_rate=1.0, hang_after_share=share)
    for i in range(3):
        await sim.create_sms(f"+3161111112{i}")
    stats = await sim.stats()
    assert stats["requests"]["timeouts_injected"] == 3
    assert stats["messages"]["total"] == created


async def test_rate_limit_bursts_are_scripted_by_count(sim: Sim) -> None:
    await sim.scenario(rate_limit_burst_every=5, rate_limit_burst_length=2)
    statuses = [(await sim.create_sms(f"+316111113{i:02d}"))[0] for i in range(10)]
    assert statuses == [429, 429, 201, 201, 201] * 2
    stats = await sim.stats()
    assert stats["requests"]["rate_limited"] == 4 and stats["messages"]["total"] == 6


async def test_callbacks_three_times_in_random_order(sim: Sim) -> None:
    await sim.scenario(duplicate_rate=1.0, duplicate_copies=3, shuffle_callbacks=True, seed=11)
    for i in range(5):
        await sim.create_sms(f"+316111114{i:02d}", StatusCallback=sim.status_url)  # type: ignore[attr-defined]
    status, _ = await sim.request("POST", "/sandbox/flush?timeout=5")
    assert status == 200
    per_message = Counter((c["MessageSid"], c["MessageStatus"]) for c in sim.received)
    assert len(per_message) == 10 and set(per_message.values()) == {3}
    orders = {}
    for c in sim.received:
        orders.setdefault(c["MessageSid"], []).append(c["MessageStatus"])
    assert any(o[0] == "delivered" for o in orders.values())  # shuffled, not lifecycle order


def test_new_knobs_are_validated() -> None:
    for bad in (
        {"error_after_share": 1.5},
        {"hang_after_share": -0.1},
        {"rate_limit_burst_every": -1},
        {"duplicate_copies": -2},
        {"shuffle_callbacks": "yes"},
    ):
        with pytest.raises(ScenarioError):
            apply_scenario(SandboxConfig(), bad)
