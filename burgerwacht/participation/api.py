"""Participation routes: coverage per buurt or wijk (JSON or GeoJSON)."""

from __future__ import annotations

from aiohttp import web

from burgerwacht.audit import store as audit
from burgerwacht.participation import service
from burgerwacht.participation.models import ParticipationOut, ParticipationQuery
from burgerwacht.web.api import Api, check_scope, current_user, json_response
from burgerwacht.web.keys import POOL, READ_POOL, SETTINGS

api = Api()
#: A wijkagent reads the rows of their own wijken (and the buurten inside them).
READERS = {"analyst", "operator", "wijkagent"}
GEOJSON = "application/geo+json"


@api.get(
    "/api/v1/participation",
    summary="Enrolled residents per buurt or wijk (by channel) beside CBS inhabitants and households; "
    "counts perturbed, k-suppressed and rounded (JSON, or GeoJSON for a map)",
    tags=["participation"],
    roles=READERS,
    query=ParticipationQuery,
    response=ParticipationOut,
    extra_content={GEOJSON: {"schema": {"type": "object"}}},
)
async def get_participation(request: web.Request, query: ParticipationQuery):
    user = current_user(request)
    check_scope(user, [query.municipality])
    geo = query.format == "geojson" or (query.format is None and GEOJSON in request.headers.get("Accept", ""))
    async with request.app[READ_POOL].acquire() as conn:
        doc = await service.participation(conn, request.app[SETTINGS], query.municipality, query.level, user)
        body = await service.as_geojson(conn, doc) if geo else doc
    await audit.append(
        request.app[POOL],
        user.actor,
        "participation.view",
        "municipality",
        query.municipality,
        {"level": query.level, "format": "geojson" if geo else "json"},
    )
    response = json_response(body)
    if geo:
        response.content_type = GEOJSON
    return response
