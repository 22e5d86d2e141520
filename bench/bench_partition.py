"""The lock time of migration 0032 (deliveries partitioned by month, issue 16) on a
populated database.

    python -m bench.bench_partition [--quick] [--rows N ...] [--json FILE]

For each size N (default 1,000,000 and 2,000,000; --quick 200,000): a private
PostgreSQL database (or under ``BURGERWACHT_BENCH_DATABASE_URL``) migrated to 0031 with
the functions files (as deployed), N deliveries made with generate_series over 200
alerts (95 % sent with a provider sid, 5 % queued; level missing_child, so the fatigue
summary stays small), VACUUM ANALYZE; then 0032 alone, timed:

- **migration**: the 0032 transaction, start to commit. It takes ACCESS EXCLUSIVE on
  deliveries first, so this is the time every read and write of deliveries waits.
- **reader blocked**: a second connection's ``SELECT ... WHERE id = 1`` issued just
  after the migration began, until it answered (what a worker sees).

The rows stay where they are (the old table is attached as a partition, its non-unique
indexes attached as they are); what grows with N is the one scan that checks the
partition's CHECK constraint and the three unique indexes rebuilt with the partition
key (primary key, message key, provider sid).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import BENCH_DB_ENV, Figure, atexit_rmtree, log, machine_info, table, with_database

ALERTS = 200


async def _server() -> str:
    import os

    given = os.environ.get(BENCH_DB_ENV)
    if given:
        return given
    from burgerwacht.db.embedded import start_embedded

    tmp = Path(tempfile.mkdtemp(prefix="bwbench-"))
    atexit_rmtree(tmp)
    return start_embedded(tmp, cleanup="delete")


async def one(admin_url: str, rows: int) -> dict[str, Any]:
    from burgerwacht.db import migrate

    name = f"bench_partition_{rows}_{int(time.time())}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin_url, name)
    before = Path(tempfile.mkdtemp(prefix="bw-0031-"))
    upto = Path(tempfile.mkdtemp(prefix="bw-0032-"))  # 0032 alone on top (not the later ones)
    try:
        for path in migrate.MIGRATIONS_DIR.iterdir():
            if path.name.endswith(".sql") and int(path.name[:4]) <= 32:
                shutil.copy(str(path), upto / path.name)
                if int(path.name[:4]) < 32:
                    shutil.copy(str(path), before / path.name)
        conn = await asyncpg.connect(url)
        reader = await asyncpg.connect(url)
        try:
            await migrate.migrate(conn, before)
            await conn.execute(
                """INSERT INTO alerts (reference, level, title, message, target, municipalities, channels,
                                       expires_in_minutes, status, target_codes)
                   SELECT 'BEN' || n, 'missing_child', 't', 'm', '{"type": "areas", "codes": ["GM9999"]}',
                          '{GM9999}', '{sms}', 600, 'active', '{GM9999}'
                   FROM generate_series(1, $1) n""",
                ALERTS,
            )
            t0 = time.perf_counter()
            await conn.execute(
                """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at,
                                           provider_sid, sent_at, created_at)
                   SELECT 1 + n % $2, n, 'sms', 'alert', 'missing_child',
                          CASE WHEN n % 20 = 0 THEN 'queued' ELSE 'sent' END, now() + interval '1 hour',
                          CASE WHEN n % 20 = 0 THEN NULL ELSE 'SM' || md5(n::text) END,
                          CASE WHEN n % 20 = 0 THEN NULL ELSE now() END,
                          now() - (n % 300) * interval '1 day'
                   FROM generate_series(1, $1) n""",
                rows,
                ALERTS,
            )
            await conn.execute("VACUUM ANALYZE deliveries")
            loaded = time.perf_counter() - t0
            size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('deliveries'))")
            log(f"{rows:,} deliveries loaded in {loaded:.1f} s ({size} with indexes); applying 0032")

            async def blocked() -> float:
                await asyncio.sleep(0.05)
                t = time.perf_counter()
                await reader.fetchval("SELECT id FROM deliveries WHERE id = 1")
                return time.perf_counter() - t

            t0 = time.perf_counter()
            waiting = asyncio.create_task(blocked())
            applied = await migrate.migrate(conn, upto, functions_dir=None)
            took = time.perf_counter() - t0
            waited = await waiting
            assert [m.version for m in applied] == [32]
            assert await conn.fetchval("SELECT count(*) FROM deliveries_legacy") == rows
            return {"rows": rows, "size": size, "migration_s": took, "reader_blocked_s": waited}
        finally:
            await reader.close()
            await conn.close()
    finally:
        shutil.rmtree(before, ignore_errors=True)
        shutil.rmtree(upto, ignore_errors=True)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(sizes: list[int]) -> list[dict[str, Any]]:
    admin_url = await _server()
    return [await one(admin_url, n) for n in sizes]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_partition", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="200,000 deliveries")
    parser.add_argument("--rows", type=int, nargs="+", help="sizes (default 1,000,000 2,000,000)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    sizes = args.rows or ([200_000] if args.quick else [1_000_000, 2_000_000])
    results = asyncio.run(run(sizes))
    print()
    print(
        table(
            ["deliveries", "table + indexes", "0032 lock (s)", "reader blocked (s)"],
            [
                [f"{r['rows']:,}", r["size"], f"{r['migration_s']:.2f}", f"{r['reader_blocked_s']:.2f}"]
                for r in results
            ],
        )
    )
    if args.json:
        figures = [
            Figure(
                case=f"partition migration, {r['rows']:,} deliveries",
                measure="0032 lock time (deliveries unreadable)",
                value=round(r["migration_s"], 2),
                unit="s",
            ).as_dict()
            for r in results
        ]
        args.json.write_text(
            json.dumps({"machine": machine_info(), "results": results, "figures": figures}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
