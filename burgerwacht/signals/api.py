"""Signal routes: intake and triage (fieldworkers/operators), protected summaries,
gebiedsscan import, informatiepositie and reports (analysts). Open311 lives in
:mod:`burgerwacht.signals.open311` and is registered with this collection."""

from __future__ import annotations

from aiohttp import web

from burgerwacht.audit import store as audit
from burgerwacht.auth import scope
from burgerwacht.signals import intake, open311, priorities, reports, scan, store, summary
from burgerwacht.signals.models import (
    GebiedsscanOut,
    GebiedsscanQuery,
    InformatiepositieOut,
    InformatiepositieQuery,
    PrioritiesIn,
    PrioritiesOut,
    ReportDetail,
    ReportList,
    ReportsQuery,
    SignalIn,
    SignalList,
    SignalListQuery,
    SignalOut,
    SignalPatch,
    SummaryOut,
    SummaryQuery,
    TrendOut,
    TrendQuery,
)
from burgerwacht.signals.periods import today
from burgerwacht.web.api import Api, check_scope, current_user, json_response
from burgerwacht.web.errors import Problem
from burgerwacht.web.ids import parse_id
from burgerwacht.web.keys import POOL, READ_POOL, SETTINGS

api = Api()
FIELD = {"fieldworker", "operator"}
ANALYSTS = {"analyst", "admin"}
#: The police's wijkagent: records signals and reads the picture of their wijken only
#: (burgerwacht/auth/scope.py); never the signal list, texts or reports.
WIJKAGENT = {"wijkagent"}
TAGS = ["signals"]


def _id(request: web.Request, name: str) -> int:
    value = parse_id(request.match_info[name])
    if value is None:
        raise Problem(404, "no such item", slug="not-found")
    return value


def _wants_csv(request: web.Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept.split("text/csv")[0]


def _csv_response(text: str, filename: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ------------------------------------------------------------------ intake, triage


@api.post(
    "/api/v1/signals",
    summary="Record a Buurtsignaal (interview, schouw, handhaving): buurt or point, category, severity",
    tags=TAGS,
    roles=FIELD | WIJKAGENT | {"admin"},
    body=SignalIn,
    response=SignalOut,
    status=201,
)
async def create_signal(request: web.Request, body: SignalIn):
    user = current_user(request)
    point = (body.point.lat, body.point.lon) if body.point is not None else None
    async with request.app[POOL].acquire() as conn, conn.transaction():
        place, location = await intake.locate(conn, point=point, area_code=body.area_code)
        check_scope(user, [place.municipality_code])
        scope.check_area(user, place.buurt_code, "buurt")
        row = await intake.create_signal(
            conn,
            place=place,
            category=body.category,
            severity=body.severity,
            observed_on=body.observed_on or today(),
            source=body.source,
            text=body.text,
            location=location,
            created_by=user.actor,
            audit_actor=user.actor,
            max_backdate_days=(
                None if user.role == "admin" else request.app[SETTINGS].signals.max_backdate_days
            ),
        )
    return json_response(intake.signal_view(row, {place.buurt_code: place.buurt_name}), 201)


@api.get(
    "/api/v1/signals",
    summary="Signals with text and point, for triage by fieldworkers/operators of the municipality",
    tags=TAGS,
    roles=FIELD,
    query=SignalListQuery,
    response=SignalList,
)
async def list_signals(request: web.Request, query: SignalListQuery):
    user = current_user(request)
    scope = user.scope()
    if query.municipality:
        check_scope(user, [query.municipality])
        scope = [query.municipality]
    async with request.app[POOL].acquire() as conn:
        rows = await store.list_signals(
            conn,
            scope,
            status=query.status,
            category=query.category,
            buurt=query.buurt,
            since=query.from_,
            until=query.to,
            before_id=int(query.cursor) if query.cursor else None,
            limit=query.limit + 1,
        )
        await audit.append(
            conn, user.actor, "signal.list", "municipality", query.municipality, {"rows": len(rows)}
        )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return {
        "items": [intake.signal_view(r) for r in rows],
        "next": str(rows[-1]["id"]) if more and rows else None,
    }


@api.get(
    r"/api/v1/signals/{signal_id:\d+}",
    summary="One signal (fieldworkers/operators of its municipality)",
    tags=TAGS,
    roles=FIELD,
    response=SignalOut,
    responses={404: "Unknown signal"},
)
async def get_signal(request: web.Request):
    user = current_user(request)
    async with request.app[POOL].acquire() as conn:
        row = await store.signal_by_id(conn, _id(request, "signal_id"))
        if row is None or not user.can_access(row["municipality_code"]):
            raise Problem(404, "no such signal", slug="not-found")
        await audit.append(conn, user.actor, "signal.view", "signal", row["id"], {})
    return intake.signal_view(row)


@api.patch(
    r"/api/v1/signals/{signal_id:\d+}",
    summary="Triage a signal: category, severity, status, notes",
    tags=TAGS,
    roles=FIELD,
    body=SignalPatch,
    response=SignalOut,
    responses={404: "Unknown signal"},
)
async def patch_signal(request: web.Request, body: SignalPatch):
    user = current_user(request)
    changes = body.model_dump(exclude_unset=True)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        row = await store.signal_by_id(conn, _id(request, "signal_id"), lock=True)
        if row is None or not user.can_access(row["municipality_code"]):
            raise Problem(404, "no such signal", slug="not-found")
        row = await intake.patch_signal(conn, row, changes, actor=user.actor)
    return intake.signal_view(row)


# ------------------------------------------------------------------ analysts


@api.get(
    "/api/v1/signals/summary",
    summary="Suppressed and rounded signal counts per area and category (JSON, CSV or GeoJSON)",
    tags=TAGS,
    roles=ANALYSTS | WIJKAGENT,
    query=SummaryQuery,
    response=SummaryOut,
    extra_content={
        "text/csv": {"schema": {"type": "string"}},
        "application/geo+json": {"schema": {"type": "object"}},
    },
)
async def signal_summary(request: web.Request, query: SummaryQuery):
    user = current_user(request)
    check_scope(user, [query.municipality])
    scope.check_level(user, query.level)
    period = summary.requested_period(query.period, query.from_, query.to)
    req = summary.SummaryRequest(
        municipality=query.municipality,
        level=query.level,
        period=period,
        category=query.category,
        group=query.group,
        compare=query.compare == "previous",
    )
    settings = request.app[SETTINGS]
    async with request.app[READ_POOL].acquire() as conn:
        doc = await summary.summary(conn, settings, req)
        doc["items"] = scope.keep_items(user, doc["items"])
        geo = await summary.summary_geojson(conn, doc) if query.format == "geojson" else None
    fmt = "geojson" if geo is not None else ("csv" if _wants_csv(request, query.format) else "json")
    await audit.append(
        request.app[POOL],
        user.actor,
        "signals.summary",
        "municipality",
        query.municipality,
        {
            "level": query.level,
            "period": period.label,
            "category": query.category,
            "group": query.group,
            "format": fmt,
        },
    )
    if geo is not None:
        response = json_response(geo)
        response.content_type = "application/geo+json"
        return response
    if fmt == "csv":
        name = f"buurtsignaal-{query.municipality}-{period.label}-{query.level}.csv"
        return _csv_response(summary.rows_to_csv(doc["items"]), name)
    return doc


@api.get(
    "/api/v1/signals/trend",
    summary="One area's published monthly counts of a category or group (the summaries' figures)",
    tags=TAGS,
    roles=ANALYSTS | WIJKAGENT,
    query=TrendQuery,
    response=TrendOut,
)
async def signal_trend(request: web.Request, query: TrendQuery):
    user = current_user(request)
    check_scope(user, [query.municipality])
    scope.check_area(user, query.area or query.municipality)
    last = summary.requested_period(query.to, None, None, loc="query.to")
    if last.kind != "month":
        raise summary.invalid_period("'to' is a month (YYYY-MM)", "query.to")
    async with request.app[READ_POOL].acquire() as conn:
        doc = await summary.trend(
            conn,
            request.app[SETTINGS],
            query.municipality,
            area=query.area,
            category=query.category,
            group=query.group,
            last=last,
            months=query.months,
        )
    await audit.append(
        request.app[POOL],
        user.actor,
        "signals.trend",
        "municipality",
        query.municipality,
        {
            "area": doc["area_code"],
            "to": last.label,
            "months": query.months,
            "category": query.category,
            "group": query.group,
        },
    )
    return doc


@api.post(
    "/api/v1/gebiedsscan",
    summary="Import police registrations per area, theme and period (CSV); all lines or none",
    tags=TAGS,
    roles=ANALYSTS | WIJKAGENT,
    query=GebiedsscanQuery,
    response=GebiedsscanOut,
    body_content={"text/csv": {"schema": {"type": "string"}}},
    responses={
        415: "Not CSV",
        422: "Lines with errors (errors[].line), including lines overlapping another line or "
        "(without replace=true) a stored row of the same area and theme",
    },
)
async def import_gebiedsscan(request: web.Request, query: GebiedsscanQuery):
    user = current_user(request)
    if request.content_type not in ("text/csv", "text/plain", "application/csv"):
        raise Problem(
            415, f"send the file as text/csv, not {request.content_type}", slug="unsupported-media-type"
        )
    try:
        text = (await request.read()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(400, "the file is not UTF-8 text", slug="invalid-encoding") from None
    if scope.limited(user):
        scope.check_lines(user, [(r["line"], r["area_code"]) for r in scan.parse_gebiedsscan(text)[0]])
    async with request.app[POOL].acquire() as conn:
        result, errors = await scan.import_gebiedsscan(
            conn, text, actor=user.actor, can_access=user.can_access, replace=query.replace
        )
        if errors:
            shown = [e.as_dict() for e in errors[:1000]]
            raise Problem(
                422,
                f"{len(errors)} line(s) with errors; nothing was imported",
                slug="gebiedsscan-invalid",
                title="Validation failed",
                errors=shown,
            )
        await audit.append(
            conn, user.actor, "gebiedsscan.import", "gebiedsscan", None, {**result, "replace": query.replace}
        )
    return result


@api.get(
    "/api/v1/informatiepositie",
    summary="Signals (straatkennis) next to police registrations (systeemkennis) per area and theme, "
    "both protected; priorities with progress (JSON or CSV)",
    tags=TAGS,
    roles=ANALYSTS | WIJKAGENT,
    query=InformatiepositieQuery,
    response=InformatiepositieOut,
    extra_content={"text/csv": {"schema": {"type": "string"}}},
)
async def get_informatiepositie(request: web.Request, query: InformatiepositieQuery):
    user = current_user(request)
    check_scope(user, [query.municipality])
    period = summary.requested_period(query.period, None, None)
    async with request.app[READ_POOL].acquire() as conn:
        doc = await scan.informatiepositie(
            conn, request.app[SETTINGS], query.municipality, period, limit=query.limit
        )
    doc["items"] = scope.keep_items(user, doc["items"])
    doc["priorities"] = scope.keep_items(user, doc["priorities"])
    await audit.append(
        request.app[POOL],
        user.actor,
        "informatiepositie.view",
        "municipality",
        query.municipality,
        {"period": period.label, "format": "csv" if _wants_csv(request, query.format) else "json"},
    )
    if _wants_csv(request, query.format):
        name = f"informatiepositie-{query.municipality}-{period.label}.csv"
        return _csv_response(summary.rows_to_csv(doc["items"], scan.INFORMATIEPOSITIE_CSV_COLUMNS), name)
    return doc


PRIORITIES_PATH = r"/api/v1/municipalities/{code:GM[0-9][0-9][0-9][0-9]}/priorities"


@api.get(
    PRIORITIES_PATH,
    summary="A municipality's theme priorities: weights (default: defaults/signals.toml) and targets",
    tags=TAGS,
    roles=ANALYSTS,
    response=PrioritiesOut,
    responses={404: "Unknown municipality"},
)
async def get_priorities(request: web.Request):
    user = current_user(request)
    code = request.match_info["code"]
    check_scope(user, [code])
    # the primary: an analyst reads back the priorities they have just set (PUT)
    async with request.app[POOL].acquire() as conn:
        if not await store.municipality_exists(conn, code):
            raise Problem(404, f"no municipality {code}", slug="not-found")
        return await priorities.get(conn, code)


@api.route(
    "PUT",
    PRIORITIES_PATH,
    summary="Set a municipality's theme priorities (the whole list): weight 0-10, target change in % "
    "against a baseline year; audited",
    tags=TAGS,
    roles=ANALYSTS,
    body=PrioritiesIn,
    response=PrioritiesOut,
    responses={404: "Unknown municipality", 422: "Unknown or repeated theme, weight or target out of range"},
)
async def put_priorities(request: web.Request, body: PrioritiesIn):
    user = current_user(request)
    code = request.match_info["code"]
    check_scope(user, [code])
    items = [i.model_dump() for i in body.items]
    async with request.app[POOL].acquire() as conn:
        return await priorities.put(conn, code, items, actor=user.actor)


@api.get(
    "/api/v1/reports",
    summary="Stored weekly signal reports",
    tags=TAGS,
    roles=ANALYSTS,
    query=ReportsQuery,
    response=ReportList,
)
async def list_reports(request: web.Request, query: ReportsQuery):
    user = current_user(request)
    scope = user.scope()
    if query.municipality:
        check_scope(user, [query.municipality])
        scope = [query.municipality]
    async with request.app[READ_POOL].acquire() as conn:
        rows = await store.list_reports(
            conn, scope, int(query.cursor) if query.cursor else None, query.limit + 1
        )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return {
        "items": [reports.report_view(r) for r in rows],
        "next": str(rows[-1]["id"]) if more and rows else None,
    }


@api.get(
    r"/api/v1/reports/{report_id:\d+}",
    summary="One stored report (JSON, or CSV with Accept: text/csv)",
    tags=TAGS,
    roles=ANALYSTS,
    response=ReportDetail,
    extra_content={"text/csv": {"schema": {"type": "string"}}},
    responses={404: "Unknown report"},
)
async def get_report(request: web.Request):
    user = current_user(request)
    async with request.app[READ_POOL].acquire() as conn:
        row = await store.report(conn, _id(request, "report_id"))
    if row is None or not user.can_access(row["municipality_code"]):
        raise Problem(404, "no such report", slug="not-found")
    await audit.append(request.app[POOL], user.actor, "report.view", "signal_report", row["id"], {})
    if _wants_csv(request, None):
        return _csv_response(summary.rows_to_csv(row["content"]["items"]), f"report-{row['id']}.csv")
    return {**reports.report_view(row), "content": row["content"]}


open311.register(api)
