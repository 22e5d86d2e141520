"""Deliveries partitioned by their alert's month (sql/0032): the migration on a database
that already holds deliveries keeps every row and id where it was (the old table becomes
the partition deliveries_legacy), a message is still written once for old and new
alerts, sending goes on; retention drops whole month partitions; the daily job makes
them ahead."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import asyncpg

from burgerwacht.alerts import store as alerts
from burgerwacht.db import migrate
from burgerwacht.residents import store as residents

OLD_COLUMNS = (
    "id, alert_id, resident_id, channel, kind, level, state, reason, not_before, expires_at, attempts, "
    "reconcile, provider_sid, created_at, sent_at, seq, wave, text_seq"
)


async def _insert_alert(conn: asyncpg.Connection, ref: str, status: str) -> int:
    return await conn.fetchval(
        """INSERT INTO alerts (reference, level, title, message, target, municipalities, channels,
                               expires_in_minutes, status, target_codes)
           VALUES ($1, 'regular', 't', 'm', '{"type": "areas", "codes": ["GM9999"]}', '{GM9999}', '{sms}', 600, $2, '{GM9999}')
           RETURNING id""",
        ref,
        status,
    )


async def _at_0031(url: str, tmp_path) -> asyncpg.Connection:
    before = tmp_path / "sql"
    before.mkdir()
    for path in migrate.MIGRATIONS_DIR.iterdir():
        if path.name.endswith(".sql") and int(path.name[:4]) < 32:
            shutil.copy(str(path), before / path.name)
    conn = await asyncpg.connect(url)
    await migrate.migrate(conn, before)  # with the functions files: the fatigue triggers as deployed
    return conn


async def test_the_migration_keeps_a_populated_table_and_its_exactly_once(empty_db_url, tmp_path):
    conn = await _at_0031(empty_db_url, tmp_path)
    try:
        rids = [
            await conn.fetchval(
                "INSERT INTO residents (phone, phone_kind, status) VALUES ($1, 'mobile', 'active') RETURNING id",
                f"+316{n:08d}",
            )
            for n in range(40)
        ]
        sent_alert = await _insert_alert(conn, "SENT1", "active")
        queued_alert = await _insert_alert(conn, "QUEUE1", "sending")
        await conn.execute(
            """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, provider_sid,
                                       sent_at)
               SELECT $1, r, 'sms', 'alert', 'regular', 'sent', now() + interval '5 hours', 'SM' || r, now()
               FROM unnest($2::bigint[]) r""",
            sent_alert,
            rids[:20],
        )
        await conn.execute(
            """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at)
               SELECT $1, r, 'sms', 'alert', 'regular', 'queued', now() + interval '5 hours'
               FROM unnest($2::bigint[]) r""",
            queued_alert,
            rids[20:],
        )
        before = [tuple(r) for r in await conn.fetch(f"SELECT {OLD_COLUMNS} FROM deliveries ORDER BY id")]
        fatigue_before = await conn.fetch("SELECT * FROM resident_fatigue ORDER BY resident_id")
        assert len(before) == 40 and len(fatigue_before) == 40

        applied = [m.version for m in await migrate.migrate(conn)]
        assert applied[0] == 32 and applied == sorted(applied)  # and any later ones

        # the old rows, ids and all, now in the legacy partition with the legacy month
        assert await conn.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'deliveries'") == "p"
        after = [tuple(r) for r in await conn.fetch(f"SELECT {OLD_COLUMNS} FROM deliveries ORDER BY id")]
        assert after == before
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE tableoid = 'deliveries_legacy'::regclass "
                "AND alert_month = '2000-01-01'"
            )
            == 40
        )
        assert set(await conn.fetchval("SELECT array_agg(DISTINCT alert_month) FROM alerts")) == {
            datetime(2000, 1, 1).date()
        }
        assert await conn.fetch("SELECT * FROM resident_fatigue ORDER BY resident_id") == fatigue_before
        triggers = {
            r[0]
            for r in await conn.fetch("SELECT tgname FROM pg_trigger WHERE tgrelid = 'deliveries'::regclass")
        }
        assert {
            "deliveries_inserted_fatigue",
            "deliveries_counted_fatigue",
            "deliveries_deleted_fatigue",
        } <= triggers
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'deliveries_legacy'::regclass AND NOT tgisinternal"
            )
            == 1
        )  # only the clone of the row trigger: the old table's own are gone

        # an old alert's message again: still a no-op (the closing messages once, a fallback once)
        until = datetime.now(UTC) + timedelta(hours=1)
        assert await alerts.materialise_closing(conn, sent_alert, until) == 20
        assert await alerts.materialise_closing(conn, sent_alert, until) == 0
        first = before[0][0]
        fallback = await alerts.add_fallback(conn, {"id": first}, "voice")
        assert fallback is not None and fallback > before[-1][0]  # the id sequence goes on
        assert await alerts.add_fallback(conn, {"id": first}, "voice") is None
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM deliveries_legacy WHERE alert_id = $1 AND kind = 'closing'", sent_alert
            )
            == 20
        )

        # a new alert: its own month, its own partition, the same guarantee
        new_alert = await _insert_alert(conn, "NEW1", "sending")
        month = await conn.fetchval("SELECT alert_month FROM alerts WHERE id = $1", new_alert)
        assert month == datetime.now(UTC).date().replace(day=1)
        insert = """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month)
                    SELECT $1, r, 'sms', 'alert', 'regular', 'queued', now() + interval '5 hours',
                           (SELECT alert_month FROM alerts WHERE id = $1)
                    FROM unnest($2::bigint[]) r ON CONFLICT DO NOTHING"""
        assert await conn.execute(insert, new_alert, rids[:10]) == "INSERT 0 10"
        assert await conn.execute(insert, new_alert, rids[:10]) == "INSERT 0 0"
        where = await conn.fetchval(
            "SELECT array_agg(DISTINCT tableoid::regclass::text) FROM deliveries WHERE alert_id = $1",
            new_alert,
        )
        assert where == [f"deliveries_{month:%Y_%m}"]
        assert (await conn.fetchrow("SELECT * FROM resident_fatigue WHERE resident_id = $1", rids[0]))[
            "alerts"
        ] == [new_alert, sent_alert]

        # sending goes on: queued messages of old and new alerts are claimed and recorded
        claimed = await alerts.claim(conn, "worker-1", "sms", 1000)
        by_alert = {r["alert_id"] for r in claimed}
        assert {queued_alert, new_alert, sent_alert} <= by_alert and len(claimed) == 20 + 20 + 10
        for r in claimed:
            moved = await alerts.apply_status(
                conn, r["id"], r["attempts"] + 1, "sent", ["sending"], f"SMX{r['id']}", None
            )
            assert moved is not None and moved["state"] == "sent"
        assert (
            await conn.fetchval("SELECT count(*) FROM deliveries WHERE state = 'queued'") == 1
        )  # the fallback
    finally:
        await conn.close()


async def test_retention_drops_a_month_partition_whose_rows_are_all_past_it(db):
    for month in ("2024-01-01", "2024-02-01"):
        await db.execute(
            f"CREATE TABLE deliveries_{month[:7].replace('-', '_')} PARTITION OF deliveries "
            f"FOR VALUES FROM ('{month}') TO (('{month}'::date + interval '1 month')::date)"
        )
        await db.execute(
            """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, created_at,
                                       alert_month)
               SELECT -1 - n, 1, 'sms', 'bulletin', 'bulletin', 'delivered', now(), now() - interval '400 days', $1
               FROM generate_series(1, 5) n""",
            datetime.fromisoformat(month).date(),
        )
    # a late row (a closing message of an old alert, say) keeps its partition
    await db.execute(
        """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month)
           VALUES (-100, 1, 'sms', 'bulletin', 'bulletin', 'queued', now(), '2024-02-01')"""
    )
    result = await residents.purge(db, deliveries_days=365)
    # 2024-01 and the (empty) legacy partition went whole; 2024-02's old rows were deleted
    assert result["delivery_partitions_dropped"] == 2 and result["deliveries"] == 10
    assert await db.fetchval("SELECT to_regclass('deliveries_2024_01')") is None
    assert await db.fetchval("SELECT to_regclass('deliveries_legacy')") is None
    assert await db.fetchval("SELECT count(*) FROM deliveries_2024_02") == 1
    month = datetime.now(UTC).date().replace(day=1)
    assert await db.fetchval("SELECT to_regclass($1)", f"deliveries_{month:%Y_%m}") is not None
    assert await db.fetchval("SELECT to_regclass('deliveries_default')") is not None
    result = await residents.purge(db, deliveries_days=365)
    assert result["delivery_partitions_dropped"] == 0 and result["deliveries"] == 0


async def test_the_daily_job_makes_the_month_partitions_ahead(db):
    month = datetime.now(UTC).date().replace(day=1)
    later = (month + timedelta(days=62)).replace(day=1)
    name = f"deliveries_{later:%Y_%m}"
    assert await db.fetchval("SELECT to_regclass($1)", name) is not None  # made by the migration
    await db.execute(f"DROP TABLE {name}")
    assert await residents.make_delivery_partitions(db, months_ahead=2) == 1
    assert await db.fetchval("SELECT to_regclass($1)", name) is not None
    assert await residents.make_delivery_partitions(db, months_ahead=2) == 0
    # a month nobody made went to the default partition: inserts never fail, and the
    # job leaves that month there rather than fail
    far = (month + timedelta(days=400)).replace(day=1)
    await db.execute(
        """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month)
           VALUES (-7, 1, 'sms', 'bulletin', 'bulletin', 'queued', now(), $1)""",
        far,
    )
    assert await db.fetchval("SELECT count(*) FROM deliveries_default") == 1
    assert await residents.make_delivery_partitions(db, months_ahead=14) >= 1
    assert await db.fetchval("SELECT to_regclass($1)", f"deliveries_{far:%Y_%m}") is None
