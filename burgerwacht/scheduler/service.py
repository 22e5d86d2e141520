"""Periodic jobs (APScheduler 3, AsyncIOScheduler), run once per period cluster-wide.

Every job run first claims the row ``(job, period)`` in ``job_runs``; only the process
whose INSERT wins runs the job, so two scheduler processes never both run it. A domain
makes a job with :func:`job` and lists it in its ``DOMAIN.jobs``
(``burgerwacht/domain.py``); the scheduler runs the jobs of every domain in
``burgerwacht/domains.py``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from burgerwacht.db import outage
from burgerwacht.scheduler.store import claim_run, finish_run, forget_runs
from burgerwacht.web.keys import POOL, SETTINGS

log = logging.getLogger(__name__)

JobFunc = Callable[[web.Application], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class JobSpec:
    """A periodic job; calling it runs the job's function once (as tests do)."""

    name: str
    func: JobFunc
    seconds: int  # period length; also the unit of the claim key

    def period(self, now: datetime) -> str:
        return str(int(now.timestamp()) // self.seconds)

    def __call__(self, app: web.Application) -> Awaitable[dict[str, Any] | None]:
        return self.func(app)


def job(name: str, *, seconds: int) -> Callable[[JobFunc], JobSpec]:
    """Make ``func`` a job called ``name`` that runs every ``seconds`` (list it in the
    domain's ``jobs``)."""

    def make(func: JobFunc) -> JobSpec:
        return JobSpec(name, func, seconds)

    return make


def all_jobs() -> dict[str, JobSpec]:
    """Every domain's jobs by name, in the order of ``burgerwacht/domains.py``."""
    from burgerwacht.domains import DOMAINS  # the domains' jobs import this module

    jobs: dict[str, JobSpec] = {}
    for domain in DOMAINS:
        for spec in domain.jobs:
            if spec.name in jobs:
                raise RuntimeError(f"two jobs are called {spec.name}")
            jobs[spec.name] = spec
    return jobs


PROCESS = f"{socket.gethostname()}:{os.getpid()}"


@job("scheduler.housekeeping", seconds=24 * 3600)
async def housekeeping(app: web.Application) -> dict[str, Any]:
    """Forget job runs older than scheduler.keep_runs_days: every job claims one row per
    period (the rollup alone 1,440 a day), and nothing else ever deletes them. A claim
    is the guard against running a job twice in its period, so runs are kept for at
    least two periods of the longest job (its own or an override)."""
    settings = app[SETTINGS].scheduler
    longest = max([spec.seconds for spec in all_jobs().values()] + list(settings.intervals.values()))
    keep = max(settings.keep_runs_days * 86400, 2 * longest)
    forgotten = await forget_runs(app[POOL], keep)
    return {"runs_forgotten": forgotten, "kept_days": round(keep / 86400, 1)}


async def claim(pool: asyncpg.Pool, name: str, period: str) -> bool:
    return await claim_run(pool, name, period, PROCESS)


async def run_once(app: web.Application, spec: JobSpec, now: datetime | None = None) -> bool:
    """Run ``spec`` for the current period unless another process already did."""
    pool = app[POOL]
    period = spec.period(now or datetime.now(UTC))
    try:
        if not await claim(pool, spec.name, period):
            return False
        result = await spec.func(app)
    except Exception as exc:
        if outage.unavailable(exc):  # expected: one warning per outage; the next period runs it
            outage.noticed(exc, f"job {spec.name}")
            return False
        log.exception("scheduled job %s failed", spec.name)
        await finish_run(pool, spec.name, period, {"error": True})
        return True
    await finish_run(pool, spec.name, period, result or {})
    log.info("scheduled job %s ran", spec.name, extra={"job": spec.name, "period": period, "result": result})
    return True


class SchedulerService:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.scheduler = AsyncIOScheduler(timezone="UTC")

    def start(self) -> None:
        overrides = self.app[SETTINGS].scheduler.intervals
        for spec in all_jobs().values():
            if spec.name in overrides:
                spec = JobSpec(spec.name, spec.func, overrides[spec.name])
            self.scheduler.add_job(
                run_once,
                "interval",
                seconds=spec.seconds,
                args=[self.app, spec],
                id=spec.name,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),
            )
        self.scheduler.start()

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)


async def start_scheduler(app: web.Application) -> SchedulerService:
    service = SchedulerService(app)
    service.start()
    return service
