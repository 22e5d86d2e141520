"""The public page's per-process cache: one render for a burst, answers kept for the
TTL (404/410 included), failures not kept."""

from __future__ import annotations

import asyncio

import pytest

from burgerwacht.public.service import PageCache, PageError, Rendered


def counting(result=None, error: Exception | None = None, delay: float = 0.01):
    calls = []

    async def render():
        calls.append(1)
        await asyncio.sleep(delay)
        if error is not None:
            raise error
        return result or Rendered(f"<p>{len(calls)}</p>", f'"{len(calls)}"', None)

    return render, calls


async def test_a_burst_renders_once_and_a_new_render_follows_the_ttl():
    cache = PageCache(0.2)
    render, calls = counting()
    pages = await asyncio.gather(*(cache.get(("T", "nl", False), render) for _ in range(50)))
    assert len(calls) == 1 and {p.html for p in pages} == {"<p>1</p>"}
    assert (await cache.get(("T", "en", False), render)).html == "<p>2</p>"  # another language
    await asyncio.sleep(0.25)
    assert (await cache.get(("T", "nl", False), render)).html == "<p>3</p>"


async def test_not_found_is_kept_but_a_failure_is_not():
    cache = PageCache(10)
    render, calls = counting(error=PageError(404, "<p>weg</p>"))
    for _ in range(3):
        with pytest.raises(PageError):
            await cache.get(("X", "nl", False), render)
    assert len(calls) == 1
    render, calls = counting(error=OSError("database away"))
    for _ in range(2):
        with pytest.raises(OSError):
            await cache.get(("Y", "nl", False), render)
    assert len(calls) == 2


async def test_ttl_zero_renders_every_time():
    cache = PageCache(0)
    render, calls = counting()
    for _ in range(3):
        await cache.get(("T", "nl", False), render)
    assert len(calls) == 3
