"""The database being away (a restart, a failover, the connection limit reached) is an
expected condition that every caller handles, by retrying or by answering 503: it is
logged as one warning when it starts and one line when the database is back, not as an
error with a traceback per failed operation."""

from __future__ import annotations

import logging
import time

import asyncpg

log = logging.getLogger("burgerwacht.db")

#: What a request or job meets while PostgreSQL cannot be reached or refuses connections.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted (OSError subclasses from connect and the socket)
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExist, ConnectionFailure, ClientCannotConnect…
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)

#: Seconds a client is asked to wait before trying again.
RETRY_AFTER = 5

_since: float | None = None  # monotonic start of the current outage, None while all is well


#: asyncpg's InterfaceError when a connection it had is gone ("cannot call
#: Transaction.__aexit__(): the underlying connection is closed"); the application never
#: closes a connection under an operation, so this is the connection lost.
CLOSED_UNDER = "the underlying connection is closed"


def unavailable(exc: BaseException) -> bool:
    """The database (or PgBouncer's server connection: its "server conn crashed?" is a
    08P01, a connection error) is away; also an error raised while such a loss was being
    handled, and the connection found closed under an operation. In a failover, leaving
    the lost connection's transaction raised ``InterfaceError: … the underlying
    connection is closed`` after a ConnectionDoesNotExistError and, once, after asyncpg's
    own ``InternalClientError: cannot switch to state 12`` (both were 500s)."""
    current: BaseException | None = exc
    for _ in range(4):
        if current is None:
            return False
        if isinstance(current, UNAVAILABLE):
            return True
        if isinstance(current, asyncpg.InterfaceError) and CLOSED_UNDER in str(current):
            return True
        current = current.__context__
    return False


def noticed(exc: BaseException, where: str) -> None:
    """The database is away: one warning per episode, however many operations fail."""
    global _since
    if _since is None:
        _since = time.monotonic()
        log.warning(
            "database unavailable (%s in %s); retrying, and answering 503 meanwhile",
            type(exc).__name__,
            where,
            extra={"event": "database_unavailable"},
        )


def recovered() -> None:
    """A new connection was made: the episode (if any) is over."""
    global _since
    if _since is not None:
        seconds, _since = time.monotonic() - _since, None
        log.info("database available again after %.1f s", seconds, extra={"event": "database_available"})


def ongoing() -> bool:
    return _since is not None
