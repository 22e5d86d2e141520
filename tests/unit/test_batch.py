"""Group commit (burgerwacht/db/batch.py): results reach the right callers, batches grow
with the load, a bad item fails alone, a cancelled caller's item is still written."""

from __future__ import annotations

import asyncio

import pytest

from burgerwacht.db.batch import GroupCommit


class Store:
    """A stand-in for the database call: records what went in, in which batch."""

    def __init__(self, delay: float = 0.01, bad: set[int] | None = None) -> None:
        self.delay, self.bad = delay, bad or set()
        self.batches: list[list[int]] = []
        self.written: list[int] = []

    async def many(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if self.bad & set(items):
            raise ValueError("a bad item aborts the whole batch")
        self.written += items
        return [i * 10 for i in items]

    async def one(self, item: int) -> int:
        self.batches.append([item])
        await asyncio.sleep(self.delay)
        if item in self.bad:
            raise ValueError(f"bad item {item}")
        self.written.append(item)
        return item * 10


async def test_alone_a_call_goes_straight_through():
    store = Store()
    gc = GroupCommit(store.many, store.one, max_in_flight=2)
    assert await gc.submit(7) == 70
    assert store.batches == [[7]]


async def test_under_load_batches_grow_and_every_caller_gets_its_own_result():
    store = Store(delay=0.02)
    gc = GroupCommit(store.many, store.one, max_size=50, max_in_flight=2)
    results = await asyncio.gather(*(gc.submit(i) for i in range(200)))
    assert results == [i * 10 for i in range(200)]
    assert sorted(store.written) == list(range(200))
    assert len(store.batches) < 20 and max(len(b) for b in store.batches) == 50
    assert gc.largest == 50


async def test_a_bad_item_fails_alone():
    store = Store(bad={13})
    gc = GroupCommit(store.many, store.one, max_in_flight=1)
    results = await asyncio.gather(*(gc.submit(i) for i in range(20)), return_exceptions=True)
    assert isinstance(results[13], ValueError)
    assert [r for i, r in enumerate(results) if i != 13] == [i * 10 for i in range(20) if i != 13]
    assert sorted(store.written) == [i for i in range(20) if i != 13]


async def test_a_cancelled_caller_still_has_its_item_written():
    store = Store(delay=0.05)
    gc = GroupCommit(store.many, store.one, max_in_flight=1)
    first = asyncio.create_task(gc.submit(1))
    second = asyncio.create_task(gc.submit(2))
    await asyncio.sleep(0.01)
    second.cancel()  # e.g. the provider hung up on the webhook
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await first == 10
    await asyncio.sleep(0.12)
    assert sorted(store.written) == [1, 2]


def test_sizes_must_be_positive():
    with pytest.raises(ValueError):
        GroupCommit(Store().many, Store().one, max_size=0)
