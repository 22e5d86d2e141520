"""How many provider requests a worker keeps in flight: an adaptive window.

A fixed number of requests in flight caps a worker at ``window / latency`` sends per
second: 50 requests at 150 ms is ~330/s whatever the provider contract allows. The
window is therefore sized from what is measured.

**Little's law.** In a steady state the requests in flight equal the throughput times
the time each spends in the system: ``L = λ × W``. To send at the configured rate
``λ`` while the provider answers in ``W`` seconds a worker needs ``λ × W`` requests in
flight. :class:`FlowController` keeps an exponentially weighted moving average (EWMA)
of the provider's answer time (the HTTP request alone, not the wait for a rate token)
and sets the window to ``rate × share × latency × headroom``, rounded up:

* ``headroom`` (1.5) absorbs jitter in the answer time, so the window is not what
  limits the rate when a few answers are slow; the shared token bucket in PostgreSQL
  (:class:`~burgerwacht.alerts.worker.RateLimiter`) sets the pace, the window only has
  to be large enough not to get in its way;
* the window is bounded below by ``minimum`` (4: a cold start or a very fast provider
  still pipelines) and above by ``maximum``, the smaller of ``alerts.max_in_flight`` and
  the provider connection pool (``twilio.max_connections``), so it can never ask for
  more connections than the HTTP client has;
* until the first answer is measured the window is ``initial``
  (``alerts.dispatch_concurrency``, the fixed window of earlier versions);
* it follows the latency: twice the answer time, twice the window, within the bounds.

**AIMD on 429.** A 429 (Twilio's 20429) means the provider's real limit is below what we
send, e.g. another system shares the account. Like TCP's congestion window, the share of
the configured rate we aim for is halved (multiplicative decrease; at most once per
answer time, since a burst of 429s from one window is one signal) and then grows back by
``increase`` (a tenth of the rate) for every ``interval`` (one second) without a 429
(additive increase), up to the whole rate. A ``Retry-After`` on the 429 pauses new
requests until it has passed. Halving the window halves the rate the window allows
(``window / latency``), so the worker backs off even while its tokens say it may send.

The controller is plain state and arithmetic with an injectable clock (unit-tested with
a fake one); :meth:`acquire` and :meth:`release` make it the worker's send gate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

#: Window before the first measured answer when no initial value is given.
MINIMUM = 4
HEADROOM = 1.5
#: Weight of a new latency sample in the moving average.
SMOOTHING = 0.1
#: Share of the configured rate added back per interval without a 429, and the interval.
INCREASE = 0.1
INTERVAL = 1.0
#: The share never drops below this (the window's minimum bounds it too).
MIN_SHARE = 1 / 64


class FlowController:
    """The in-flight window of one channel of one worker (see the module docstring)."""

    def __init__(
        self,
        rate: float,
        *,
        maximum: int,
        initial: int | None = None,
        minimum: int = MINIMUM,
        headroom: float = HEADROOM,
        smoothing: float = SMOOTHING,
        increase: float = INCREASE,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or maximum < 1 or minimum < 1:
            raise ValueError("rate, maximum and minimum must be positive")
        self.rate = rate
        self.minimum = min(minimum, maximum)
        self.maximum = maximum
        self.initial = initial
        self.headroom = headroom
        self.smoothing = smoothing
        self.increase = increase
        self.interval = interval
        self.clock = clock
        self.latency: float | None = None  # EWMA of the provider's answer time, seconds
        self.share = 1.0  # AIMD: the share of the configured rate aimed for
        self.paused_until = -math.inf  # a Retry-After
        self.rate_limited_count = 0
        self._last_decrease = -math.inf
        self._calm_since = clock()  # start of the current interval without a 429
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    # ------------------------------------------------------------------ the window

    @property
    def target(self) -> int:
        """Requests this worker may have in flight now."""
        if self.latency is None:
            wanted = self.initial if self.initial is not None else self.minimum
            wanted = math.ceil(wanted * self.share)
        else:
            wanted = math.ceil(self.rate * self.share * self.latency * self.headroom)
        return max(self.minimum, min(self.maximum, wanted))

    def observe(self, seconds: float) -> None:
        """A provider answer (success or a refusal) took ``seconds``."""
        seconds = max(0.0, seconds)
        if self.latency is None:
            self.latency = seconds
        else:
            self.latency += self.smoothing * (seconds - self.latency)
        self._grow()
        self._wake()

    def rate_limited(self, retry_after: float | None = None) -> None:
        """The provider answered 429: halve the share, honour ``Retry-After``."""
        now = self.clock()
        self.rate_limited_count += 1
        if now - self._last_decrease >= (self.latency or 0.0):
            self.share = max(MIN_SHARE, self.share / 2)
            self._last_decrease = now
        self._calm_since = now
        if retry_after is not None and retry_after > 0:
            self.paused_until = max(self.paused_until, now + retry_after)

    def _grow(self) -> None:
        """Additive increase: a share step per whole interval without a 429."""
        if self.share >= 1.0:
            return
        now = self.clock()
        steps = int((now - self._calm_since) / self.interval)
        if steps > 0:
            self.share = min(1.0, self.share + steps * self.increase)
            self._calm_since += steps * self.interval

    def pause_left(self) -> float:
        """Seconds until a Retry-After has passed (0 when none applies)."""
        return max(0.0, self.paused_until - self.clock())

    # ------------------------------------------------------------------ the gate

    async def acquire(self) -> None:
        """Wait for a place in the window (and for any Retry-After to pass)."""
        while True:
            pause = self.pause_left()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            self._grow()
            if self.in_flight < self.target:
                self.in_flight += 1
                return
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif not waiter.cancelled():
                    self._wake()  # it had been woken: pass the turn on
                raise
            # woken: look again (another request may have taken the place meanwhile)

    def release(self) -> None:
        """A request in flight is done (or gave up its place)."""
        self.in_flight = max(0, self.in_flight - 1)
        self._wake()

    def _wake(self) -> None:
        room = self.target - self.in_flight
        while room > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                room -= 1
