"""What counts as "the database is away" (503 and a retry, one warning per outage) and
what stays an error. An error raised while a lost connection was being handled was a 500
in a failover through PgBouncer (tests/scaleout/test_failover.py)."""

from __future__ import annotations

import asyncpg
import pytest

from burgerwacht.db import outage


def raised_while_handling(first: BaseException, then: BaseException) -> BaseException:
    try:
        try:
            raise first
        except BaseException:
            raise then  # noqa: B904 - the implicit context is what is being tested
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError(),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        # PgBouncer (08P01) when the server under a query died, and while it cannot log in
        asyncpg.ProtocolViolationError("server conn crashed?"),
        asyncpg.ProtocolViolationError("server login has been failing, try again later (server_login_retry)"),
        asyncpg.ProtocolViolationError("pgbouncer cannot connect to server"),
        # leaving the transaction of a connection that was lost under it (seen in a failover)
        raised_while_handling(
            asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
            asyncpg.InterfaceError(
                "cannot call Transaction.__aexit__(): the underlying connection is closed"
            ),
        ),
        # the same after asyncpg lost track of the protocol's state (a failover, once)
        raised_while_handling(
            asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
            asyncpg.InterfaceError(
                "cannot call Transaction.__aexit__(): the underlying connection is closed"
            ),
        ),
    ],
    ids=lambda e: f"{type(e).__name__}: {str(e)[:40]}",
)
def test_the_database_away(exc):
    assert outage.unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        ValueError("a bug"),
        raised_while_handling(ValueError("a bug"), KeyError("another")),
    ],
    ids=lambda e: f"{type(e).__name__}: {str(e)[:40]}",
)
def test_an_error_is_not_an_outage(exc):
    assert not outage.unavailable(exc)
