"""The web console's pages and static files, without a browser: content types, the
Content-Security-Policy and caching headers, no inline script or style, no secrets,
only the files that exist, and the token never in a URL."""

from __future__ import annotations

import re

import pytest

from burgerwacht.console.api import LEAFLET, STATIC_DIR, static_files

PAGES = ["/console/", "/console/analyse"]
SHIPPED_SUFFIXES = {".html", ".js", ".css"}  # the package-data patterns the console needs
VENDOR = "vendor/"  # scripts/vendor-leaflet.sh: Leaflet as published, beside its LICENSE


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_html_with_a_strict_csp_and_no_store(client, path):
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.content_type == "text/html" and resp.charset == "utf-8"
    csp = resp.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp and "http" not in csp
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    html = await resp.text()
    assert '<html lang="nl">' in html


async def test_console_without_slash_redirects(client):
    resp = await client.get("/console", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/console/"


@pytest.mark.parametrize("path", PAGES)
async def test_no_inline_code_and_every_reference_is_served(client, path):
    html = await (await client.get(path)).text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/console/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    assert "javascript:" not in html
    refs = re.findall(r'(?:src|href)="(/[^"]*)"', html)
    assert any(r.endswith(".js") for r in refs) and any(r.endswith(".css") for r in refs)
    for ref in refs:
        resp = await client.get(ref)
        assert resp.status == 200, ref
    # nothing from another origin
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


async def test_static_files_types_etag_and_404s(client):
    resp = await client.get("/console/static/operator.js")
    assert resp.status == 200 and resp.content_type == "text/javascript"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    etag = resp.headers["ETag"]
    again = await client.get("/console/static/operator.js", headers={"If-None-Match": etag})
    assert again.status == 304
    css = await client.get("/console/static/console.css")
    assert css.status == 200 and css.content_type == "text/css"
    for bad in (
        "/console/static/nope.js",
        "/console/static/../api.py",
        "/console/static/%2e%2e/api.py",
        "/console/static/__init__.py",
        "/console/static/index.html",  # pages only through their routes (with the CSP)
        "/console/static/" + "a" * 200 + ".js",
    ):
        resp = await client.get(bad)
        assert resp.status == 404, bad
        assert resp.content_type == "application/problem+json"


def test_static_files_are_complete_and_hold_no_secrets():
    every = {p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()}
    files = {f for f in every if not f.startswith(VENDOR)}
    assert {f for f in static_files() if not f.startswith(VENDOR)} == files  # every file is served …
    assert {p.rsplit(".", 1)[-1] for p in files} <= {s[1:] for s in SHIPPED_SUFFIXES}  # … and shipped
    for name, f in static_files().items():
        if name.startswith(VENDOR):
            continue
        text = f.body.decode("utf-8")
        assert not re.search(r"\bbw_[A-Za-z0-9_-]{8,}", text), name  # no staff token
        assert not re.search(r"AC[0-9a-f]{32}", text), name  # no Twilio account
        assert "localStorage" not in text, name  # the token lives in sessionStorage only
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), name  # no CDN, no tiles
        # the token goes into the Authorization header, never into a URL
        assert not re.search(r"[?&](?:token|access_token|api_key)=", text), name
    common = static_files()["common.js"].body.decode()
    assert "sessionStorage.setItem(TOKEN_KEY" in common and "Authorization = `Bearer ${token}`" in common


def test_leaflet_is_vendored_whole_with_its_licence():
    vendored = {f for f in static_files() if f.startswith(LEAFLET + "/")}
    assert {f"{LEAFLET}/leaflet.js", f"{LEAFLET}/leaflet.css", f"{LEAFLET}/images/layers.png"} <= vendored
    assert (STATIC_DIR / LEAFLET / "LICENSE").read_text().startswith("BSD 2-Clause License")
    pinned = (STATIC_DIR / LEAFLET / "VERSION").read_text().split()
    assert pinned[:2] == ["leaflet", LEAFLET.rsplit("-", 1)[1]] and pinned[3].startswith("sha512-")
    js = static_files()[f"{LEAFLET}/leaflet.js"].body
    assert js.startswith(b"/* @preserve\n * Leaflet " + LEAFLET.rsplit("-", 1)[1].encode())
    assert b"localStorage" not in js


async def test_vendored_leaflet_is_served_cached_as_immutable(client):
    resp = await client.get(f"/console/static/{LEAFLET}/leaflet.js")
    assert resp.status == 200 and resp.content_type == "text/javascript"
    # the version is in the path: a year, immutable (own files revalidate instead)
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert (await resp.read()) == static_files()[f"{LEAFLET}/leaflet.js"].body
    png = await client.get(f"/console/static/{LEAFLET}/images/marker-icon.png")
    assert png.status == 200 and png.content_type == "image/png" and png.charset is None
    own = await client.get("/console/static/map.js")
    assert own.headers["Cache-Control"] == "no-cache"
    for missing in ("LICENSE", "VERSION"):  # in the package, not served
        assert (await client.get(f"/console/static/{LEAFLET}/{missing}")).status == 404
    for page in ("/console/", "/console/veld"):
        html = await (await client.get(page)).text()
        assert f'src="/console/static/{LEAFLET}/leaflet.js"' in html
        assert f'href="/console/static/{LEAFLET}/leaflet.css"' in html


async def test_console_config_without_tiles(client):
    resp = await client.get("/console/config")  # the test settings turn the base map off
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-cache"
    assert (await resp.json())["map"]["tiles_url"] is None
    csp = (await client.get("/console/")).headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob:;" in csp


TILES = "https://{s}.tiles.example.nl/brt/{z}/{x}/{y}.png"


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "console": {
                "tiles_url": TILES,
                "tiles_attribution": "Kaartgegevens &copy; Kadaster",
                "tiles_max_zoom": 17,
            }
        }
    ],
    indirect=True,
)
async def test_tile_source_reaches_the_console_and_its_csp(client):
    resp = await client.get("/console/config")
    assert await resp.json() == {
        "map": {
            "tiles_url": TILES,
            "tiles_attribution": "Kaartgegevens &copy; Kadaster",
            "tiles_max_zoom": 17,
        }
    }
    for page in ("/console/", "/console/veld"):  # the pages with a base map
        csp = (await client.get(page)).headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        # images from the tile server, and nothing else loosened
        assert directives["img-src"] == "'self' data: blob: https://*.tiles.example.nl"
        assert directives["default-src"] == "'self'" and directives["connect-src"] == "'self'"
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert csp.count("tiles.example.nl") == 1
    # the analysts' choropleths draw no tiles, and the resident pages keep their own policy
    for page in ("/console/analyse", "/mijn"):
        assert "tiles.example.nl" not in (await client.get(page)).headers["Content-Security-Policy"]


def test_the_default_tile_source_is_pdok_and_templates_are_checked():
    from pydantic import ValidationError

    from burgerwacht.config import ConsoleSettings, load_settings

    console = load_settings().console
    assert console.tiles_url.startswith("https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/")
    assert "EPSG:3857/{z}/{x}/{y}.png" in console.tiles_url
    assert console.tiles_origin == "https://service.pdok.nl"
    assert "Kadaster" in console.tiles_attribution
    assert ConsoleSettings(tiles_url="").tiles_origin == ""
    for bad in (
        "ftp://tiles.example.nl/{z}/{x}/{y}.png",
        "https://tiles.example.nl/{z}/{x}.png",  # no {y}
        "https://tiles.example.nl/{z}/{x}/{y}/{layer}.png",  # unknown placeholder
        "https://tiles.example.nl/{z}/{x}/{y}.png; script-src *",  # into the CSP
        "//tiles.example.nl/{z}/{x}/{y}.png",
    ):
        with pytest.raises(ValidationError):
            ConsoleSettings(tiles_url=bad)
    with pytest.raises(ValidationError):
        ConsoleSettings(tiles_attribution="<img src=x onerror=alert(1)>")


def test_js_modules_import_only_files_that_exist():
    for name, f in static_files().items():
        if not name.endswith(".js"):
            continue
        for target in re.findall(r'from "\./([^"]+)"', f.body.decode()):
            assert target in static_files(), f"{name} imports missing {target}"


async def test_console_routes_are_documented_as_html(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    op = doc["paths"]["/console/"]["get"]
    assert op["tags"] == ["console"] and "text/html" in op["responses"]["200"]["content"]
    assert "security" not in op  # the page is public; the data behind it is not
