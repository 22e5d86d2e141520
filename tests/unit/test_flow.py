"""The adaptive in-flight window (alerts/flow.py) with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from burgerwacht.alerts.flow import FlowController


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def controller(rate: float = 2000, maximum: int = 1000, **kw) -> tuple[FlowController, Clock]:
    clock = Clock()
    return FlowController(rate, maximum=maximum, initial=50, clock=clock, **kw), clock


def settle(flow: FlowController, seconds: float, n: int = 200) -> None:
    for _ in range(n):
        flow.observe(seconds)


def test_starts_at_the_initial_window_then_follows_rate_times_latency():
    flow, _ = controller()
    assert flow.target == 50  # alerts.dispatch_concurrency until an answer is measured
    settle(flow, 0.150)
    assert flow.target == pytest.approx(2000 * 0.150 * 1.5, abs=2)  # Little's law with headroom


def test_grows_and_shrinks_with_the_latency():
    flow, _ = controller()
    settle(flow, 0.050)
    small = flow.target
    settle(flow, 0.200)
    large = flow.target
    assert large == pytest.approx(4 * small, rel=0.05)
    settle(flow, 0.050)
    assert flow.target == pytest.approx(small, abs=1)


def test_is_bounded_above_by_the_maximum_and_below_by_the_minimum():
    flow, _ = controller(maximum=300)
    settle(flow, 2.0)  # would want 6,000
    assert flow.target == 300
    settle(flow, 0.0001)  # would want 0.3
    assert flow.target == 4
    slow_rate, _ = controller(rate=1)
    settle(slow_rate, 0.2)
    assert slow_rate.target == 4


def test_halves_on_429_once_per_answer_time_and_recovers_additively():
    flow, clock = controller()
    settle(flow, 0.150)
    full = flow.target
    flow.rate_limited()
    assert flow.target == pytest.approx(full / 2, abs=1)
    flow.rate_limited()  # the same window's 429s are one signal
    assert flow.target == pytest.approx(full / 2, abs=1)
    clock.now += 0.2
    flow.rate_limited()  # a later one halves again
    assert flow.target == pytest.approx(full / 4, abs=1)
    clock.now += 0.5
    flow.observe(0.150)
    assert flow.target == pytest.approx(full / 4, abs=1)  # no whole calm second yet
    clock.now += 0.5
    flow.observe(0.150)
    assert flow.target == pytest.approx(full * 0.35, abs=2)  # + a tenth of the rate per second
    clock.now += 7
    flow.observe(0.150)
    assert flow.target == pytest.approx(full, abs=1)  # back to the whole rate, never above
    clock.now += 10
    flow.observe(0.150)
    assert flow.target == pytest.approx(full, abs=1)


def test_retry_after_pauses_new_requests():
    flow, clock = controller()
    settle(flow, 0.1)
    flow.rate_limited(retry_after=2.0)
    assert flow.pause_left() == pytest.approx(2.0)
    clock.now += 1.5
    assert flow.pause_left() == pytest.approx(0.5)
    clock.now += 1
    assert flow.pause_left() == 0


async def test_the_gate_admits_the_window_and_more_when_it_grows():
    flow = FlowController(100, maximum=100, initial=4, minimum=4)
    for _ in range(4):
        await flow.acquire()
    fifth = asyncio.create_task(flow.acquire())
    await asyncio.sleep(0.01)
    assert not fifth.done()  # the window is full
    flow.release()
    await asyncio.wait_for(fifth, 1)
    waiting = [asyncio.create_task(flow.acquire()) for _ in range(12)]
    await asyncio.sleep(0.01)
    assert not any(t.done() for t in waiting)
    flow.observe(0.1)  # 100/s x 0.1 s x 1.5: 15 in flight allowed
    await asyncio.sleep(0.01)
    assert sum(t.done() for t in waiting) == 11  # 4 held + 11 admitted
    assert flow.in_flight == 15
    waiting[-1].cancel()
