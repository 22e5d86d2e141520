"""Area routes: CBS outlines as GeoJSON in WGS84."""

from __future__ import annotations

import weakref

from aiohttp import web

from burgerwacht.areas import service
from burgerwacht.areas.models import AreaCollection, AreasQuery
from burgerwacht.auth import scope
from burgerwacht.auth.models import ROLES
from burgerwacht.web.api import Api, check_scope, current_user
from burgerwacht.web.keys import READ_POOL, SETTINGS

api = Api()

#: One outline cache per application (a process normally runs one).
_caches: weakref.WeakKeyDictionary[web.Application, service.OutlineCache] = weakref.WeakKeyDictionary()


def _cache(app: web.Application) -> service.OutlineCache:
    cache = _caches.get(app)
    if cache is None:
        cache = _caches[app] = service.OutlineCache(app[SETTINGS].areas.cache_bytes)
    return cache


@api.get(
    "/api/v1/areas",
    summary=(
        "A municipality's gemeente/wijk/buurt outlines (GeoJSON, WGS84) with address counts; "
        "staff only, for municipalities in the caller's scope (national scope: all), else 403"
    ),
    tags=["areas"],
    roles=ROLES,
    query=AreasQuery,
    response=AreaCollection,
    extra_content={"application/geo+json": {"schema": {"$ref": "#/components/schemas/AreaCollection"}}},
)
async def list_areas(request: web.Request, query: AreasQuery):
    # The outlines are public CBS data, but the address counts per buurt and the set of
    # municipalities served are not published by this service: scoped like the signals.
    user = current_user(request)
    check_scope(user, [query.municipality])
    async with request.app[READ_POOL].acquire() as conn:
        body = await service.area_collection(conn, query.municipality, query.level, _cache(request.app))
    body = scope.keep_features(user, body)  # a wijkagent: the areas of their wijken
    geo = "application/geo+json" in request.headers.get("Accept", "")
    return web.Response(
        body=body, content_type="application/geo+json" if geo else "application/json", charset="utf-8"
    )
