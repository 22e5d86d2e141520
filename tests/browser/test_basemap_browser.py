"""The base map under the operator's map, in headless Chromium: Leaflet (vendored, served
by the service) draws tiles from the configured source (here a tile server on loopback)
exactly under the SVG outlines, with the attribution; placing a circle works on top of
it. Offline (the tile server unreachable) and without Leaflet (its script refused) the
outlines alone remain with a note, and placing a circle still works."""

from __future__ import annotations

import base64
import math
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.helpers.browser import browser, requires_chromium, sign_in
from tests.helpers.ports import free_port

pytestmark = [requires_chromium]

# a 1×1 grey PNG: what a tile looks like does not matter, where Leaflet puts it does
TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg=="
)
NOTE = "Kaartachtergrond niet beschikbaar"


@pytest.fixture
def tile_port() -> int:
    return free_port()


@pytest.fixture
def settings_overrides(tile_port):
    return {
        "console": {
            "tiles_url": f"http://127.0.0.1:{tile_port}/tiles/{{z}}/{{x}}/{{y}}.png",
            "tiles_attribution": "Kaartgegevens &copy; Kadaster",
            "tiles_max_zoom": 19,
        }
    }


async def _place_circle(page) -> None:
    """Press in the middle of the map and drag: the centre and the radius, as operators do."""
    box = await page.locator("#map svg.map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(cx, cy)
    await page.mouse.down()
    await page.mouse.move(cx + 40, cy, steps=4)
    await page.mouse.up()
    radius = int(await page.locator("#c-radius").input_value())
    assert radius != 500 and radius > 20
    assert await page.locator("#map circle.target").count() == 1


def _world_pixel(lat: float, lon: float, z: int) -> tuple[float, float]:
    """Web Mercator pixel of a point at zoom z (256-pixel tiles)."""
    n = 256 * 2**z
    phi = math.radians(lat)
    return n * (lon + 180) / 360, n * (1 - math.log(math.tan(math.pi / 4 + phi / 2)) / math.pi) / 2


TILE_UNDER = """([x, y]) => {
  for (const img of document.querySelectorAll('#map img.leaflet-tile-loaded')) {
    const r = img.getBoundingClientRect();
    if (x >= r.left && x < r.right && y >= r.top && y < r.bottom)
      return {src: img.src, left: r.left, top: r.top, width: r.width, height: r.height};
  }
  return null;
}"""


async def test_tiles_lie_under_the_outlines_and_a_circle_is_placed_on_them(
    client, staff, tile_port, tmp_path
):
    requested: list[tuple[int, int, int]] = []

    async def tile(request: web.Request) -> web.Response:
        z, x, y = (int(request.match_info[k]) for k in ("z", "x", "y"))
        requested.append((z, x, y))
        return web.Response(body=TILE, content_type="image/png")

    app = web.Application()
    app.router.add_get("/tiles/{z}/{x}/{y}.png", tile)
    server = TestServer(app, host="127.0.0.1", port=tile_port)
    await server.start_server()
    try:
        operator = await staff("operator", "GM9999")
        base = str(client.make_url("/")).rstrip("/")
        async with browser(tmp_path, base) as b:
            page = b.page
            await sign_in(page, operator, ready="#compose")
            await page.locator("#map[data-base='tiles']").wait_for()
            assert await page.locator("#map img.leaflet-tile-loaded").count() > 0
            assert await page.locator("#map .map-note").count() == 0
            credit = page.locator("#map .map-attribution")
            assert await credit.inner_text() == "Kaartgegevens © Kadaster"  # the entity decoded
            assert await page.locator("#map path.area").count() > 0  # the outlines stay on top
            zooms = {z for z, _, _ in requested}
            assert len(zooms) == 1 and 10 <= zooms.pop() <= 19, requested

            # where the operator presses, the tile under the pointer shows that very place:
            # the point the console takes (lat/lon) is at the same pixel on the tile
            box = await page.locator("#map svg.map").bounding_box()
            for fx, fy in ((0.5, 0.5), (0.2, 0.25), (0.85, 0.8)):
                px, py = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
                await page.mouse.click(px, py)
                lat = float(await page.locator("#c-lat").input_value())
                lon = float(await page.locator("#c-lon").input_value())
                under = await page.evaluate(TILE_UNDER, [px, py])
                assert under, f"no tile under ({fx}, {fy})"
                z, tx, ty = map(int, re.search(r"/tiles/(\d+)/(\d+)/(\d+)\.png$", under["src"]).groups())
                wx, wy = _world_pixel(lat, lon, z)
                assert (int(wx // 256), int(wy // 256)) == (tx, ty), (fx, fy, under)
                ex = under["left"] + (wx / 256 - tx) * under["width"]
                ey = under["top"] + (wy / 256 - ty) * under["height"]
                assert abs(ex - px) < 2.5 and abs(ey - py) < 2.5, (fx, fy, ex - px, ey - py)

            await _place_circle(page)
            await b.shot("basemap-01-tiles")
            b.check()  # no request left the machine, no console error (a CSP violation is one)
    finally:
        await server.close()


async def test_offline_and_without_leaflet_the_outlines_remain(client, staff, tmp_path):
    # nothing listens on tile_port: every tile fails, as offline
    operator = await staff("operator", "GM9999")
    base = str(client.make_url("/")).rstrip("/")
    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, operator, ready="#compose")
        await page.locator("#map[data-base='unavailable']").wait_for()
        assert await page.locator("#map .map-note").inner_text() == NOTE
        assert await page.locator("#map .map-base").count() == 0  # the failed base is gone
        assert await page.locator("#map path.area").count() > 0
        assert await page.evaluate("typeof window.L") == "object"  # Leaflet was there
        await _place_circle(page)
        await b.shot("basemap-02-offline")

        # Leaflet itself does not load: the SVG map works as it did before the base map
        await page.route("**/leaflet.js", lambda route: route.abort())
        await page.reload()
        await page.locator("#compose").wait_for(state="visible")
        await page.locator("#map[data-base='unavailable']").wait_for()
        assert await page.evaluate("typeof window.L") == "undefined"
        assert await page.locator("#map .map-note").inner_text() == NOTE
        assert await page.locator("#map path.area").count() > 0
        await _place_circle(page)
        # the only errors are the refused tiles and script ("Failed to load resource")
        b.problems = [p for p in b.problems if "Failed to load resource" not in p]
        b.check()
