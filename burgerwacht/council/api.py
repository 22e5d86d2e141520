"""The council report route: one printable HTML page, or the same figures as CSV."""

from __future__ import annotations

from aiohttp import web

from burgerwacht.audit import store as audit
from burgerwacht.council import service
from burgerwacht.council.models import SafetyReportQuery
from burgerwacht.council.report import render_csv, render_html
from burgerwacht.web.api import Api, check_scope, current_user
from burgerwacht.web.keys import POOL, READ_POOL, SETTINGS

api = Api()
TAGS = ["reports"]

#: The page is self-contained: its own inline style, no script, nothing fetched.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
)


def _wants_csv(request: web.Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "text/html" not in accept.split("text/csv")[0]


@api.get(
    "/api/v1/reports/safety",
    summary="Safety report for the council and the lokale driehoek (printable HTML, or CSV)",
    tags=TAGS,
    roles={"analyst", "admin"},
    query=SafetyReportQuery,
    content_type="text/html",
    extra_content={"text/csv": {"schema": {"type": "string"}}},
    responses={404: "Unknown municipality"},
)
async def safety_report(request: web.Request, query: SafetyReportQuery):
    user = current_user(request)
    check_scope(user, [query.municipality])
    period = service.report_period(query.year, query.quarter)
    csv = _wants_csv(request, query.format)
    async with request.app[READ_POOL].acquire() as conn:
        report = await service.build(conn, request.app[SETTINGS], query.municipality, period)
    await audit.append(
        request.app[POOL],
        user.actor,
        "report.safety",
        "municipality",
        query.municipality,
        {"period": period.label, "format": "csv" if csv else "html"},
    )
    name = f"veiligheidsrapportage-{query.municipality}-{period.label}"
    if csv:
        return web.Response(
            text=render_csv(report),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return web.Response(
        text=render_html(report),
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": REPORT_CSP,
            "Content-Disposition": f'inline; filename="{name}.html"',
            "Cache-Control": "no-store",
        },
    )
