"""Console routes: the operator and analyst pages and their static files.

The pages are static: they hold no data and no secrets. The browser signs in with a
staff token kept in ``sessionStorage`` and calls the JSON API with it (the token never
goes into a URL). Every page is sent with a strict Content-Security-Policy (same origin
only, no inline script or style; images also from the configured tile server) and
``Cache-Control: no-store``; scripts and styles are revalidated with an ETag so a new
release is picked up at once. Vendored libraries (``static/vendor/<name>-<version>/``,
see ``scripts/vendor-leaflet.sh``) have the version in their path and are cached for a
year as immutable.

Files are read relative to this module, so an editable install works as is; a wheel
needs ``**/*.html``, ``**/*.js`` and ``**/*.css`` in the package data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel

from burgerwacht.config import ConsoleSettings
from burgerwacht.web.api import Api, json_response
from burgerwacht.web.errors import Problem
from burgerwacht.web.keys import SETTINGS

api = Api()
TAGS = ["console"]
STATIC_DIR = Path(__file__).parent / "static"

IMG_SRC = "img-src 'self' data: blob:"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        IMG_SRC,
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
VENDOR_PREFIX = "vendor/"
VENDOR_CACHE = "public, max-age=31536000, immutable"  # the version is in the path
LEAFLET = "vendor/leaflet-1.9.4"  # scripts/vendor-leaflet.sh writes it
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


@cache
def console_csp(tiles_origin: str) -> str:
    """The console's CSP: images may also come from the tile server (nothing else changes)."""
    if not tiles_origin:
        return CSP
    return CSP.replace(IMG_SRC, f"{IMG_SRC} {tiles_origin}", 1)


def _page(
    request: web.Request, name: str, headers: dict[str, str] | None = None, *, base_map: bool = True
) -> web.Response:
    """A console page; ``base_map``: it draws tiles (its CSP allows the tile server's images)."""
    f = static_files()[name]
    csp = console_csp(request.app[SETTINGS].console.tiles_origin if base_map else "")
    return web.Response(
        body=f.body,
        content_type=f.content_type,
        charset="utf-8",
        headers={
            **SECURITY_HEADERS,
            "Content-Security-Policy": csp,
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )


class MapConfig(BaseModel):
    tiles_url: str | None  # an XYZ template in Web Mercator; null: no base map
    tiles_attribution: str  # plain text (HTML entities allowed, no markup)
    tiles_max_zoom: int


class ConsoleConfig(BaseModel):
    map: MapConfig


def map_config(console: ConsoleSettings) -> ConsoleConfig:
    return ConsoleConfig(
        map=MapConfig(
            tiles_url=console.tiles_url or None,
            tiles_attribution=console.tiles_attribution,
            tiles_max_zoom=console.tiles_max_zoom,
        )
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
    return _page(request, PAGES["operator"])


@api.get(
    "/console/analyse",
    summary="Analyst pages: signals per buurt on a map, trend, informatiepositie, downloads (HTML)",
    tags=TAGS,
    content_type="text/html",
)
async def analyst_page(request: web.Request):
    return _page(request, PAGES["analyst"], base_map=False)  # choropleths, no tiles


@api.get(
    "/console/veld",
    summary="Fieldworker page (phone): record signals by location or map, triage open ones (HTML)",
    tags=TAGS,
    content_type="text/html",
)
async def field_page(request: web.Request):
    # this page may ask for the device's location (the others may not)
    policy = SECURITY_HEADERS["Permissions-Policy"].replace("geolocation=()", "geolocation=(self)")
    return _page(request, PAGES["field"], {"Permissions-Policy": policy})


@api.get(
    "/console/config",
    summary="The console's settings: the base map's tile source (console.tiles_url, "
    "tiles_attribution, tiles_max_zoom; tiles_url null when off)",
    tags=TAGS,
    response=ConsoleConfig,
)
async def console_config(request: web.Request):
    return json_response(map_config(request.app[SETTINGS].console), headers={"Cache-Control": "no-cache"})


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
        # own files revalidate (cheap 304s, and a release shows at once); vendored ones
        # carry their version in the path and never change
        "Cache-Control": VENDOR_CACHE if name.startswith(VENDOR_PREFIX) else "no-cache",
        "ETag": f.etag,
    }
    if f.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if f.content_type.startswith(("text/", "image/svg")) else None
    return web.Response(body=f.body, content_type=f.content_type, charset=charset, headers=headers)
