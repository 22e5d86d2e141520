"""The dispatch worker: claims queued deliveries, sends them through the provider under
the shared rate limit, records outcomes in batches.

- Claims: ``FOR UPDATE SKIP LOCKED`` batches per channel, sized to ~2 s of the channel's
  rate. Outcomes are recorded as sends complete, a few at a time in one transaction
  (group commit), and a worker claims more as soon as part of what it holds is done: one
  slow provider answer holds back its own delivery, not its batch. A heartbeat keeps a live worker's claims fresh; the maintenance loop takes back
  only claims whose heartbeat stopped (a crashed or frozen worker). A worker sends only
  while its last heartbeat is recent (less than half a lease ago) and never a delivery
  whose claim it lost, so a claim taken back is never sent twice.
- Rate: a token bucket per channel in PostgreSQL, so the limit holds for the sum of all
  workers on all machines. Calls have a second, separate limit: at most
  ``twilio.max_concurrent_calls`` in progress (:class:`CallSlots`, rows of ``call_slots``
  taken before a call is created and removed by its final status callback). The
  requests in flight adapt to the rate and the measured provider latency
  (:mod:`burgerwacht.alerts.flow`: Little's law, AIMD on 429).
- Exactly once: a send whose outcome is unknown (timeout, crash, expired claim) is
  marked ``reconcile``; before it is sent again the provider's message (or call) list
  for that number is searched for it.
- Retries by error class: 429 always (backoff + jitter, not counted as an attempt);
  invalid / landline / opted-out never; unknown outcome → reconcile.
- SIGTERM: stop claiming, finish what is in flight, hand back what has not started.
- A large alert's deliveries after its first chunk are written here, a chunk per
  transaction, ``alerts.materialise_parallel`` chunks at once (each writer takes a
  different one; several workers do too), while the channel loops send what is written
  (:func:`burgerwacht.alerts.service.materialise_next`; any worker resumes after a crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from burgerwacht import metrics
from burgerwacht.alerts import service, store
from burgerwacht.alerts.flow import FlowController
from burgerwacht.alerts.service import (
    CLOSING_TTL,
    DISPATCH_CHANNEL,
    closing_text,
    for_mode,
    sms_text,
    start_sms,
    update_text,
    with_link,
)
from burgerwacht.bulletins import store as bulletins
from burgerwacht.bulletins.service import sms_body as bulletin_text
from burgerwacht.config import Settings
from burgerwacht.db import outage
from burgerwacht.events import publish
from burgerwacht.messaging import (
    InvalidNumber,
    NotMobile,
    OptedOut,
    ProviderError,
    RateLimited,
    TwilioProvider,
    UnknownOutcome,
)
from burgerwacht.public.links import page_url, photo_url
from burgerwacht.web.keys import DIRECT_URL, POOL, PROVIDER, SETTINGS

log = logging.getLogger(__name__)

# Batches per channel a worker has in hand at once (see DispatchWorker._channel_loop).
PIPELINE = 2
# Seconds an outcome waits for others to share its transaction (group commit).
RECORD_LINGER = 0.05
# Seconds the chunk writer waits after a NOTIFY woke it (see DispatchWorker._materialise_loop).
MATERIALISE_GRACE = 0.15


@dataclass
class AlertTexts:
    """An alert's texts and status, and its follow-ups by number, read once per batch."""

    row: asyncpg.Record
    updates: dict[int, asyncpg.Record]
    link_url: str | None = None  # the public page, for start messages (alert's link mode)

    def __getitem__(self, key: str) -> Any:
        return self.row[key]


Texts = dict[int, AlertTexts]  # alert id → its texts


class RateLimiter:
    """Tokens for one channel from the shared bucket, fetched a few at a time.

    With ``sender_rate`` every sender of the pool has a bucket of its own too (rows
    ``<channel>:<sender>``), and a token is taken from the account's and a sender's
    bucket together (:func:`store.take_sender_tokens`), so neither limit is exceeded by
    the sum of all workers. A delivery bound to a sender (a resident's earlier sender in
    the alert) waits for that sender's tokens, holding back no other sender's; any other
    takes a token of whichever sender has most (:meth:`take_any`), so an alert keeps
    every sender of the pool busy and reaches the account limit whenever the pool can."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        name: str,
        rate: float,
        sender_rate: float | None = None,
        senders: Sequence[str] = (),
    ) -> None:
        self.pool, self.name, self.rate = pool, name, rate
        self.capacity = max(1.0, rate * 0.05)  # ≤ 50 ms of burst: keeps the provider's own limiter happy
        self.chunk = max(1, min(int(rate * 0.05), 500))
        self.sender_rate = sender_rate
        self.senders = list(senders)
        if sender_rate is not None:
            self.sender_capacity = max(1.0, sender_rate * 0.05)
            self.sender_chunk = max(1, min(int(min(rate, sender_rate) * 0.05), 500))
        self._local: dict[str | None, int] = {}
        self._locks: dict[str | None, asyncio.Lock] = {}

    def _bucket(self, sender: str) -> str:
        return f"{self.name}:{sender}"

    async def setup(self) -> None:
        async with self.pool.acquire() as conn:
            await store.ensure_bucket(conn, self.name, self.capacity)
            if self.sender_rate is not None:
                for sender in self.senders:
                    await store.ensure_bucket(conn, self._bucket(sender), self.sender_capacity)

    async def _fetch(self, sender: str | None) -> tuple[int, float]:
        """Tokens granted now, and the seconds to wait when none were."""
        async with self.pool.acquire() as conn:
            if sender is None:
                granted, left = await store.take_tokens(conn, self.name, self.chunk, self.rate, self.capacity)
                return granted, (1.0 - left) / self.rate
            assert self.sender_rate is not None
            bucket = (self._bucket(sender), self.sender_rate, self.sender_capacity)
            try:
                return await store.take_sender_tokens(
                    conn, (self.name, self.rate, self.capacity), bucket, self.sender_chunk
                )
            except LookupError:  # a sender this worker did not set up (another pool)
                await store.ensure_bucket(conn, bucket[0], self.sender_capacity)
                return 0, 0.0

    async def take_any(self, stopping: Callable[[], bool] = lambda: False) -> str | None:
        """A token of any sender of the pool; returns that sender, or None when the
        worker started stopping while it waited."""
        assert self.sender_rate is not None
        lock = self._locks.get("")
        if lock is None:
            lock = self._locks[""] = asyncio.Lock()
        async with lock:
            while True:
                held = max(self.senders, key=lambda s: self._local.get(s, 0))
                if self._local.get(held, 0) > 0:
                    self._local[held] -= 1
                    return held
                if stopping():
                    return None
                async with self.pool.acquire() as conn:
                    bucket, granted, wait = await store.take_pool_tokens(
                        conn,
                        (self.name, self.rate, self.capacity),
                        [self._bucket(s) for s in self.senders],
                        self.sender_rate,
                        self.sender_capacity,
                        self.sender_chunk,
                    )
                if granted:
                    sender = bucket.removeprefix(f"{self.name}:")
                    self._local[sender] = self._local.get(sender, 0) + granted - 1
                    return sender
                metrics.RATE_LIMIT_WAITS.labels(self.name).inc()
                await asyncio.sleep(max(0.001, wait))

    async def take(self, stopping: Callable[[], bool] = lambda: False, sender: str | None = None) -> bool:
        """One token (of ``sender`` too, when senders are limited); False when the
        worker started stopping while it waited."""
        key = sender if self.sender_rate is not None else None
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            while self._local.get(key, 0) <= 0:
                if stopping():
                    return False
                granted, wait = await self._fetch(key)
                if granted:
                    self._local[key] = self._local.get(key, 0) + granted
                    break
                metrics.RATE_LIMIT_WAITS.labels(self.name).inc()
                await asyncio.sleep(max(0.001, wait))
            self._local[key] -= 1
            return True


#: Seconds an alert call rings before Twilio gives up (Timeout of the create).
RING_TIMEOUT = 30
#: Added to a call's ring timeout and time limit before its place lapses unreleased: the
#: provider's queue time, clock skew between the database and the provider.
CALL_SLOT_MARGIN = 60


class CallSlots:
    """Places among the calls in progress, for the sum of all workers: Twilio limits the
    calls an account has in progress at once apart from the calls it starts per second.

    A call takes a place (a ``call_slots`` row, counted under an advisory lock) just
    before its create and keeps it until its final status callback (completed, busy,
    no-answer, failed, canceled: :func:`burgerwacht.alerts.callbacks.apply_callback`
    frees it, as does the status check of a call whose callback was lost). A create the
    provider refused, or a send that did not happen, frees it at once; an unknown outcome
    keeps it (the call may be ringing). A place whose callback never comes lapses after
    the ring timeout + ``twilio.call_time_limit_seconds`` (the call's TimeLimit, so no
    call outlives its place) + a margin. One waiter per worker asks the database at a
    time, backing off to ``poll`` seconds while every place is taken."""

    def __init__(self, pool: asyncpg.Pool, maximum: int, hold_seconds: float, poll: float = 0.25) -> None:
        self.pool, self.maximum, self.hold_seconds, self.poll = pool, maximum, hold_seconds, poll
        self._lock = asyncio.Lock()

    async def take(
        self, delivery_id: int, attempt: int, stopping: Callable[[], bool] = lambda: False
    ) -> bool:
        """A place for this delivery's call; False when the worker started stopping first."""
        async with self._lock:
            delay = 0.02
            while not stopping():
                async with self.pool.acquire() as conn:
                    taken, busy = await store.take_call_slot(
                        conn, delivery_id, attempt, self.maximum, self.hold_seconds
                    )
                metrics.CALLS_IN_PROGRESS.set(busy + taken)
                if taken:
                    return True
                metrics.CALL_SLOT_WAITS.inc()
                await asyncio.sleep(delay)
                delay = min(self.poll, delay * 2)
            return False

    async def release(self, delivery_id: int) -> None:
        try:
            async with self.pool.acquire() as conn:
                await store.release_call_slot(conn, delivery_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _trouble(exc, "freeing a call's place")  # it lapses after its hold time


@dataclass
class Outcome:
    id: int
    state: str
    attempts: int
    alert_id: int = 0
    channel: str = "sms"
    kind: str = "alert"
    sid: str | None = None
    code: int | None = None
    reason: str | None = None
    not_before: datetime | None = None
    reconcile: bool = False
    attempt_at: datetime | None = None
    stop_resident: int | None = None
    fallback: bool = False
    sender: str | None = None

    def row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.state,
            self.sid,
            self.code,
            self.reason,
            self.not_before,
            self.reconcile,
            self.attempts,
            self.attempt_at,
            self.sender,
        )


def _trouble(exc: BaseException, what: str) -> None:
    """A failed database step that is retried: an outage is logged once, anything else each time."""
    if outage.unavailable(exc):
        outage.noticed(exc, what)
    else:
        log.warning("%s failed (%s); retrying", what, type(exc).__name__)


def _backoff(attempt: int) -> timedelta:
    base = min(30.0, 0.5 * 2 ** min(attempt, 6))
    return timedelta(seconds=base * random.uniform(0.5, 1.5))


class DispatchWorker:
    def __init__(
        self, pool: asyncpg.Pool, provider: TwilioProvider, settings: Settings, listen_url: str | None = None
    ):
        self.pool, self.provider, self.settings = pool, provider, settings
        # LISTEN on a connection of its own to PostgreSQL itself (database.direct_url):
        # through PgBouncer's transaction pooling a LISTEN would stay behind on a server
        # connection other clients use. None: a connection from the pool (no PgBouncer).
        self.listen_url = listen_url
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        t = settings.twilio
        # alert SMS go out from a pool of senders (a Messaging Service has Twilio's own
        # per-sender limits); calls from from_number
        self.senders = t.senders
        pooled = not t.messaging_service_sid
        self.limiters = {
            "sms": RateLimiter(
                pool, "sms", t.sms_per_second, t.per_sender_per_second if pooled else None, self.senders
            ),
            "voice": RateLimiter(pool, "voice", t.calls_per_second),
        }
        self.rates = {"sms": t.sms_rate, "voice": t.calls_per_second}
        self.call_slots = CallSlots(
            pool,
            t.max_concurrent_calls,
            RING_TIMEOUT + t.call_time_limit_seconds + CALL_SLOT_MARGIN,
            poll=min(0.25, settings.alerts.poll_seconds),
        )
        # the requests in flight per channel: rate x measured latency x headroom
        most = min(settings.alerts.max_in_flight, t.max_connections)
        self.flows = {
            channel: FlowController(rate, maximum=most, initial=settings.alerts.dispatch_concurrency)
            for channel, rate in self.rates.items()
        }
        for channel, flow in self.flows.items():
            metrics.IN_FLIGHT_TARGET.labels(channel).set(flow.target)
        # slow provider requests that gave up their place: bounded by the connections
        # the sends in flight do not need
        self._stalled = 0
        self.wake = asyncio.Event()
        self.materialise_wake = asyncio.Event()  # a NOTIFY: maybe a large alert to write
        self.stopping = False
        self.tasks: list[asyncio.Task[None]] = []
        self._listener: asyncpg.Connection | None = None
        # delivery id → the claim it is held under (a new number per batch): a heartbeat
        # compares what it asked about with the claims held when its answer is back
        self.in_flight: dict[int, int] = {}
        self._claim_serial = itertools.count(1)
        self.lost: set[int] = set()
        self._heartbeat_ok = time.monotonic()
        self._heartbeat_event = asyncio.Event()
        self.sent = 0
        self._pending: list[tuple[Outcome, asyncio.Future[None]]] = []  # outcomes to record
        self._recorder: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        for limiter in self.limiters.values():
            await limiter.setup()
        self.tasks = [
            asyncio.create_task(self._channel_loop("sms"), name="dispatch-sms"),
            asyncio.create_task(self._channel_loop("voice"), name="dispatch-voice"),
            asyncio.create_task(self._maintenance_loop(), name="dispatch-maintenance"),
            asyncio.create_task(self._listen_loop(), name="dispatch-listen"),
            asyncio.create_task(self._heartbeat_loop(), name="dispatch-heartbeat"),
            *(
                asyncio.create_task(self._materialise_loop(), name=f"dispatch-materialise-{i}")
                for i in range(self.settings.alerts.materialise_parallel)
            ),
        ]
        log.info("dispatch worker started", extra={"worker": self.name})

    async def stop(self) -> None:
        """Stop claiming; finish in-flight sends within the grace period; hand back the rest."""
        self.stopping = True
        self.wake.set()
        grace = self.settings.alerts.shutdown_grace_seconds
        loops = self.tasks[:2]
        _done, pending = await asyncio.wait(loops, timeout=grace) if loops else (set(), set())
        for task in (*pending, *self.tasks[2:]):
            task.cancel()
        if self._recorder is not None:  # what completed is recorded; then the recorder ends
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._recorder), grace)
            self._recorder.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            async with self.pool.acquire() as conn:
                released = await store.release_claims_of(conn, self.name)
            if released:
                log.info(
                    "handed back %d claimed deliveries (checked with the provider before any resend)",
                    released,
                )
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        log.info("dispatch worker stopped", extra={"worker": self.name, "sent": self.sent})

    @contextlib.asynccontextmanager
    async def _listen_connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self.listen_url is None:
            async with self.pool.acquire() as conn:
                yield conn
            return
        conn = await asyncpg.connect(
            self.listen_url, timeout=10, server_settings={"application_name": "burgerwacht-listen"}
        )
        try:
            yield conn
        finally:
            await conn.close(timeout=5)

    async def _listen_loop(self) -> None:
        """LISTEN for new work (a hint; the loops poll anyway), reconnecting as needed."""
        if self.listen_url is None and self.settings.database.pgbouncer:
            log.info(
                "behind PgBouncer without database.direct_url: no LISTEN, new work is found "
                "by polling every %.1f s",
                self.settings.alerts.poll_seconds,
            )
            return
        while not self.stopping:
            try:
                async with self._listen_connection() as conn:
                    lost = asyncio.Event()

                    def on_notify(*_: Any) -> None:
                        self.wake.set()
                        self.materialise_wake.set()

                    conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                    await conn.add_listener(DISPATCH_CHANNEL, on_notify)
                    try:
                        await lost.wait()
                    finally:
                        with contextlib.suppress(Exception):
                            await conn.remove_listener(DISPATCH_CHANNEL, on_notify)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if outage.unavailable(exc):
                    outage.noticed(exc, "dispatch listener")
                else:
                    log.warning("dispatch listener lost (%s); polling until it is back", type(exc).__name__)
                await asyncio.sleep(1)

    async def _heartbeat_loop(self) -> None:
        lease = self.settings.alerts.claim_lease_seconds
        while True:
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _trouble(exc, "claim heartbeat")
            await asyncio.sleep(max(0.05, lease / 4))

    async def _beat(self) -> None:
        """One heartbeat: refresh our claims, note those taken back by another worker."""
        mine = dict(self.in_flight)  # what we hold now; later claims are checked next time
        async with self.pool.acquire() as conn:
            held = await store.heartbeat(conn, self.name, sorted(mine))
        # a claim is lost only if we still hold it, under the same claim, now that the
        # answer is here: a batch recorded meanwhile gave its rows up itself (and may
        # have claimed some of them again since, which the next heartbeat checks)
        lost = {i for i, claim in mine.items() if i not in held and self.in_flight.get(i) == claim}
        if lost:
            log.warning("lost %d claims to another worker; they will not be sent here", len(lost))
            self.lost |= lost
        self._heartbeat_ok = time.monotonic()
        self._heartbeat_event.set()

    async def _fresh_claims(self) -> bool:
        """True while our heartbeat is recent enough that no claim of ours can have
        been taken back; waits (up to a lease) for the next heartbeat otherwise."""
        lease = self.settings.alerts.claim_lease_seconds
        deadline = time.monotonic() + lease
        while time.monotonic() - self._heartbeat_ok >= lease / 2:
            if time.monotonic() > deadline or self.stopping:
                return False
            self._heartbeat_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heartbeat_event.wait(), lease / 4)
        return True

    async def _maintenance_loop(self) -> None:
        depth_at = -math.inf
        while not self.stopping:
            try:
                async with self.pool.acquire() as conn:
                    released = await store.release_stale_claims(
                        conn, self.settings.alerts.claim_lease_seconds
                    )
                    ended = await store.expire_due(conn)
                    finished = await store.finish_sent_alerts(conn)
                    for alert_id in set(ended) | set(finished):
                        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
                    oldest_age = await store.queue_oldest_age(conn)
                    depth = None
                    # a count reads every queued delivery: as seldom as the web's queue
                    # gauges (the oldest one's age is an index probe per channel)
                    if time.monotonic() - depth_at >= metrics.QUEUE_CACHE_SECONDS:
                        depth, depth_at = await store.queue_depth(conn), time.monotonic()
                # auto-widening: the waves that are due (each in its own transactions); and
                # follow-ups or waves whose second step a dead process never ran
                if await service.widen_due(self.pool, self.settings):
                    self.wake.set()
                if await service.complete_pending(self.pool, self.settings):
                    self.wake.set()
                if depth is not None:
                    metrics.QUEUE_DEPTH.set(depth)
                metrics.QUEUE_OLDEST.set(oldest_age)
                if released:
                    log.warning("took back %d stale claims for reconciliation", released)
                    self.wake.set()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                _trouble(exc, "dispatch maintenance")
            except Exception:
                log.exception("dispatch maintenance failed unexpectedly; retrying")
            await asyncio.sleep(1.0)

    async def _materialise_loop(self) -> None:
        """Large alerts' deliveries, a chunk at a time, until none is left (one of
        ``alerts.materialise_parallel`` such loops, each on its own connection); then wait for
        a NOTIFY (a send) or the next poll. Woken, it lets the channel loops claim first
        (MATERIALISE_GRACE): the first chunk's messages leave before the next chunk's
        writing competes with them for the database."""
        poll = self.settings.alerts.poll_seconds
        while not self.stopping:
            self.materialise_wake.clear()
            try:
                if await service.materialise_next(self.pool, self.settings) is not None:
                    self.wake.set()
                    continue
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                _trouble(exc, "writing deliveries")
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("writing deliveries failed unexpectedly; retrying")
                await asyncio.sleep(1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.materialise_wake.wait(), poll)
                await asyncio.sleep(MATERIALISE_GRACE)

    # ---------------------------------------------------------------- dispatch

    async def _channel_loop(self, channel: str) -> None:
        """Claim and send up to ``PIPELINE`` batches' worth of deliveries at once when the
        channel is not rate-limited: more is claimed as soon as a quarter batch of what is
        in hand has been recorded, so the provider connection never idles between batches
        and a slow answer keeps one delivery in hand, not a batch. The channel's flow
        controller (alerts/flow.py) bounds the requests in flight."""
        full = self.settings.alerts.dispatch_batch_size
        batch_size = min(full, max(1, int(self.rates[channel] * 2)))
        poll = self.settings.alerts.poll_seconds
        # under a rate limit a batch is ~2 s of tokens and the limiter sets the pace; a
        # second batch in hand would only make its alert status staler
        capacity = batch_size * (PIPELINE if self.rates[channel] * 2 > full else 1)
        least = max(1, batch_size // 4)
        in_hand = 0
        freed = asyncio.Event()
        running: set[asyncio.Task[None]] = set()

        def free(n: int) -> None:
            nonlocal in_hand
            in_hand -= n
            freed.set()

        def done(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("dispatch batch failed unexpectedly", exc_info=task.exception())

        try:
            while not self.stopping:
                # enough in hand to fill the window the latency asks for
                room = max(capacity, self.flows[channel].target + least) - in_hand
                if room < least:
                    freed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(freed.wait(), poll)
                    continue
                batch = await self._claim(channel, min(batch_size, room))
                if not batch:
                    if batch is not None:  # nothing due: wait for a NOTIFY or the next poll
                        self.wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.wake.wait(), poll)
                    continue
                in_hand += len(batch)
                task = asyncio.create_task(self._process(batch, free), name=f"dispatch-{channel}-batch")
                running.add(task)
                task.add_done_callback(done)
            if running:  # stopping: let what is in flight finish (stop() bounds the wait)
                await asyncio.gather(*running, return_exceptions=True)
        finally:
            for task in list(running):
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    async def _claim(self, channel: str, batch_size: int) -> list[asyncpg.Record] | None:
        """A batch of due deliveries (maybe empty), or None after a failure (logged, and
        a second's pause before the caller tries again)."""
        try:
            async with self.pool.acquire() as conn:
                senders = self.senders if channel == "sms" else ()
                return await store.claim(conn, self.name, channel, batch_size, senders)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _trouble(exc, "claiming")
        except Exception:
            log.exception("claiming failed unexpectedly; retrying")
        await asyncio.sleep(1.0)
        return None

    async def _process(
        self, batch: list[asyncpg.Record], free: Callable[[int], None] = lambda _n: None
    ) -> None:
        """Send a batch; each outcome is recorded as soon as it is known (with whatever
        else completed meanwhile), and ``free`` is told of every delivery done with."""
        ids = {d["id"] for d in batch}
        claim = next(self._claim_serial)
        self.in_flight.update(dict.fromkeys(ids, claim))
        left = len(batch)

        freed: set[int] = set()  # slow sends whose place in hand was given up early

        def give_up_place(delivery_id: int) -> None:
            nonlocal left
            if delivery_id not in freed:
                freed.add(delivery_id)
                left -= 1
                free(1)

        def release(delivery_id: int) -> None:
            give_up_place(delivery_id)
            if self.in_flight.get(delivery_id) == claim:
                del self.in_flight[delivery_id]
                self.lost.discard(delivery_id)

        async def one(d: asyncpg.Record, texts: Texts) -> None:
            outcome = await self._guarded(d, texts, lambda: give_up_place(d["id"]))
            try:
                # a claim taken back by another worker is theirs now: record nothing for it
                if outcome.id not in self.lost:
                    await self._submit(outcome)
            finally:
                release(d["id"])

        try:
            try:
                texts = await self._load_texts({d["alert_id"] for d in batch})
            except Exception as exc:
                if not outage.unavailable(exc):
                    raise
                # nothing was sent: the claims lapse and are taken back after the lease
                outage.noticed(exc, "loading alert texts")
                return
            results = await asyncio.gather(*(one(d, texts) for d in batch), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        finally:
            if left:
                free(left)
            for i in ids:
                if self.in_flight.get(i) == claim:
                    del self.in_flight[i]
                    self.lost.discard(i)

    async def _submit(self, outcome: Outcome) -> None:
        """Record one outcome, in one transaction with the others that completed within
        ``RECORD_LINGER`` (group commit); returns once it is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # retrieved here too: a sender cancelled meanwhile no longer reads its result
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending.append((outcome, future))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_pending(), name="dispatch-record")
        await asyncio.shield(future)

    async def _record_pending(self) -> None:
        group_size = self.settings.alerts.dispatch_batch_size
        while self._pending:
            if len(self._pending) < group_size:
                await asyncio.sleep(RECORD_LINGER)
            group, self._pending = self._pending[:group_size], self._pending[group_size:]
            try:
                await self._record([o for o, _ in group])
            except BaseException as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, future in group:
                    if not future.done():
                        future.set_result(None)

    async def _record(self, outcomes: list[Outcome]) -> None:
        for attempt in range(10):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    touched = sorted({o.alert_id for o in outcomes})
                    # a follow-up being written waits for this, or this for it (see store)
                    await store.lock_alerts_shared(conn, touched)
                    await store.record_outcomes(conn, self.name, [o.row() for o in outcomes])
                    # start messages that carried an older text than the latest follow-up
                    # (claimed while it was written) get what they missed
                    await store.catch_up_updates(conn, [o.id for o in outcomes if o.kind == "alert"])
                    for o in outcomes:
                        if o.stop_resident:
                            await store.stop_resident(conn, o.stop_resident)
                        if o.fallback:
                            d = await store.delivery(conn, o.id)
                            if (
                                d
                                and d["resident_id"]
                                and await store.resident_allows_voice(conn, d["resident_id"])
                            ):
                                await store.add_fallback(conn, d, "voice")
                    await store.finish_sent_alerts(conn, touched)
                    # an alert closed while these were in flight: whoever they reached gets
                    # the closing message too (idempotent)
                    for alert_id in await store.closed_among(conn, touched):
                        await store.materialise_closing(conn, alert_id, datetime.now(UTC) + CLOSING_TTL)
                    for alert_id in touched:
                        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
                for o in outcomes:  # counted once committed
                    metrics.DELIVERIES.labels(o.state, o.channel).inc()
                    if o.reason == "reconciled":
                        metrics.RECONCILIATIONS.labels("found").inc()
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # the database is away: keep the outcomes and try again; the claims stay
                # ours (a reaper would mark them for reconciliation, never for a blind resend)
                _trouble(exc, f"recording outcomes (attempt {attempt + 1})")
                await asyncio.sleep(min(5.0, 0.5 * 2**attempt))
        log.error("could not record %d outcomes; they will be reconciled", len(outcomes))

    async def _load_texts(self, alert_ids: set[int]) -> Texts:
        """Texts and status of the batch's alerts, read fresh for every batch: an alert
        may have been closed or cancelled (and got its closing message) meanwhile.
        Buurt bulletins ride the same queue under a negative alert_id (their texts come
        from :mod:`burgerwacht.bulletins`)."""
        async with self.pool.acquire() as conn:
            rows = await store.alert_texts(conn, sorted(i for i in alert_ids if i > 0))
            updates = (
                await store.update_texts(conn, sorted(alert_ids))
                if any(r["update_number"] for r in rows)
                else []
            )
            bulletin_rows = (
                await bulletins.texts(conn, sorted(alert_ids)) if any(i < 0 for i in alert_ids) else {}
            )
        texts = {r["id"]: AlertTexts(r, {}, page_url(self.settings, r["public_token"])) for r in rows}
        for u in updates:
            texts[u["alert_id"]].updates[u["number"]] = u
        for i, b in bulletin_rows.items():
            texts[i] = AlertTexts(b, {})  # type: ignore[arg-type]
        return texts

    async def _guarded(
        self, d: asyncpg.Record, texts: Texts, on_slow: Callable[[], None] = lambda: None
    ) -> Outcome:
        """Send one delivery within the channel's in-flight window, entered once its
        rate token is in hand (a delivery waiting for its sender's tokens holds no place).
        A provider request still unanswered after ``slow_send_seconds`` gives its place
        to the next one and ``on_slow`` is told (a hang costs a connection, not a sending
        slot), as long as the connections not needed by the sends in flight allow."""
        flow = self.flows[d["channel"]]
        held, stalled = False, False

        async def enter() -> None:
            nonlocal held
            await flow.acquire()
            held = True

        def let_go() -> None:
            nonlocal held
            if held:
                held = False
                flow.release()

        def slow() -> None:
            nonlocal stalled
            windows = sum(f.target for f in self.flows.values())
            if held and self._stalled + windows < self.settings.twilio.max_connections:
                stalled = True
                self._stalled += 1
                let_go()
                on_slow()

        timers: list[asyncio.TimerHandle] = []

        def requesting() -> None:
            timers.append(asyncio.get_running_loop().call_later(self.settings.alerts.slow_send_seconds, slow))

        try:
            try:
                outcome = await self._send_one(d, texts, requesting, enter)
            except Exception as exc:
                if outage.unavailable(exc):  # expected: logged once per outage
                    outage.noticed(exc, "sending")
                else:
                    log.exception("unexpected error sending delivery %s; it will be reconciled", d["id"])
                outcome = Outcome(
                    d["id"],
                    "queued",
                    d["attempts"] + 1,
                    reconcile=True,
                    not_before=datetime.now(UTC) + timedelta(seconds=5),
                    attempt_at=datetime.now(UTC),
                )
        finally:
            for timer in timers:
                timer.cancel()
            if stalled:
                self._stalled -= 1
            let_go()
        outcome.alert_id, outcome.channel = d["alert_id"], d["channel"]
        outcome.kind = d.get("kind") or "alert"
        return outcome

    @classmethod
    def _body(cls, d: asyncpg.Record, texts: Texts) -> str | None:
        """The SMS of a delivery; every text of an exercise starts with OEFENING."""
        body = cls._plain_body(d, texts)
        if body is None or d["kind"] == "bulletin":
            return body
        return for_mode(body, texts[d["alert_id"]]["mode"])

    @staticmethod
    def _plain_body(d: asyncpg.Record, texts: Texts) -> str | None:
        alert = texts.get(d["alert_id"])
        if alert is None:
            return None
        if d["kind"] == "closing":
            return closing_text(alert["reference"], alert["closing_message"] or "")
        if d["kind"] == "bulletin":
            return bulletin_text(alert["message"], d["language"])
        if d["kind"] == "update":
            update = alert.updates.get(d["seq"])
            return update_text(alert["reference"], update["message"]) if update else None
        # a start message carries the latest follow-up read when it was claimed
        folded = alert.updates.get(d["text_seq"] or 0)
        if folded is None and d["language"] == "en" and alert["message_en"]:
            # English where the alert has it (issue 19); follow-ups are Dutch only, so a
            # start message carrying one is the Dutch current state (one language per SMS)
            return with_link(sms_text(alert["reference"], alert["message_en"]), alert["link"], alert.link_url)
        return start_sms(
            alert["reference"],
            alert["message"],
            folded["message"] if folded else None,
            link=alert["link"],
            url=alert.link_url,
        )

    def _media(self, d: asyncpg.Record, texts: Texts) -> list[str] | None:
        """The alert's photo with its start SMS when ``twilio.mms`` is on: Twilio fetches it
        from the public page's photo URL (public once the alert was sent)."""
        if not self.settings.twilio.mms or d["kind"] != "alert":
            return None
        alert = texts.get(d["alert_id"])
        if alert is None or not alert.row.get("has_photo"):
            return None
        url = photo_url(self.settings, alert["public_token"])
        return [url] if url else None

    @staticmethod
    def _update_gate(d: asyncpg.Record) -> Outcome | None:
        """A follow-up goes to whoever its resident's start message (on its channel)
        reached with an older text, once that start message has gone out: None to send
        it now, else what happens to it instead."""
        start = d["start_state"]
        if start is None:  # a fallback call for an undeliverable follow-up SMS
            return None
        if (d["start_text_seq"] or 0) >= d["seq"]:  # the start message carried it already
            return Outcome(d["id"], "cancelled", d["attempts"], reason="superseded")
        # in flight or being reconciled, or a start call still ringing or talking: after it
        if start in ("queued", "sending") or (start == "sent" and d["channel"] == "voice"):
            return Outcome(
                d["id"],
                "queued",
                d["attempts"],
                reason="waiting_for_start",
                not_before=datetime.now(UTC) + timedelta(seconds=1),
            )
        if start in ("sent", "delivered") or (start == "skipped" and d["start_reason"] == "related_alert"):
            return None
        return Outcome(d["id"], "cancelled", d["attempts"], reason="not_reached")

    async def _send_one(
        self,
        d: asyncpg.Record,
        texts: Texts,
        requesting: Callable[[], None] = lambda: None,
        enter: Callable[[], Awaitable[None]] | None = None,
    ) -> Outcome:
        now = datetime.now(UTC)
        alert = texts.get(d["alert_id"])
        if d["phone"] is None:
            return Outcome(d["id"], "cancelled", d["attempts"], reason="resident_stopped_or_erased")
        if alert is None or (d["kind"] != "closing" and alert["status"] not in ("sending", "active")):
            return Outcome(d["id"], "cancelled", d["attempts"], reason="alert_ended")
        if d["expires_at"] <= now:
            return Outcome(d["id"], "expired", d["attempts"], reason="alert_expired")
        if d["reconcile"]:
            found = await self._reconcile(d, texts)
            if found is not None:
                return found
            if d["channel"] == "voice":  # the last attempt made no call: no place is in use
                await self.call_slots.release(d["id"])
        if d["kind"] == "update" and (held := self._update_gate(d)) is not None:
            return held
        if self.stopping:
            return Outcome(d["id"], "queued", d["attempts"], reason="released")
        if d["channel"] != "voice":
            return await self._send_now(d, texts, requesting, enter)
        # a call: first a place among the calls in progress (max_concurrent_calls)
        waited = time.monotonic()
        if not await self.call_slots.take(d["id"], d["attempts"] + 1, lambda: self.stopping):
            return Outcome(d["id"], "queued", d["attempts"], reason="released")
        outcome = None
        if time.monotonic() - waited > 1.0:  # the alert may have ended while calls went on
            outcome = await self._still_due(d)
        if outcome is None:
            outcome = await self._send_now(d, texts, requesting, enter)  # an exception keeps the place
        if outcome.state != "sent" and not outcome.reconcile and outcome.reason != "claim_lost":
            await self.call_slots.release(d["id"])  # no call was made (a lost claim: its new holder's)
        return outcome

    async def _still_due(self, d: asyncpg.Record) -> Outcome | None:
        """After a wait for a place: None when the delivery is still to be sent."""
        if d["expires_at"] <= datetime.now(UTC):
            return Outcome(d["id"], "expired", d["attempts"], reason="alert_expired")
        async with self.pool.acquire() as conn:
            status = await store.alert_status(conn, d["alert_id"])
        if d["kind"] != "closing" and status not in ("sending", "active"):
            return Outcome(d["id"], "cancelled", d["attempts"], reason="alert_ended")
        return None

    async def _send_now(
        self,
        d: asyncpg.Record,
        texts: Texts,
        requesting: Callable[[], None] = lambda: None,
        enter: Callable[[], Awaitable[None]] | None = None,
    ) -> Outcome:
        """The send itself: a rate token, a place in the window, the provider request."""
        limiter = self.limiters[d["channel"]]
        sender = d.get("sender")
        if d["channel"] == "sms" and sender is None and limiter.sender_rate is not None:
            # not bound to a sender: a token of whichever sender of the pool has one
            sender = await limiter.take_any(lambda: self.stopping)
            if sender is None or self.stopping:
                return Outcome(d["id"], "queued", d["attempts"], reason="released")
        elif not await limiter.take(lambda: self.stopping, sender) or self.stopping:
            return Outcome(d["id"], "queued", d["attempts"], reason="released")
        used = sender if d["channel"] == "sms" else None
        if enter is not None:
            await enter()  # a place among the requests in flight
        if not await self._fresh_claims() or d["id"] in self.lost:
            # our claim may have been taken back: leave it to whoever holds it now
            self.lost.add(d["id"])
            return Outcome(d["id"], "queued", d["attempts"], reason="claim_lost")
        attempt = d["attempts"] + 1
        started = datetime.now(UTC)
        base = self.settings.public_base
        requesting()
        t0 = time.perf_counter()
        try:
            if d["channel"] == "sms":
                validity = int((d["expires_at"] - started).total_seconds())
                if validity < 1:
                    return Outcome(d["id"], "expired", d["attempts"], reason="alert_expired")
                msg = await self.provider.send_sms(
                    d["phone"],
                    self._body(d, texts) or "",
                    sender=sender,
                    validity_period=validity,
                    status_callback=f"{base}/twilio/sms/status?d={d['id']}&a={attempt}",
                    media_url=self._media(d, texts),
                )
                sid = msg.sid
            else:
                call = await self.provider.start_call(
                    d["phone"],
                    url=f"{base}/twilio/voice/alert/{d['id']}",
                    status_callback=f"{base}/twilio/voice/status?d={d['id']}&a={attempt}",
                    machine_detection=True,
                    timeout=RING_TIMEOUT,
                    time_limit=self.settings.twilio.call_time_limit_seconds,
                )
                sid = call.sid
        except RateLimited as exc:
            self._answered(d["channel"], time.perf_counter() - t0)
            self.flows[d["channel"]].rate_limited(exc.retry_after)
            metrics.PROVIDER_ERRORS.labels(str(exc.code or 429)).inc()
            return Outcome(
                d["id"],
                "queued",
                d["attempts"],
                code=exc.code,
                reason="rate_limited",
                not_before=started + _backoff(d["attempts"]),
            )
        except UnknownOutcome as exc:
            metrics.PROVIDER_ERRORS.labels(str(exc.code or "unknown")).inc()
            return Outcome(
                d["id"],
                "queued",
                attempt,
                reason="unknown_outcome",
                reconcile=True,
                sender=used,  # it may have gone out: a resend goes from the same number
                not_before=started + timedelta(seconds=2),
                attempt_at=started,
            )
        except OptedOut as exc:
            self._answered(d["channel"], time.perf_counter() - t0)
            metrics.PROVIDER_ERRORS.labels(str(exc.code)).inc()
            return Outcome(
                d["id"],
                "failed",
                attempt,
                code=exc.code,
                reason="opted_out",
                attempt_at=started,
                stop_resident=d["resident_id"],
            )
        except NotMobile as exc:
            self._answered(d["channel"], time.perf_counter() - t0)
            metrics.PROVIDER_ERRORS.labels(str(exc.code)).inc()
            return Outcome(
                d["id"],
                "failed",
                attempt,
                code=exc.code,
                reason="not_mobile",
                attempt_at=started,
                fallback=d["channel"] == "sms",
            )
        except (InvalidNumber, ProviderError) as exc:
            self._answered(d["channel"], time.perf_counter() - t0)
            metrics.PROVIDER_ERRORS.labels(str(exc.code or exc.status or "error")).inc()
            return Outcome(
                d["id"], "failed", attempt, code=exc.code, reason=type(exc).__name__, attempt_at=started
            )
        answered = time.perf_counter() - t0
        self._answered(d["channel"], answered)
        metrics.SEND_LATENCY.labels(d["channel"]).observe(answered)
        self.sent += 1
        return Outcome(d["id"], "sent", attempt, sid=sid, attempt_at=started, sender=used)

    def _answered(self, channel: str, seconds: float) -> None:
        """The provider answered (not a timeout): its time sizes the in-flight window."""
        flow = self.flows[channel]
        flow.observe(seconds)
        metrics.IN_FLIGHT_TARGET.labels(channel).set(flow.target)
        metrics.PROVIDER_LATENCY.labels(channel).set(flow.latency or 0.0)

    async def _reconcile(self, d: asyncpg.Record, texts: Texts) -> Outcome | None:
        """Was the last attempt accepted after all? Then it counts as sent."""
        # the claim time bounds the attempt from below; a few seconds allow for clock skew
        since = (d["prev_attempt_at"] or d["created_at"]) - timedelta(seconds=5)
        try:
            if d["channel"] == "sms":
                body = self._body(d, texts)
                candidates = [
                    m.sid for m in await self.provider.find_messages(d["phone"], since) if m.body == body
                ]
            else:
                candidates = [c.sid for c in await self.provider.find_calls(d["phone"], since)]
            async with self.pool.acquire() as conn:
                known = await store.known_sids(conn, candidates, d["id"])
            fresh = [sid for sid in candidates if sid not in known]  # newest first, as the provider lists
            sid = fresh[0] if fresh else None
        except ProviderError as exc:
            log.warning("reconciliation of delivery %s failed (%s); will retry", d["id"], type(exc).__name__)
            return Outcome(
                d["id"],
                "queued",
                d["attempts"],
                reason="reconcile_failed",
                reconcile=True,
                not_before=datetime.now(UTC) + timedelta(seconds=5),
            )
        if sid:  # counted when recorded (a failed commit reconciles it again)
            return Outcome(d["id"], "sent", max(d["attempts"], 1), sid=sid, reason="reconciled")
        metrics.RECONCILIATIONS.labels("not_found").inc()
        return None


async def start_worker(app: web.Application) -> DispatchWorker:
    worker = DispatchWorker(app[POOL], app[PROVIDER], app[SETTINGS], listen_url=app[DIRECT_URL] or None)
    await worker.start()
    return worker
