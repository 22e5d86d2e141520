"""Routes: effectiveness figures per level and month (operators exact, analysts
protected) and the joint picture per buurt (protected for everyone)."""

from __future__ import annotations

import io

from aiohttp import web

from burgerwacht import csvsafe
from burgerwacht.audit import store as audit
from burgerwacht.auth import scope
from burgerwacht.effectiveness import service
from burgerwacht.effectiveness.models import PictureOut, PictureQuery, StatsOut, StatsQuery
from burgerwacht.web.api import Api, check_scope, current_user
from burgerwacht.web.keys import POOL, READ_POOL, SETTINGS

api = Api()
TAGS = ["effectiveness"]

# One role per line: a new role (the wijkagent) is one line here.
STATS_ROLES = frozenset(
    {
        "operator",  # exact figures
        "analyst",  # protected figures (privacy.py)
        "admin",  # protected figures
    }
)
PICTURE_ROLES = frozenset(
    {
        "analyst",
        "operator",
        "admin",
        "wijkagent",  # only the buurten of their wijken (auth/scope.py)
    }
)


def _wants_csv(request: web.Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept.split("text/csv")[0]


# /api/v1/alerts/stats is not shadowed by GET /api/v1/alerts/{alert_id}, whatever the
# order of the domains: aiohttp (>= 3.10) tries the most specific path first, a plain
# resource before the dynamic one of its parent (tests/api/test_effectiveness.py calls it).
@api.get(
    "/api/v1/alerts/stats",
    summary="Alert effectiveness per level and month: reach, tips, time to the first (useful) tip, "
    "outcomes, time to close (JSON, or CSV with Accept: text/csv)",
    tags=TAGS,
    roles=STATS_ROLES,
    query=StatsQuery,
    response=StatsOut,
    extra_content={"text/csv": {"schema": {"type": "string"}}},
    responses={
        403: "Municipality outside your scope",
        422: "Bad dates: from after to, or more than 24 months",
    },
)
async def alert_stats(request: web.Request, query: StatsQuery):
    user = current_user(request)
    check_scope(user, [query.municipality])
    async with request.app[READ_POOL].acquire() as conn:
        out = await service.stats(
            conn, request.app[SETTINGS], user, query.municipality, query.from_, query.to, query.level
        )
    csv = _wants_csv(request, query.format)
    await audit.append(
        request.app[POOL],
        user.actor,
        "alerts.stats",
        "municipality",
        query.municipality,
        {"from": out.from_.isoformat(), "to": out.to.isoformat(), "level": query.level, "csv": csv},
    )
    if not csv:
        return out
    buf = io.StringIO()
    csvsafe.writer(buf).writerows(service.stats_csv_rows(out))
    name = f"alert-effectiveness-{query.municipality}-{out.from_:%Y-%m}-{out.to:%Y-%m}.csv"
    return web.Response(
        text=buf.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@api.get(
    "/api/v1/picture",
    summary="The joint picture (gezamenlijk informatiebeeld): alerts per buurt, month and level; per buurt "
    "for the year the tips for those alerts (k rule) and outcome shares",
    tags=TAGS,
    roles=PICTURE_ROLES,
    query=PictureQuery,
    response=PictureOut,
    responses={403: "Municipality outside your scope (a wijkagent sees only the buurten of their wijken)"},
)
async def joint_picture(request: web.Request, query: PictureQuery):
    user = current_user(request)
    check_scope(user, [query.municipality])
    async with request.app[READ_POOL].acquire() as conn:
        out = await service.picture(conn, request.app[SETTINGS], query.municipality, query.year)
    if scope.limited(user):
        out.alerts = [a for a in out.alerts if scope.allows(user, a.area_code)]
        out.buurten = [b for b in out.buurten if scope.allows(user, b.area_code)]
    await audit.append(
        request.app[POOL],
        user.actor,
        "picture.read",
        "municipality",
        query.municipality,
        {"year": query.year},
    )
    return out
