"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from burgerwacht.db import migrate
from burgerwacht.web.api import Api, json_response
from burgerwacht.web.keys import POOL

api = Api()


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: Literal["ok", "unreachable"]
    pending_migrations: list[str]
    error: str | None = None


@api.get("/healthz", summary="The process is up", tags=["system"], response=Health)
async def healthz(request: web.Request):
    return Health(status="ok")


@api.get(
    "/readyz",
    summary="The database is reachable and every migration is applied",
    tags=["system"],
    response=Readiness,
    responses={503: "Not ready (body is a Readiness document)"},
)
async def readyz(request: web.Request):
    try:
        async with asyncio.timeout(3):
            async with request.app[POOL].acquire() as conn:
                todo = await migrate.pending(conn)
    except migrate.MigrationError as exc:  # e.g. an applied migration was edited: not ready, say why
        return json_response(
            Readiness(status="not_ready", database="ok", pending_migrations=[], error=str(exc)), 503
        )
    except Exception:  # unreachable, timed out, refused: not ready
        return json_response(
            Readiness(status="not_ready", database="unreachable", pending_migrations=[]), 503
        )
    names = [m.path.name for m in todo]
    status = 200 if not names else 503
    return json_response(
        Readiness(status="ready" if not names else "not_ready", database="ok", pending_migrations=names),
        status,
    )


@api.get("/api/v1/openapi.json", summary="This API as an OpenAPI 3.1 document", tags=["system"])
async def openapi(request: web.Request):
    from burgerwacht.web.app import OPENAPI

    return json_response(request.app[OPENAPI])
