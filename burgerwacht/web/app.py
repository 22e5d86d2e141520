"""The application factory: ``create_app(settings)``.

Each resource the app holds (database pools, the Twilio client, background tasks) has
its own ``cleanup_ctx`` so start-up and shutdown happen in order and are undone in
reverse. Routes and worker services come from the domains listed in
``burgerwacht/domains.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from burgerwacht import __version__
from burgerwacht.config import Settings
from burgerwacht.db.pool import create_pool, resolve_database_url
from burgerwacht.db.replica import create_read_pool, replica_retry
from burgerwacht.domains import DOMAINS
from burgerwacht.logs import REQUEST_ID
from burgerwacht.metrics import observe_request
from burgerwacht.web.api import Api, RouteSpec, build_openapi
from burgerwacht.web.errors import Problem, form_guard, problem_middleware, problem_response
from burgerwacht.web.keys import BACKGROUND, DIRECT_URL, LAZY, POOL, PROVIDER, READ_POOL, ROLES, SETTINGS
from burgerwacht.web.keys import REQUEST_ID as REQUEST_ID_KEY
from burgerwacht.web.methods import options_middleware

log = logging.getLogger(__name__)
access_log = logging.getLogger("burgerwacht.access")

OPENAPI = web.AppKey("openapi", dict)
DATABASE_URL = web.AppKey("database_url", str)

WEB, WORKER, SCHEDULER = "web", "worker", "scheduler"


def all_apis() -> list[Api]:
    """Every route collection, in documentation order (the order of DOMAINS)."""
    return [api for domain in DOMAINS for api in domain.apis]


def all_specs() -> list[RouteSpec]:
    return [s for a in all_apis() for s in a.specs]


@web.middleware
async def request_context(request: web.Request, handler):
    """Request id (from X-Request-Id or new), a time limit, one access-log line."""
    rid = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    request[REQUEST_ID_KEY] = rid
    token = REQUEST_ID.set(rid)
    start = time.perf_counter()
    status = 500
    streaming = request.path.endswith("/events") or request.headers.get("Accept", "").startswith(
        "text/event-stream"
    )
    try:
        limit = None if streaming else request.app[SETTINGS].http.request_timeout
        try:
            async with asyncio.timeout(limit):
                response = await handler(request)
        except TimeoutError:
            response = problem_response(
                Problem(503, "the request took too long; try again", slug="timeout"), request
            )
        status = response.status
        response.headers["X-Request-Id"] = rid
        return response
    finally:
        elapsed = time.perf_counter() - start
        observe_request(_route_template(request), request.method, status, None if streaming else elapsed)
        # path only: query strings can hold personal data
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            status,
            elapsed * 1000,
            extra={"status": status},
        )
        REQUEST_ID.reset(token)


def _route_template(request: web.Request) -> str:
    """The matched route's template (``/api/v1/alerts/{alert_id}``), or ``unmatched``."""
    try:
        info = request.match_info.route.resource
    except AttributeError:
        return "unmatched"
    if info is None:
        return "unmatched"
    return getattr(info, "canonical", None) or "unmatched"


def _pool_ctx(settings: Settings, url: str | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        db_url = url or await asyncio.get_running_loop().run_in_executor(None, resolve_database_url, settings)
        app[DATABASE_URL] = db_url
        app[DIRECT_URL] = settings.database.direct_url
        pool = await create_pool(db_url, settings)
        app[POOL] = pool
        read_pool = await create_read_pool(pool, settings)
        app[READ_POOL] = read_pool
        try:
            yield
        finally:
            await read_pool.close()
            await pool.close()

    return pool_ctx


async def provider_ctx(app: web.Application) -> AsyncIterator[None]:
    from burgerwacht.messaging import TwilioProvider

    t = app[SETTINGS].twilio
    provider = TwilioProvider(
        account_sid=t.account_sid,
        auth_token=t.auth_token,
        from_number=t.from_number,
        api_base=str(t.api_base).rstrip("/"),
        timeout=t.timeout_seconds,
        max_connections=t.max_connections,
    )
    app[PROVIDER] = provider
    try:
        yield
    finally:
        await provider.close()


async def background_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the worker and scheduler roles this process runs; stop them on shutdown."""
    tasks: list[Any] = []
    app[BACKGROUND] = tasks
    roles = app[ROLES]
    starters = []
    if WORKER in roles:
        starters.extend(start for domain in DOMAINS for start in domain.workers)
    if SCHEDULER in roles:
        from burgerwacht.scheduler import start_scheduler

        starters.append(start_scheduler)
    for start in starters:
        tasks.append(await start(app))
    try:
        yield
    finally:
        for service in reversed(tasks):
            await service.stop()


async def _close_lazy(app: web.Application) -> None:
    """Stop what a domain started on first use (e.g. the tips' photo fetcher) before the
    pools close."""
    for resource in list(app[LAZY].values()):
        close = getattr(resource, "aclose", None)
        if close is not None:
            await close()


def create_app(
    settings: Settings,
    *,
    roles: frozenset[str] | set[str] = frozenset({WEB}),
    database_url: str | None = None,
    extra_contexts: list[Callable[[web.Application], AsyncIterator[None]]] | None = None,
) -> web.Application:
    """Build the service. ``roles`` picks what runs in this process (web routes are
    always mounted, so health checks work for worker-only processes too)."""
    app = web.Application(
        middlewares=[request_context, problem_middleware, options_middleware, form_guard, replica_retry],
        client_max_size=settings.http.max_body_bytes,
        handler_args={"max_field_size": 16384},
    )
    app[SETTINGS] = settings
    app[ROLES] = frozenset(roles)
    app[LAZY] = {}
    for api in all_apis():
        api.register(app)
    app[OPENAPI] = build_openapi(
        all_specs(), title="Burgerwacht", version=__version__, server_url=settings.public_base
    )
    app.cleanup_ctx.append(_pool_ctx(settings, database_url))
    app.cleanup_ctx.append(provider_ctx)
    from burgerwacht.events import end_streams, events_ctx

    app.cleanup_ctx.append(events_ctx)
    app.on_shutdown.append(end_streams)
    app.on_shutdown.append(_close_lazy)
    for ctx in extra_contexts or []:
        app.cleanup_ctx.append(ctx)
    app.cleanup_ctx.append(background_ctx)
    return app
