"""Console routes: the operator and analyst pages and their static files.

The pages are static: they hold no data and no secrets. The browser signs in with a
staff token kept in ``sessionStorage`` and calls the JSON API with it (the token never
goes into a URL). Every page is sent with a strict Content-Security-Policy (same origin
only, no inline script or style) and ``Cache-Control: no-store``; scripts and styles
are revalidated with an ETag so a new release is picked up at once.

Files are read relative to this module, so an editable install works as is; a wheel
needs ``**/*.html``, ``**/*.js`` and ``**/*.css`` in the package data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aiohttp import web

from burgerwacht.web.api import Api
from burgerwacht.web.errors import Problem

api = Api()
TAGS = ["console"]
STATIC_DIR = Path(__file__).parent / "static"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "media-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
PAGES = {"operator": "index.html", "analyst": "analyse.html", "field": "veld.html"}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


@cache
def static_files() -> dict[str, StaticFile]:
    """Every servable file under static/, by its path relative to it (read once)."""
    files: dict[str, StaticFile] = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        ctype = CONTENT_TYPES.get(path.suffix)
        if not path.is_file() or ctype is None:
            continue
        body = path.read_bytes()
        files[path.relative_to(STATIC_DIR).as_posix()] = StaticFile(
            body, ctype, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        )
    return files


def _page(name: str, headers: dict[str, str] | None = None) -> web.Response:
    f = static_files()[name]
    return web.Response(
        body=f.body,
        content_type=f.content_type,
        charset="utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store", **(headers or {})},
    )


@api.get("/console", summary="The web console (redirects to /console/)", tags=TAGS, content_type="text/html")
async def console_root(request: web.Request):
    raise web.HTTPFound("/console/")


@api.get(
    "/console/",
    summary="Operator console: start, watch and close alerts; read live tips (HTML)",
    tags=TAGS,
    content_type="text/html",
)
async def operator_page(request: web.Request):
    return _page(PAGES["operator"])


@api.get(
    "/console/analyse",
    summary="Analyst pages: signals per buurt on a map, trend, informatiepositie, downloads (HTML)",
    tags=TAGS,
    content_type="text/html",
)
async def analyst_page(request: web.Request):
    return _page(PAGES["analyst"])


@api.get(
    "/console/veld",
    summary="Fieldworker page (phone): record signals by location or map, triage open ones (HTML)",
    tags=TAGS,
    content_type="text/html",
)
async def field_page(request: web.Request):
    # this page may ask for the device's location (the others may not)
    policy = SECURITY_HEADERS["Permissions-Policy"].replace("geolocation=()", "geolocation=(self)")
    return _page(PAGES["field"], {"Permissions-Policy": policy})


@api.get(
    r"/console/static/{name:[A-Za-z0-9_.\-/]+}",
    summary="The console's scripts and styles",
    tags=TAGS,
    content_type="text/javascript",
    responses={404: "No such file"},
)
async def static_file(request: web.Request):
    name = request.match_info["name"]
    f = static_files().get(name) if len(name) <= 100 else None
    if f is None or name.endswith(".html"):
        raise Problem(404, f"no console file {name}", slug="not-found")
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",  # revalidate: cheap 304s, and a release shows at once
        "ETag": f.etag,
    }
    if f.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if f.content_type.startswith(("text/", "image/svg")) else None
    return web.Response(body=f.body, content_type=f.content_type, charset=charset, headers=headers)
