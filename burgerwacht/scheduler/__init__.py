"""Periodic jobs, run once per period cluster-wide (see :mod:`burgerwacht.scheduler.service`)."""

from burgerwacht.scheduler.service import (
    PROCESS,
    JobSpec,
    SchedulerService,
    all_jobs,
    claim,
    housekeeping,
    job,
    run_once,
    start_scheduler,
)

__all__ = [
    "PROCESS",
    "JobSpec",
    "SchedulerService",
    "all_jobs",
    "claim",
    "housekeeping",
    "job",
    "run_once",
    "start_scheduler",
]
