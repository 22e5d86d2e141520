"""Template routes: ``/api/v1/templates`` (operators for their municipalities, admins
for all; the rules are in ``service.py``)."""

from __future__ import annotations

from aiohttp import web

from burgerwacht.templates import service, store
from burgerwacht.templates.models import TemplateIn, TemplateList, TemplateOut, TemplatePatch
from burgerwacht.web.api import Api, current_user, json_response
from burgerwacht.web.errors import Problem
from burgerwacht.web.ids import parse_id
from burgerwacht.web.keys import POOL, SETTINGS

api = Api()
ROLES = {"operator", "admin"}
TAGS = ["templates"]
PATH = r"/api/v1/templates/{template_id:\d+}"


def _template_id(request: web.Request) -> int:
    raw = request.match_info["template_id"]
    template_id = parse_id(raw)
    if template_id is None:
        raise Problem(404, f"no template {raw[:40]}", slug="not-found")
    return template_id


@api.get(
    "/api/v1/templates",
    summary="Alert templates: your municipalities' and the national ones (admins: all)",
    tags=TAGS,
    roles=ROLES,
    response=TemplateList,
)
async def list_templates(request: web.Request):
    user = current_user(request)
    async with request.app[POOL].acquire() as conn:
        rows = await store.list_templates(conn, None if user.role == "admin" else user.scope())
    return TemplateList(items=[service.to_out(r) for r in rows])


@api.post(
    "/api/v1/templates",
    summary="Create an alert template with {placeholders} in its texts",
    tags=TAGS,
    roles=ROLES,
    body=TemplateIn,
    response=TemplateOut,
    status=201,
    responses={
        403: "Municipality outside your scope, or a national template by a non-admin",
        409: "The municipality already has a template with this name",
        422: "Invalid, a malformed placeholder, or over the configured limits",
    },
)
async def create_template(request: web.Request, body: TemplateIn):
    async with request.app[POOL].acquire() as conn, conn.transaction():
        out = await service.create(conn, request.app[SETTINGS], current_user(request), body)
    return json_response(out, 201, headers={"Location": f"/api/v1/templates/{out.id}"})


@api.get(
    PATH,
    summary="One alert template",
    tags=TAGS,
    roles=ROLES,
    response=TemplateOut,
    responses={404: "Unknown or outside your scope"},
)
async def get_template(request: web.Request):
    async with request.app[POOL].acquire() as conn:
        return service.to_out(await service.load_for(conn, current_user(request), _template_id(request)))


@api.patch(
    PATH,
    summary="Change an alert template",
    tags=TAGS,
    roles=ROLES,
    body=TemplatePatch,
    response=TemplateOut,
    responses={
        403: "A national template (admins only), or a municipality outside your scope",
        404: "Unknown or outside your scope",
        409: "The municipality already has a template with this name",
    },
)
async def patch_template(request: web.Request, body: TemplatePatch):
    changes = body.model_dump(exclude_unset=True)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        return await service.change(
            conn, request.app[SETTINGS], current_user(request), _template_id(request), changes
        )


@api.delete(
    PATH,
    summary="Delete an alert template (alerts made from it keep their texts)",
    tags=TAGS,
    roles=ROLES,
    status=204,
    responses={403: "A national template (admins only)", 404: "Unknown or outside your scope"},
)
async def delete_template(request: web.Request):
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await service.delete(conn, current_user(request), _template_id(request))
    return web.Response(status=204)
