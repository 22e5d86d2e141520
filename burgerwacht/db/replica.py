"""Analyst reads on a streaming replica (hot standby), with the primary as the fallback.

Only analyst summaries read here (signal summaries and trends, reports, participation,
effectiveness, the council report, areas): figures that may lag the primary by the
replication delay. Everything an operator or resident writes and then reads back uses
the primary pool, so read-your-writes never depends on the replica.

While the replica cannot be reached (stopped, rebuilt, failing over, its connection
limit reached) a read is served by the primary instead: the connect attempt is bounded
by ``database.replica_connect_timeout``, one warning is logged per episode, the metric
``burgerwacht_replica_fallbacks_total`` counts the reads that fell back, and the replica
is tried again after ``database.replica_retry_seconds``. A read whose replica
connection breaks under it (the standby stopped mid-query) runs again on the primary
(:func:`replica_retry`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from burgerwacht.config import Settings
from burgerwacht.db import outage

log = logging.getLogger("burgerwacht.db")

REPLICA_APPLICATION_NAME = "burgerwacht-read"


def _closed(conn: asyncpg.Connection) -> bool:
    """Whether the connection is gone (a proxy the pool already took back counts as gone)."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True


class ReplicaLost(ConnectionError):
    """The replica went away under a read. A ConnectionError, so wherever it is not
    retried it answers 503 like any database outage (db.outage)."""


@web.middleware
async def replica_retry(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A GET whose replica connection broke under it runs once more: the replica is marked
    away by then, so the second run reads from the primary. Every analyst route reads
    from the replica before it writes its audit line (on the primary), so a run that
    broke has written nothing and the audit line is written once."""
    try:
        return await handler(request)
    except ReplicaLost as exc:
        if request.method not in ("GET", "HEAD"):
            raise
        log.info("read replica lost during %s (%s); answering from the primary", request.path, exc)
        return await handler(request)


class ReadPool:
    """``acquire()`` like an asyncpg pool: a replica connection, or a primary one."""

    def __init__(self, primary: asyncpg.Pool, replica: asyncpg.Pool | None, settings: Settings) -> None:
        self.primary = primary
        self.replica = replica
        self._retry = settings.database.replica_retry_seconds
        self._down_until = 0.0
        self._since: float | None = None  # start of the current episode on the primary

    @property
    def replica_in_use(self) -> bool:
        return self.replica is not None and time.monotonic() >= self._down_until

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await self._replica_connection()
        if conn is None:
            async with self.primary.acquire() as conn:
                yield conn
            return
        assert self.replica is not None
        try:
            yield conn
        except Exception as exc:
            if isinstance(exc, asyncpg.SerializationError) and not _closed(conn):
                # a hot standby cancelled the read for a conflict with recovery (40001):
                # the replica is fine; replica_retry runs the request once more on it
                raise ReplicaLost("conflict with recovery") from exc
            # a query that ran into its own timeout is slow, not lost: it is not run again
            # on the primary (where the control room writes)
            lost = not isinstance(exc, TimeoutError) and (isinstance(exc, OSError) or outage.unavailable(exc))
            if not (lost or _closed(conn)):
                raise
            # lost under the query (the standby stopped): the next reads go to the primary,
            # and replica_retry runs this (GET) request again, now on the primary
            self._away(exc)
            raise ReplicaLost(type(exc).__name__) from exc
        finally:
            await self.replica.release(conn)

    async def _replica_connection(self) -> asyncpg.Connection | None:
        if not self.replica_in_use:
            self._count_fallback()
            return None
        assert self.replica is not None
        try:
            conn = await self.replica.acquire()
        except Exception as exc:  # any failure to connect: the primary answers
            # unreachable, starting up, refusing (too many connections, authentication), or
            # not having the database yet (a standby still replaying its creation)
            self._away(exc)
            self._count_fallback()
            return None
        if self._since is not None:
            seconds, self._since = time.monotonic() - self._since, None
            log.info(
                "read replica available again after %.1f s; analysts read from it",
                seconds,
                extra={"event": "replica_available"},
            )
        return conn

    def _away(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self._retry
        if self._since is None:
            self._since = time.monotonic()
            log.warning(
                "read replica unavailable (%s); analysts read from the primary, retrying every %.0f s",
                type(exc).__name__,
                self._retry,
                extra={"event": "replica_unavailable"},
            )

    def _count_fallback(self) -> None:
        if self.replica is None:
            return
        from burgerwacht.metrics import REPLICA_FALLBACKS

        REPLICA_FALLBACKS.inc()

    async def close(self) -> None:
        if self.replica is not None:
            await self.replica.close()


async def _init_replica_connection(conn: asyncpg.Connection) -> None:
    """The primary pool's codecs, without ending a primary outage (db.outage)."""
    from burgerwacht.db.pool import set_codecs

    await set_codecs(conn)


async def create_read_pool(primary: asyncpg.Pool, settings: Settings, **kw: Any) -> ReadPool:
    """The read pool: the replica's (connecting lazily, so a replica that is away at
    start-up only means reading from the primary for now) when ``read_database_url`` is
    set, else the primary alone."""
    if not settings.read_database_url:
        return ReadPool(primary, None, settings)
    from burgerwacht.db.pool import create_pool

    replica = await create_pool(
        settings.read_database_url,
        settings,
        min_size=0,
        init=_init_replica_connection,
        timeout=settings.database.replica_connect_timeout,
        application_name=REPLICA_APPLICATION_NAME,
        **kw,
    )
    return ReadPool(primary, replica, settings)
