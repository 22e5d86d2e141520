"""Helpers for dispatch tests: many residents at once, exactly-once checks, worker processes."""

from __future__ import annotations

import os
from collections import Counter

from tests.helpers.alerting import (
    enrol,
)
from tests.helpers.service import SERVICE_NUMBER, TEST_SID, TEST_TOKEN

TARGET = ["WK999901", "WK999902"]


async def enrol_bulk(db, first: int, n: int, wijken: list[str], status: str = "active") -> list[str]:
    """``n`` residents (one SQL statement each for residents and addresses), spread round-robin
    over the addresses of ``wijken``; returns their phone numbers."""
    phones = [f"+3162{i:07d}" for i in range(first, first + n)]
    async with db.transaction():
        await db.execute(
            "INSERT INTO residents (phone, phone_kind, status, language) "
            "SELECT p, 'mobile', $2, 'nl' FROM unnest($1::text[]) AS p",
            phones,
            status,
        )
        inserted = await db.execute(
            """
            WITH r AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM residents WHERE phone = ANY($1)),
                 a AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS total
                       FROM addresses WHERE wijk_code = ANY($2))
            INSERT INTO resident_addresses (resident_id, address_id, channels)
            SELECT r.id, a.id, ARRAY['sms'] FROM r JOIN a ON a.k = r.k % a.total
            """,
            phones,
            wijken,
        )
    assert inserted == f"INSERT 0 {n}"
    return phones


def worker_env(db_url: str, service_port: int, sandbox_port: int, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BURGERWACHT_DATABASE_URL": db_url,
        "BURGERWACHT_PUBLIC_URL": f"http://127.0.0.1:{service_port}",
        "BURGERWACHT_TWILIO__ACCOUNT_SID": TEST_SID,
        "BURGERWACHT_TWILIO__AUTH_TOKEN": TEST_TOKEN,
        "BURGERWACHT_TWILIO__API_BASE": f"http://127.0.0.1:{sandbox_port}",
        "BURGERWACHT_TWILIO__FROM_NUMBER": SERVICE_NUMBER,
        "BURGERWACHT_TWILIO__SMS_PER_SECOND": "25",
        "BURGERWACHT_TWILIO__PER_SENDER_PER_SECOND": "1000",
        "BURGERWACHT_ALERTS__CLAIM_LEASE_SECONDS": "2",
        "BURGERWACHT_ALERTS__SHUTDOWN_GRACE_SECONDS": "5",
        "BURGERWACHT_LOGGING__LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def phone(i: int) -> str:
    return f"+316200{i:05d}"


async def enrol_many(db, n: int, buurt: str = "BU99990101") -> list[str]:
    ids = [
        r[0]
        for r in await db.fetch(
            "SELECT id FROM addresses WHERE buurt_code = $1 ORDER BY id LIMIT $2", buurt, n
        )
    ]
    assert len(ids) == n
    for i, aid in enumerate(ids):
        await enrol(db, phone(i), aid)
    return [phone(i) for i in range(n)]


def assert_each_once(messages, expected):
    counts = Counter(m["to"] for m in messages)
    duplicates = {k: v for k, v in counts.items() if v > 1}
    assert not duplicates, f"sent twice: {duplicates}"
    assert sorted(counts) == sorted(expected)
