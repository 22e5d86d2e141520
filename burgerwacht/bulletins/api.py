"""Bulletin routes: send one to a buurt or wijk, list them."""

from __future__ import annotations

from aiohttp import web

from burgerwacht.bulletins import service, store
from burgerwacht.bulletins.models import BulletinIn, BulletinList, BulletinOut, BulletinQuery
from burgerwacht.web.api import Api, check_scope, current_user, json_response
from burgerwacht.web.keys import POOL, SETTINGS

api = Api()
ROLES = {"analyst", "fieldworker", "admin"}
TAGS = ["bulletins"]


@api.post(
    "/api/v1/bulletins",
    summary="Send a buurt bulletin: a short non-urgent SMS to the residents of a buurt or wijk who opted in",
    tags=TAGS,
    roles=ROLES,
    body=BulletinIn,
    response=BulletinOut,
    status=202,
    responses={403: "Area outside your scope", 422: "Unknown area, or the SMS too long"},
)
async def send_bulletin(request: web.Request, body: BulletinIn):
    user = current_user(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        doc = await service.send(conn, request.app[SETTINGS], user, body.area_code, body.message)
    return json_response(doc, 202)


@api.get(
    "/api/v1/bulletins",
    summary="Bulletins sent in your municipalities, newest first",
    tags=TAGS,
    roles=ROLES,
    query=BulletinQuery,
    response=BulletinList,
)
async def list_bulletins(request: web.Request, query: BulletinQuery):
    user = current_user(request)
    scope = user.scope()
    if query.municipality:
        check_scope(user, [query.municipality])
        scope = [query.municipality]
    async with request.app[POOL].acquire() as conn:
        rows = await store.list_bulletins(
            conn, scope, int(query.cursor) if query.cursor else None, query.limit + 1
        )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    settings = request.app[SETTINGS]
    return {
        "items": [service.view(r, settings) for r in rows],
        "next": str(rows[-1]["id"]) if more and rows else None,
    }
