"""The fatigue budget's summary (resident_fatigue, kept by triggers on deliveries, sql/0030)
against the rule it replaces, read straight from deliveries: after sends through the API,
state changes, history, erasure, deleted deliveries and the purge."""

from __future__ import annotations

import asyncio

import pytest

from burgerwacht.residents import store as residents_store
from tests.helpers.alerting import (
    address,
    addresses_near,
    alert_body,
    circle,
    create,
    create_and_send,
    enrol,
    settled,
)

# the rule as the recipient query used to count it: regular alerts other than $1 with a
# start message that counts, created in the last 24 h, per resident
OLD_RULE = """
    SELECT d.resident_id, count(DISTINCT d.alert_id) AS n FROM deliveries d
    WHERE d.resident_id IS NOT NULL AND d.kind = 'alert' AND d.level = 'regular' AND d.alert_id <> $1
      AND d.created_at > now() - interval '24 hours' AND d.state NOT IN ('skipped', 'cancelled', 'expired')
    GROUP BY d.resident_id"""
SUMMARY = """
    SELECT f.resident_id, (SELECT count(*) FROM unnest(f.alerts, f.times) AS u (alert_id, at)
                           WHERE u.alert_id <> $1 AND u.at > now() - interval '24 hours') AS n
    FROM resident_fatigue f"""


@pytest.fixture
def service_roles():
    return {"web", "worker"}


def phone(i: int) -> str:
    return f"+316100{i:05d}"


async def agree(db, *alert_ids: int) -> dict[int, int]:
    """The summary counts what the old rule counts, leaving out each alert in turn (and
    none); returns the counts leaving out none."""
    for left_out in (0, *alert_ids):
        old = {r["resident_id"]: r["n"] for r in await db.fetch(OLD_RULE, left_out)}
        new = {r["resident_id"]: r["n"] for r in await db.fetch(SUMMARY, left_out) if r["n"]}
        assert new == old, f"leaving out alert {left_out}"
    return {r["resident_id"]: r["n"] for r in await db.fetch(OLD_RULE, 0)}


async def test_summary_agrees_with_the_rule_it_replaces(client, sandbox, db, op, staff):
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 200)
    rids = [await enrol(db, phone(i), near[i]) for i in range(4)]
    sent = []
    for _ in range(2):
        a = await create_and_send(client, op, alert_body(circle(centre, 200)))
        await settled(client, op, a["id"])
        sent.append(a["id"])
    urgent = await create_and_send(
        client, op, alert_body(circle(centre, 200), level="missing_child", family_consent=True)
    )
    await settled(client, op, urgent["id"])  # no budget: not counted
    counts = await agree(db, *sent, urgent["id"])
    assert counts == dict.fromkeys(rids, 2)

    # one of two channels cancelled still counts; both cancelled does not
    a, b = sent
    await db.execute(
        "INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month) "
        "VALUES ($1, $2, 'voice', 'alert', 'regular', 'delivered', now(), "
        "        (SELECT alert_month FROM alerts WHERE id = $1))",
        a,
        rids[0],
    )
    assert (await agree(db, *sent))[rids[0]] == 2
    await db.execute(
        "UPDATE deliveries SET state = 'cancelled' WHERE alert_id = $1 AND resident_id = $2 AND channel = 'sms'",
        a,
        rids[0],
    )
    assert (await agree(db, *sent))[rids[0]] == 2
    await db.execute(
        "UPDATE deliveries SET state = 'expired' WHERE alert_id = $1 AND resident_id = $2", a, rids[0]
    )
    assert (await agree(db, *sent))[rids[0]] == 1
    await db.execute(
        "UPDATE deliveries SET state = 'delivered' WHERE alert_id = $1 AND resident_id = $2", a, rids[0]
    )
    assert (await agree(db, *sent))[rids[0]] == 2
    # the day before does not count, nor does a skipped message; a start message moved
    # back in time (one statement for two residents) leaves the window
    yesterday, skipped = [(await create(client, op, alert_body(circle(centre, 200))))["id"] for _ in range(2)]
    await db.execute(
        "INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, created_at, "
        "                        alert_month) "
        "VALUES ($1, $2, 'sms', 'alert', 'regular', 'delivered', now(), now() - interval '30 hours', date_trunc('month', now() AT TIME ZONE 'UTC')::date), "
        "       ($3, $2, 'sms', 'alert', 'regular', 'skipped', now(), now(), date_trunc('month', now() AT TIME ZONE 'UTC')::date)",
        yesterday,
        rids[1],
        skipped,
    )
    await db.execute(
        "UPDATE deliveries SET created_at = now() - interval '25 hours' WHERE alert_id = $1 AND resident_id = ANY($2)",
        b,
        rids[2:],
    )
    counts = await agree(db, *sent, urgent["id"], yesterday, skipped)
    assert [counts.get(r, 0) for r in rids] == [2, 2, 1, 1]

    # erasure through the API: the resident's row goes, the others stay as they were
    admin = await staff("admin", "GM9999")
    assert (await client.delete(f"/api/v1/residents/{rids[3]}", headers=admin)).status == 200
    assert await db.fetchval("SELECT count(*) FROM resident_fatigue WHERE resident_id = $1", rids[3]) == 0
    counts = await agree(db, *sent, urgent["id"], yesterday, skipped)
    assert [counts.get(r, 0) for r in rids] == [2, 2, 1, 0]

    # deliveries deleted (an alert's, as retention or deleting an alert does)
    await db.execute("DELETE FROM deliveries WHERE alert_id = $1 AND resident_id = $2", b, rids[1])
    counts = await agree(db, *sent, urgent["id"], yesterday, skipped)
    assert [counts.get(r, 0) for r in rids] == [2, 1, 1, 0]

    # the purge drops entries past the 24 hours (and rows left empty), counts unchanged
    await db.execute("UPDATE deliveries SET created_at = now() - interval '26 hours' WHERE alert_id = $1", a)
    await residents_store.purge(db, deliveries_days=365)
    assert await db.fetchval("SELECT count(*) FROM resident_fatigue WHERE $1 = ANY(alerts)", a) == 0
    counts = await agree(db, *sent, urgent["id"], yesterday, skipped)
    assert [counts.get(r, 0) for r in rids] == [1, 0, 0, 0]
    assert await db.fetchval("SELECT count(*) FROM resident_fatigue") == 1


@pytest.mark.parametrize("cancel_first", [True, False])
async def test_a_cancel_and_a_send_at_once_leave_it_exact(db, db_url, cancel_first):
    """One transaction cancels a resident's SMS of an alert while another writes a voice
    message of it (that counts): whichever goes first, the other waits on the resident's
    summary row and then sees it, so the alert still counts once."""
    import asyncpg

    insert = (
        "INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month) "
        "VALUES (9001, 4242, $1, 'alert', 'regular', 'queued', now() + interval '1 hour', date_trunc('month', now() AT TIME ZONE 'UTC')::date)"
    )
    await db.execute(insert, "sms")
    assert (await agree(db, 9001))[4242] == 1
    a, b = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        ta, tb = a.transaction(), b.transaction()
        await ta.start()
        await tb.start()
        cancel = "UPDATE deliveries SET state = 'cancelled' WHERE alert_id = 9001 AND channel = 'sms'"
        steps = [lambda: a.execute(cancel), lambda: b.execute(insert, "voice")]
        first, second = steps if cancel_first else steps[::-1]
        await first()
        waiting = asyncio.ensure_future(second())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # held by the first one's lock on the summary row
        await (ta if cancel_first else tb).commit()
        await waiting
        await (tb if cancel_first else ta).commit()
    finally:
        await a.close()
        await b.close()
    assert (await agree(db, 9001))[4242] == 1


# the month partition of deliveries made now (alerts.alert_month's default)
MONTH = "date_trunc('month', now() AT TIME ZONE 'UTC')::date"


@pytest.mark.parametrize("ending", ["cancel", "expire"])
async def test_ending_an_alert_while_another_is_written_does_not_deadlock(db, db_url, ending):
    """A regular alert's queued messages cancelled (or expired) while another regular
    alert is written for the same residents. The writer locks their summary rows in
    resident order (one INSERT); the ending must too, whatever order its messages lie in
    (here resident 2 before 1). A third transaction holds resident 1's row so that both
    queue for it, the writer first: the ending, taking resident 2's row first, would
    deadlock with the writer (PostgreSQL aborts one of them: a 500 for the operator)."""
    import asyncpg

    from burgerwacht.alerts import store as alerts_store

    r1, r2 = 5101, 5102
    expires = "now() + interval '1 hour'" if ending == "cancel" else "now() - interval '1 second'"
    for resident in (r2, r1):  # the ending alert's messages: resident 2's first
        await db.execute(
            "INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month) "
            f"VALUES (9101, $1, 'sms', 'alert', 'regular', 'queued', {expires}, {MONTH})",
            resident,
        )
    holder, writer, ender = [await asyncpg.connect(db_url) for _ in range(3)]
    try:
        held, writing, ended = holder.transaction(), writer.transaction(), ender.transaction()
        for tx in (held, writing, ended):
            await tx.start()
        await holder.execute("SELECT 1 FROM resident_fatigue WHERE resident_id = $1 FOR UPDATE", r1)

        async def waits(task: asyncio.Future) -> bool:
            await asyncio.sleep(0.3)
            return not task.done()

        write = asyncio.ensure_future(
            writer.execute(
                "INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month) "
                f"SELECT 9102, r, 'sms', 'alert', 'regular', 'queued', now() + interval '1 hour', {MONTH} "
                "FROM unnest($1::bigint[]) AS r",
                [r1, r2],
            )
        )
        assert await waits(write)  # queued for resident 1's row, holding nothing
        end = asyncio.ensure_future(
            alerts_store.cancel_unsent(ender, 9101) if ending == "cancel" else alerts_store.expire_due(ender)
        )
        assert await waits(end)
        await held.commit()
        await asyncio.wait_for(write, 10)  # a deadlock would abort one of them here
        await writing.commit()
        await asyncio.wait_for(end, 10)
        await ended.commit()
    finally:
        for conn in (holder, writer, ender):
            await conn.close()
    counts = await agree(db, 9101, 9102)
    assert counts[r1] == counts[r2] == 1  # 9102 counts; 9101 no longer
