"""Which methods a path answers: ``OPTIONS`` and every ``Allow`` header say the same.

aiohttp's own ``Allow`` is the union of the methods of every route whose pattern
matches the path, catch-alls included (Open311's ``/open311/v2/{tail}`` made GET-only
GeoReport paths list POST, which then answered 405). Here a method is allowed when the
router resolves it to a route that is not a fallback: a catch-all that only answers
errors for paths nothing else serves is marked with :func:`mark_fallback`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from aiohttp import web

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

_FALLBACKS: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()


def mark_fallback(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A handler that answers only errors (404/405) for paths no other route serves."""
    _FALLBACKS.add(handler)
    return handler


async def allowed_methods(request: web.Request) -> list[str]:
    """The methods this request's path answers with something other than 405, plus
    OPTIONS; empty when no route serves the path."""
    allowed = []
    for method in METHODS:
        match = await request.app.router.resolve(request.clone(method=method))
        if match.http_exception is None and match.handler not in _FALLBACKS:
            allowed.append(method)
    return [*allowed, "OPTIONS"] if allowed else []


def allow_header(methods: list[str]) -> str:
    return ", ".join(methods)


@web.middleware
async def options_middleware(request: web.Request, handler):
    """``OPTIONS`` on any served path: 204 with a truthful ``Allow``."""
    if request.method != "OPTIONS":
        return await handler(request)
    methods = await allowed_methods(request)
    if not methods:
        return await handler(request)  # the router's 404
    return web.Response(status=204, headers={"Allow": allow_header(methods)})
