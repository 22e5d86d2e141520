"""Typed application keys: every resource an app holds, named once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
from aiohttp import web

from burgerwacht.config import Settings

if TYPE_CHECKING:
    from burgerwacht.events import EventHub
    from burgerwacht.messaging import TwilioProvider

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
# Analyst reads; the replica when configured, else the same pool as POOL.
READ_POOL = web.AppKey("read_pool", asyncpg.Pool)
PROVIDER: web.AppKey[TwilioProvider] = web.AppKey("provider")
EVENTS: web.AppKey[EventHub] = web.AppKey("events")
ROLES = web.AppKey("roles", frozenset)
BACKGROUND: web.AppKey[list[Any]] = web.AppKey("background")
# Objects a domain creates on first use and keeps for the app's lifetime (e.g. the tips'
# group commit), by name; set up empty by create_app.
LAZY: web.AppKey[dict[str, Any]] = web.AppKey("lazy")
REQUEST_ID = web.RequestKey("request_id", str)
