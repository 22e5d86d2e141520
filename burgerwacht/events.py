"""Live events: PostgreSQL NOTIFY fanned out to server-sent-event subscribers.

Any process (web, worker) publishes with ``pg_notify('bw_events', json)``; every web
process (and only a web process: workers and schedulers publish, nobody there listens)
holds one LISTEN connection and hands each event to the subscribers of its
topic (``alert:<id>``, ``tips:<GM code>``). NOTIFY is a hint: a subscriber that must
not miss anything re-reads state from the database when it (re)connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web

from burgerwacht.db.notify import notify
from burgerwacht.errors import DomainError
from burgerwacht.web.keys import DIRECT_URL, EVENTS, POOL, ROLES, SETTINGS

log = logging.getLogger(__name__)
CHANNEL = "bw_events"


class EventHub:
    """``listen_url``: LISTEN on a connection of its own to PostgreSQL itself
    (database.direct_url; a LISTEN through PgBouncer's transaction pooling would stay
    behind on a server connection other clients use). None: a pool connection, or no
    live events at all behind PgBouncer (``pgbouncer``): streams then only re-read state."""

    def __init__(self, pool: asyncpg.Pool, listen_url: str | None = None, *, pgbouncer: bool = False) -> None:
        self._pool = pool
        self._listen_url = listen_url
        self._pgbouncer = pgbouncer
        self._subs: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()
        # set when the web process shuts down: event streams say goodbye and end
        self.closing = asyncio.Event()

    async def start(self) -> None:
        if self._listen_url is None and self._pgbouncer:
            log.warning(
                "behind PgBouncer without database.direct_url: no live events (event streams "
                "show changes only when they reconnect)"
            )
            return
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def _connect(self) -> asyncpg.Connection:
        if self._listen_url is None:
            return await self._pool.acquire()
        return await asyncpg.connect(
            self._listen_url, timeout=10, server_settings={"application_name": "burgerwacht-listen"}
        )

    async def _let_go(self, conn: asyncpg.Connection) -> None:
        if self._listen_url is None:
            await self._pool.release(conn)
        else:
            await conn.close(timeout=5)

    async def _run(self) -> None:
        while not self._closing:
            try:
                conn = await self._connect()
                self._conn = conn
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.connected.set()
                await lost.wait()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("event listener lost its connection (%s); reconnecting", type(exc).__name__)
            finally:
                self.connected.clear()
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        await self._conn.remove_listener(CHANNEL, self._on_notify)
                    with contextlib.suppress(Exception):
                        await self._let_go(self._conn)
                    self._conn = None
            if not self._closing:
                await asyncio.sleep(1)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            return
        for topic in event.get("topics", []):
            for queue in list(self._subs.get(topic, ())):
                if queue.full():  # a slow client drops events; it re-reads state
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, *topics: str, maxsize: int = 1000
    ) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        for t in topics:
            self._subs[t].add(queue)
        try:
            yield queue
        finally:
            for t in topics:
                self._subs[t].discard(queue)
                if not self._subs[t]:
                    del self._subs[t]

    async def close(self) -> None:
        self._closing = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def next_event(
    hub: EventHub, queue: asyncio.Queue[dict[str, Any]], wait_s: float
) -> dict[str, Any] | None:
    """The next event, or None after ``wait_s`` seconds or when the server shuts down."""
    if hub.closing.is_set():
        return None
    getter = asyncio.ensure_future(queue.get())
    closing = asyncio.ensure_future(hub.closing.wait())
    try:
        done, _ = await asyncio.wait({getter, closing}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closing.cancel()
        if not getter.done():
            getter.cancel()
    return getter.result() if getter in done else None


def sse(event: str, data: Any, event_id: Any = None) -> bytes:
    """One server-sent event."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return f"{head}data: {json.dumps(data, default=str, ensure_ascii=False)}\n\n".encode()


SHUTDOWN_EVENT = sse("shutdown", {"reason": "server restarting; reconnect"})


async def open_stream(request: web.Request) -> web.StreamResponse:
    """Start a text/event-stream response (no caching, no proxy buffering)."""
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await resp.prepare(request)
    return resp


async def publish(conn: asyncpg.Connection | asyncpg.Pool, topics: list[str], event: dict[str, Any]) -> None:
    """Queue an event for all listeners; inside a transaction it is sent at commit."""
    await notify(conn, CHANNEL, json.dumps({**event, "topics": topics}, default=str))


def hub_of(app: web.Application) -> EventHub:
    """The process's event hub; a process without the web role has none (503)."""
    if EVENTS not in app:
        raise DomainError(503, "events-not-served", "live events are served by web processes, not this one")
    return app[EVENTS]


async def events_ctx(app: web.Application) -> AsyncIterator[None]:
    if "web" not in app[ROLES]:  # nobody subscribes here: no LISTEN connection held for nothing
        yield
        return
    settings = app[SETTINGS]
    hub = EventHub(app[POOL], app[DIRECT_URL] or None, pgbouncer=settings.database.pgbouncer)
    app[EVENTS] = hub
    await hub.start()
    try:
        yield
    finally:
        await hub.close()


async def end_streams(app: web.Application) -> None:
    """on_shutdown: open event streams say goodbye and end before the server stops."""
    if EVENTS in app:
        app[EVENTS].closing.set()
