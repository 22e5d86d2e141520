"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from burgerwacht.db import migrate
from burgerwacht.web.api import Api, json_response
from burgerwacht.web.keys import LAZY, POOL

api = Api()
_SCHEMA_CURRENT = "readyz-schema-current"


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
    """Ready when the database answers and its schema is at this code's latest migration
    (none pending, none edited, none unknown; no migrations found at all, as in an
    incomplete install, is not ready either). Once the schema was found current, later
    probes only check that the database answers: migrations are not undone."""
    current = request.app[LAZY].get(_SCHEMA_CURRENT, False)
    try:
        async with asyncio.timeout(3):
            async with request.app[POOL].acquire() as conn:
                todo = [] if current else await migrate.pending(conn)
                if current:
                    await conn.fetchval("SELECT 1")
    except migrate.MigrationError as exc:  # e.g. an applied migration was edited: not ready, say why
        return json_response(
            Readiness(status="not_ready", database="ok", pending_migrations=[], error=str(exc)), 503
        )
    except Exception:  # unreachable, timed out, refused: not ready
        return json_response(
            Readiness(status="not_ready", database="unreachable", pending_migrations=[]), 503
        )
    names = [m.path.name for m in todo]
    if names:
        error = f"the database schema is {len(names)} migration(s) behind this code: run burgerwacht migrate"
        return json_response(
            Readiness(status="not_ready", database="ok", pending_migrations=names, error=error), 503
        )
    request.app[LAZY][_SCHEMA_CURRENT] = True
    return json_response(Readiness(status="ready", database="ok", pending_migrations=[]), 200)


@api.get("/api/v1/openapi.json", summary="This API as an OpenAPI 3.1 document", tags=["system"])
async def openapi(request: web.Request):
    from burgerwacht.web.app import OPENAPI

    return json_response(request.app[OPENAPI])
