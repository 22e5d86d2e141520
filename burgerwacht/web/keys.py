"""Typed application keys: every resource an app holds, named once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from aiohttp import web

from burgerwacht.config import Settings

if TYPE_CHECKING:
    from burgerwacht.db.replica import ReadPool
    from burgerwacht.events import EventHub
    from burgerwacht.messaging import TwilioProvider

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
# Analyst reads: the replica when configured (falling back to POOL while it is away),
# else POOL itself (db/replica.py).
READ_POOL: web.AppKey[ReadPool] = web.AppKey("read_pool")
# database.direct_url: PostgreSQL itself for the sessions LISTEN needs (workers, the event
# hub); "": a pool connection, or (behind PgBouncer) no LISTEN at all.
DIRECT_URL = web.AppKey("direct_url", str)
PROVIDER: web.AppKey[TwilioProvider] = web.AppKey("provider")
EVENTS: web.AppKey[EventHub] = web.AppKey("events")
ROLES = web.AppKey("roles", frozenset)
BACKGROUND: web.AppKey[list[Any]] = web.AppKey("background")
# Objects a domain creates on first use and keeps for the app's lifetime (e.g. the tips'
# group commit), by name; set up empty by create_app.
LAZY: web.AppKey[dict[str, Any]] = web.AppKey("lazy")
T = TypeVar("T")
REQUEST_ID = web.RequestKey("request_id", str)


def lazy(app: web.Application, name: str, make: Callable[[], T]) -> T:
    """The app's object ``name`` in LAZY, made by ``make()`` on first use."""
    found = app[LAZY].get(name)
    if found is None:
        found = app[LAZY][name] = make()
    return found
