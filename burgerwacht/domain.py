"""What a domain package contributes to the service, declared in one object.

Each domain package (``alerts``, ``tips``, ``signals``, …) has a ``domain.py`` whose
``DOMAIN`` lists everything it plugs in: its HTTP routes, scheduled jobs, handlers for
inbound SMS, what erasure and the AVG export must do with its data, its CLI commands
and the background services a worker process runs. ``burgerwacht/domains.py`` lists
the domains once; the app factory, the scheduler, the SMS router, erasure, the export
and the CLI loop over that tuple. Nothing registers itself as a side effect of being
imported, so a feature is on exactly when its domain lists it (a typo is an
ImportError at start-up, not a silently missing feature).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg
    import click
    from aiohttp import web

    from burgerwacht.config import Settings
    from burgerwacht.residents.keywords import Command
    from burgerwacht.scheduler import JobSpec
    from burgerwacht.web.api import Api
    from burgerwacht.webhooks.inbound import Inbound

# An inbound SMS handler runs inside the webhook's transaction (which claimed the
# MessageSid); it returns the reply when it took the message, else None.
SmsHandler = Callable[["asyncpg.Connection", "Inbound", "Command"], Awaitable[str | None]]
# A fast handler does everything (claim, act, remember the reply) in one atomic statement
# of its own, for the hot path of a big alert: thousands of tips a minute.
FastSmsHandler = Callable[["web.Application", str, str, "Command"], Awaitable[str | None]]
# Erasure hooks run in the erasure transaction, before the resident row is deleted
# (resident_id is 0 when the number has no resident, only codes or texts).
ErasureHook = Callable[["asyncpg.Connection", int, str, "Settings"], Awaitable[None]]
# Export hooks add a section to a resident's AVG access export.
ExportHook = Callable[["asyncpg.Connection", int, str], Awaitable[Any]]
# A background service a worker process starts (returns an object with ``stop()``).
Starter = Callable[["web.Application"], Awaitable[Any]]


@dataclass(frozen=True)
class Domain:
    name: str
    apis: tuple[Api, ...] = ()
    jobs: tuple[JobSpec, ...] = ()
    sms_handlers: tuple[SmsHandler, ...] = ()
    fast_sms_handlers: tuple[FastSmsHandler, ...] = ()
    erasure_hooks: tuple[ErasureHook, ...] = ()
    export_hooks: dict[str, ExportHook] = field(default_factory=dict)
    commands: tuple[click.Command, ...] = ()
    workers: tuple[Starter, ...] = ()
