"""Group commit for a hot write path: calls that arrive while earlier ones are being
written go to the database together, as one call in one transaction.

Alone, a call goes straight through (a batch of one, no added wait). Under load, at most
``max_in_flight`` batches are in the database at once; whatever arrives meanwhile
waits for the next free slot and goes with everything else that waited, up to
``max_size``. So the batch size follows the load, and one round trip, one commit and one
WAL flush serve many callers. Each caller still gets its own result only after its
batch has committed.

A batch that fails as a whole (an unexpected error of one item aborts the transaction)
is retried one item at a time, so one bad item fails alone. A caller that gives up
(its request was cancelled) does not take its item out of a batch: what was submitted
is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        run_batch: Callable[[list[T]], Awaitable[list[R]]],
        run_one: Callable[[T], Awaitable[R]],
        *,
        max_size: int = 64,
        max_in_flight: int = 4,
        name: str = "batch",
    ) -> None:
        if max_size < 1 or max_in_flight < 1:
            raise ValueError("max_size and max_in_flight must be at least 1")
        self.run_batch, self.run_one = run_batch, run_one
        self.max_size, self.max_in_flight, self.name = max_size, max_in_flight, name
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # batches written (for tests and metrics)
        self.largest = 0

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)  # a cancelled caller's error is not "never retrieved"
        self._waiting.append((item, future))
        self._start()
        # shielded: a caller that is cancelled stops waiting, its item is still written
        return await asyncio.shield(future)

    def _start(self) -> None:
        while self._waiting and self._in_flight < self.max_in_flight:
            batch, self._waiting = self._waiting[: self.max_size], self._waiting[self.max_size :]
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._write(batch), name=f"{self.name}-write")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            items = [item for item, _ in batch]
            try:
                results = await (self.run_batch(items) if len(items) > 1 else self._one(items[0]))
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc=exc)
                    return
                log.warning(
                    "%s: a batch of %d failed (%s); writing its items one by one",
                    self.name,
                    len(batch),
                    type(exc).__name__,
                )
                for item, future in batch:
                    try:
                        _settle(future, await self.run_one(item))
                    except Exception as one_exc:
                        _settle(future, exc=one_exc)
                return
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result)
        except BaseException as exc:  # cancelled (shutdown): nobody waits for ever
            for _, future in batch:
                _settle(future, exc=exc if isinstance(exc, Exception) else asyncio.CancelledError())
            raise
        finally:
            self._in_flight -= 1
            self._start()

    async def _one(self, item: T) -> list[R]:
        return [await self.run_one(item)]


def _retrieved(future: asyncio.Future[R]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[R], result: R | None = None, *, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
