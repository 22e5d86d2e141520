"""Browser tests of the web console: Playwright for Python driving Debian's Chromium.

Chromium is launched headless with a fresh profile per test, and every request that
does not go to the service on 127.0.0.1 is refused and recorded (the console must not
need a CDN or a tile server). Console errors and uncaught page errors (a CSP violation
is one) fail the test. Screenshots go to ``tests/artifacts/`` or the directory named by
``BURGERWACHT_TEST_ARTIFACTS``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("BURGERWACHT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("BURGERWACHT_TEST_ARTIFACTS") or Path(__file__).resolve().parent.parent / "artifacts"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

requires_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM}: install Debian's chromium (CI's .ci/run does) "
    "or set BURGERWACHT_CHROMIUM",
)


@dataclass
class Browser:
    page: object
    context: object
    problems: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    async def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"console-{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    def check(self) -> None:
        assert not self.outside, f"requests left the machine: {self.outside}"
        assert not self.problems, f"browser console errors: {self.problems}"


@asynccontextmanager
async def browser(
    tmp_path: Path, base_url: str, *, viewport: tuple[int, int] = (1280, 800)
) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    host = urlsplit(base_url).hostname
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile for every test
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]},
            base_url=base_url,
            locale="nl-NL",
            timezone_id="Europe/Amsterdam",
            accept_downloads=True,
            service_workers="block",
        )
        # generous: the suite runs in several processes on two cores, and a page that waits
        # on its service under that load must not fail a test that would pass alone
        context.set_default_timeout(25_000)
        b = Browser(page=context.pages[0] if context.pages else await context.new_page(), context=context)

        async def guard(route):
            url = route.request.url
            if urlsplit(url).hostname == host or url.startswith(("blob:", "data:")):
                await route.continue_()
            else:
                b.outside.append(url)
                await route.abort()

        await context.route("**/*", guard)
        b.page.on("console", lambda msg: b.problems.append(msg.text) if msg.type == "error" else None)
        b.page.on("pageerror", lambda exc: b.problems.append(f"uncaught: {exc}"))
        try:
            yield b
        finally:
            await context.close()


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def sign_in(
    page,
    who: dict[str, str] | str,
    path: str = "/console/",
    *,
    watching: int | None = None,
    ready: str | None = None,
) -> None:
    """A console page (``path``) signed in with a staff member's headers or token.
    ``watching``: the alert the operator console opens on (its watch view); ``ready``: the
    element waited for (default ``#watch`` when watching, else ``#app``)."""
    await page.goto(path)
    if watching is not None:
        await page.evaluate(f"sessionStorage.setItem('burgerwacht.watching', '{int(watching)}')")
    await page.locator("#signin-token").fill(who if isinstance(who, str) else token_of(who))
    await page.locator("#signin-form button[type=submit]").click()
    await page.locator(ready or ("#watch" if watching is not None else "#app")).wait_for(state="visible")


async def wait_image_loaded(img, timeout_s: float = 25.0) -> None:
    """Wait until the ``<img>`` behind the locator has decoded a picture.

    Not ``page.wait_for_function("…")``: Playwright polls a string predicate with
    ``eval`` inside the page, which the console's CSP (``script-src 'self'``) refuses
    whenever the first check is not already true. ``locator.evaluate`` runs through the
    DevTools protocol, which the CSP does not govern.
    """
    from tests.helpers.alerting import wait_until

    await wait_until(lambda: img.evaluate("i => i.complete && i.naturalWidth > 0"), timeout_s, 0.05)
