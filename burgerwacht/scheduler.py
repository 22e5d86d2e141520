"""Periodic jobs (APScheduler 3, AsyncIOScheduler), run once per period cluster-wide.

Every job run first claims the row ``(job, period)`` in ``job_runs``; only the process
whose INSERT wins runs the job, so two scheduler processes never both run it. Domains
add jobs to :data:`JOBS` with :func:`job`.
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
from burgerwacht.modules import optional
from burgerwacht.web.keys import POOL, SETTINGS

log = logging.getLogger(__name__)

JobFunc = Callable[[web.Application], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: JobFunc
    seconds: int  # period length; also the unit of the claim key

    def period(self, now: datetime) -> str:
        return str(int(now.timestamp()) // self.seconds)


JOBS: dict[str, JobSpec] = {}


def job(name: str, *, seconds: int) -> Callable[[JobFunc], JobFunc]:
    def register(func: JobFunc) -> JobFunc:
        JOBS[name] = JobSpec(name, func, seconds)
        return func

    return register


PROCESS = f"{socket.gethostname()}:{os.getpid()}"


@job("scheduler.housekeeping", seconds=24 * 3600)
async def housekeeping(app: web.Application) -> dict[str, Any]:
    """Forget job runs older than scheduler.keep_runs_days: every job claims one row per
    period (the rollup alone 1,440 a day), and nothing else ever deletes them. A claim
    is the guard against running a job twice in its period, so runs are kept for at
    least two periods of the longest job (its own or an override)."""
    settings = app[SETTINGS].scheduler
    _load_domain_jobs()  # every job's period counts, whichever modules this process imported
    longest = max([spec.seconds for spec in JOBS.values()] + list(settings.intervals.values()))
    keep = max(settings.keep_runs_days * 86400, 2 * longest)
    result = await app[POOL].execute(
        "DELETE FROM job_runs WHERE started_at < now() - make_interval(secs => $1)", float(keep)
    )
    return {"runs_forgotten": int(result.split()[-1]), "kept_days": round(keep / 86400, 1)}


async def claim(pool: asyncpg.Pool, name: str, period: str) -> bool:
    result = await pool.execute(
        "INSERT INTO job_runs (job, period, process) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        name,
        period,
        PROCESS,
    )
    return result.endswith(" 1")


async def run_once(app: web.Application, spec: JobSpec, now: datetime | None = None) -> bool:
    """Run ``spec`` for the current period unless another process already did."""
    pool = app[POOL]
    period = spec.period(now or datetime.now(UTC))
    try:
        if not await claim(pool, spec.name, period):
            return False
        result = await spec.func(app)
    except outage.UNAVAILABLE as exc:  # expected: one warning per outage; the next period runs it
        outage.noticed(exc, f"job {spec.name}")
        return False
    except Exception:
        log.exception("scheduled job %s failed", spec.name)
        await pool.execute(
            "UPDATE job_runs SET finished_at = now(), result = $3 WHERE job = $1 AND period = $2",
            spec.name,
            period,
            {"error": True},
        )
        return True
    await pool.execute(
        "UPDATE job_runs SET finished_at = now(), result = $3 WHERE job = $1 AND period = $2",
        spec.name,
        period,
        result or {},
    )
    log.info("scheduled job %s ran", spec.name, extra={"job": spec.name, "period": period, "result": result})
    return True


class SchedulerService:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.scheduler = AsyncIOScheduler(timezone="UTC")

    def start(self) -> None:
        _load_domain_jobs()
        overrides = self.app[SETTINGS].scheduler.intervals
        for spec in list(JOBS.values()):
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


def _load_domain_jobs() -> None:
    for name in (
        "burgerwacht.audit.jobs",
        "burgerwacht.residents.jobs",
        "burgerwacht.alerts.jobs",
        "burgerwacht.tips.jobs",
        "burgerwacht.signals.jobs",
    ):
        optional(name)


async def start_scheduler(app: web.Application) -> SchedulerService:
    service = SchedulerService(app)
    service.start()
    return service
