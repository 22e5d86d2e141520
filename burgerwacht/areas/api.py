"""Area routes: CBS outlines as GeoJSON in WGS84."""

from __future__ import annotations

from aiohttp import web

from burgerwacht.areas import service
from burgerwacht.areas.models import AreaCollection, AreasQuery
from burgerwacht.auth.models import ROLES
from burgerwacht.web.api import Api, json_response
from burgerwacht.web.keys import READ_POOL

api = Api()


@api.get(
    "/api/v1/areas",
    summary="A municipality's gemeente/wijk/buurt outlines (GeoJSON, WGS84)",
    tags=["areas"],
    roles=ROLES,
    query=AreasQuery,
    response=AreaCollection,
    extra_content={"application/geo+json": {"schema": {"$ref": "#/components/schemas/AreaCollection"}}},
)
async def list_areas(request: web.Request, query: AreasQuery):
    async with request.app[READ_POOL].acquire() as conn:
        doc = await service.area_collection(conn, query.municipality, query.level)
    response = json_response(doc)
    if "application/geo+json" in request.headers.get("Accept", ""):
        response.content_type = "application/geo+json"
    return response
