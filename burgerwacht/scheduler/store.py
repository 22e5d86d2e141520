"""SQL of the scheduler: the ``job_runs`` claims that make a job run once per period."""

from __future__ import annotations

import asyncpg


async def claim_run(pool: asyncpg.Pool, job: str, period: str, process: str) -> bool:
    """True when this process won the (job, period) row and so runs the job."""
    result = await pool.execute(
        "INSERT INTO job_runs (job, period, process) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        job,
        period,
        process,
    )
    return result.endswith(" 1")


async def finish_run(pool: asyncpg.Pool, job: str, period: str, result: dict) -> None:
    await pool.execute(
        "UPDATE job_runs SET finished_at = now(), result = $3 WHERE job = $1 AND period = $2",
        job,
        period,
        result,
    )


async def forget_runs(pool: asyncpg.Pool, keep_seconds: float) -> int:
    """Delete claims older than ``keep_seconds``; returns how many."""
    result = await pool.execute(
        "DELETE FROM job_runs WHERE started_at < now() - make_interval(secs => $1)", float(keep_seconds)
    )
    return int(result.split()[-1])
