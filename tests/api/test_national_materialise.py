"""A large alert's deliveries are written in chunks of resident ids (issue 16, "Two
million recipients"): the first chunk with the send, the rest by the dispatch worker.
Here the chunks are tiny (alerts.materialise_first and materialise_chunk: 40 resident
ids; anything above 50 enrolments is chunked) so a few hundred residents make many."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from burgerwacht.alerts import service, store
from burgerwacht.db import create_pool
from tests.helpers.alerting import alert_body, create, quiet_window_now, wait_until
from tests.helpers.dispatch import enrol_bulk
from tests.helpers.lifecycle import Worker, post, running

WIJKEN = ["WK999901", "WK999902"]


@pytest.fixture
def settings_overrides():
    return {
        "alerts": {
            "materialise_at_once": 50,
            "materialise_first": 40,
            "materialise_chunk": 40,
            "regular_per_resident_per_day": 1,
        }
    }


async def view(client, headers, alert_id: int) -> dict:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def targeting_at_once(db, settings, alert_id: int) -> dict[int, str]:
    """The alert's recipients as the plain (unchunked) recipient query finds them:
    resident → disposition."""
    row = await store.alert(db, alert_id)
    expires_at = datetime.now(UTC) + timedelta(minutes=row["expires_in_minutes"])
    query = service.recipient_query(settings, row, expires_at)
    async with db.transaction():
        rows = await db.fetch(f"SELECT resident_id, disposition FROM ({query.sql()}) x", *query.args())
    return {r["resident_id"]: r["disposition"] for r in rows}


async def test_first_messages_leave_while_the_rest_is_written_and_scope_holds(
    client, sandbox, db, op, settings, monkeypatch
):
    phones = await enrol_bulk(db, 0, 300, WIJKEN)
    ids = {
        r["phone"]: r["id"]
        for r in await db.fetch("SELECT id, phone FROM residents WHERE phone = ANY($1)", phones)
    }
    # residents with a second address in the target (grouped per resident), some whose
    # address lies in another municipality (outside the operator's scope), some in quiet
    # hours past expiry, and some with a regular alert today (over the budget of 1)
    extra = await db.fetch(
        "SELECT id FROM addresses WHERE wijk_code = $1 ORDER BY id DESC LIMIT 20", WIJKEN[0]
    )
    await db.executemany(
        "INSERT INTO resident_addresses (resident_id, address_id, channels) VALUES ($1, $2, ARRAY['sms'])",
        [(ids[phones[i * 13]], a["id"]) for i, a in enumerate(extra)],
    )
    outside = [phones[i] for i in range(5, 300, 37)]
    await db.execute(
        "UPDATE addresses SET municipality_code = 'GM0001' WHERE id IN "
        "(SELECT address_id FROM resident_addresses WHERE resident_id = ANY($1))",
        [ids[p] for p in outside],
    )
    start, end = quiet_window_now(3)
    await db.execute(
        "UPDATE resident_addresses SET quiet_start = $2, quiet_end = $3 WHERE resident_id = ANY($1)",
        [ids[phones[i]] for i in range(2, 300, 29)],
        start,
        end,
    )
    earlier = await create(client, op, alert_body({"type": "areas", "codes": WIJKEN}))
    await db.execute(
        "INSERT INTO deliveries (alert_id, resident_id, channel, level, state, expires_at, alert_month) "
        "SELECT $1, r, 'sms', 'regular', 'sent', now() + interval '1 hour', "
        "       (SELECT alert_month FROM alerts WHERE id = $1) FROM unnest($2::bigint[]) r",
        earlier["id"],
        [ids[phones[i]] for i in range(3, 300, 31)],
    )

    alert = await create(client, op, alert_body({"type": "areas", "codes": WIJKEN}))
    aid = alert["id"]
    expected = await targeting_at_once(db, settings, aid)
    dispositions = Counter(expected.values())
    assert dispositions["budget"] and dispositions["quiet_skip"] and dispositions["now"] > 200
    assert not {ids[p] for p in outside} & set(expected)
    preview = await post(client, f"/api/v1/alerts/{aid}/preview", op, None, 200)
    assert preview["recipients"]["total"] == dispositions["now"]

    sent = await post(client, f"/api/v1/alerts/{aid}/send", op, None, 202)
    assert sent["materialising"] is True
    first = sum(sent["counts"].values())
    assert 0 < first < 60  # the first 40 resident ids only
    doc = await view(client, op, aid)
    assert doc["materialising"] is True and doc["materialised_at"] is None
    stream = await client.get(f"/api/v1/alerts/{aid}/events", headers=op)
    event = (await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 10)).decode()
    stream.close()
    assert event.startswith("event: progress")
    assert json.loads(event.split("\n", 1)[1].removeprefix("data: "))["materialising"] is True
    resp = await client.post(f"/api/v1/alerts/{aid}/widen", json={"target": alert["target"]}, headers=op)
    assert resp.status == 409 and (await resp.json())["type"].endswith("materialising")

    # the worker sends the first chunk while the next one is held back (as if writing
    # it were slow): everything written goes out, yet the alert stays 'sending'
    due = await db.fetchval(
        "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND state = 'queued' AND not_before <= now()",
        aid,
    )
    assert due > 0
    go_on = asyncio.Event()
    write_chunk = service.materialise_next

    async def held_back(pool, settings):
        return await write_chunk(pool, settings) if go_on.is_set() else None

    monkeypatch.setattr(service, "materialise_next", held_back)
    async with running(Worker(settings)):

        async def first_chunk_sent():
            return len(await sandbox.outbound()) >= due

        await wait_until(first_chunk_sent, timeout=15, interval=0.05)
        await asyncio.sleep(1.2)  # a maintenance pass of the worker
        doc = await view(client, op, aid)
        assert doc["materialising"] is True and doc["status"] == "sending"
        assert len(await sandbox.outbound()) == due < dispositions["now"]
        go_on.set()

        async def materialised():
            d = await view(client, op, aid)
            return d if not d["materialising"] else None

        async def all_sent():
            return len(await sandbox.outbound()) >= dispositions["now"]

        doc = await wait_until(materialised, timeout=20, interval=0.05)
        await wait_until(all_sent, timeout=20, interval=0.1)
        await asyncio.sleep(0.3)  # nothing more arrives
    assert doc["materialised_at"] is not None

    # everyone the plain query finds, exactly once, nobody else; the budget and quiet
    # hours decided as they would have been at once
    to = Counter(m["to"] for m in await sandbox.outbound())
    assert max(to.values()) == 1
    by_id = {v: k for k, v in ids.items()}
    assert set(to) == {by_id[r] for r, d in expected.items() if d == "now"}
    rows = await db.fetch(
        "SELECT resident_id, state, reason FROM deliveries WHERE alert_id = $1 AND kind = 'alert'", aid
    )
    assert len(rows) == len(expected)
    written = {r["resident_id"]: (r["state"], r["reason"]) for r in rows}
    reasons = {"budget": ("skipped", "budget"), "quiet_skip": ("skipped", "quiet_hours")}
    assert {r: s for r, s in written.items() if s[0] == "skipped"} == {
        r: reasons[d] for r, d in expected.items() if d != "now"
    }
    done = await view(client, op, aid)
    assert done["counts"]["skipped"] == dispositions["budget"] + dispositions["quiet_skip"]
    logged = await db.fetch("SELECT action FROM audit_log WHERE object_id = $1", str(aid))
    actions = [r["action"] for r in logged]
    assert actions.count("alert.materialised") == 1


async def test_an_alert_closed_while_materialising_writes_no_more(client, sandbox, db, op, settings):
    await enrol_bulk(db, 0, 200, WIJKEN)
    alert = await create(
        client, op, alert_body({"type": "areas", "codes": WIJKEN}, level="missing_child", family_consent=True)
    )
    sent = await post(client, f"/api/v1/alerts/{alert['id']}/send", op, None, 202)
    assert sent["materialising"] is True
    first = sum(sent["counts"].values())
    closed = await post(client, f"/api/v1/alerts/{alert['id']}/close", op, {"message": "Gevonden."}, 202)
    assert closed["cancelled"] == first
    doc = await view(client, op, alert["id"])
    assert doc["status"] == "closed" and doc["materialising"] is False
    async with running(Worker(settings)):
        await asyncio.sleep(1.0)
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE alert_id = $1", alert["id"]) == first
    assert await sandbox.outbound() == []


async def test_a_small_alert_is_written_at_once(client, db, op):
    await enrol_bulk(db, 0, 40, WIJKEN)
    alert = await create(client, op, alert_body({"type": "areas", "codes": WIJKEN}))
    sent = await post(client, f"/api/v1/alerts/{alert['id']}/send", op, None, 202)
    assert sent["materialising"] is False and sent["counts"]["queued"] == 40
    doc = await view(client, op, alert["id"])
    assert doc["materialising"] is False and doc["materialised_at"] == doc["sent_at"]
    spec = await (await client.get("/api/v1/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for name in ("AlertOut", "SendOut"):
        assert "materialising" in schemas[name]["properties"], name


async def send_large(client, db, op, settings, residents: int) -> tuple[int, dict[int, str], dict]:
    """``residents`` enrolled in the two wijken and an alert to them sent: (its id, its
    recipients as the unchunked query finds them, the send's answer); it is written in
    chunks."""
    await enrol_bulk(db, 0, residents, WIJKEN)
    alert = await create(client, op, alert_body({"type": "areas", "codes": WIJKEN}))
    expected = await targeting_at_once(db, settings, alert["id"])
    sent = await post(client, f"/api/v1/alerts/{alert['id']}/send", op, None, 202)
    assert sent["materialising"] is True
    return alert["id"], expected, sent


async def write_every_chunk(db_url, settings, writers: int = 2) -> None:
    """``writers`` chunk writers (as one worker runs alerts.materialise_parallel of them),
    until no chunk is left."""
    pool = await create_pool(db_url, settings, min_size=writers, max_size=writers)
    try:

        async def writer():
            while await service.materialise_next(pool, settings) is not None:
                pass

        await asyncio.gather(*(writer() for _ in range(writers)))
    finally:
        await pool.close()


async def test_parallel_writers_each_write_a_different_chunk(client, db, db_url, op, settings, monkeypatch):
    """Several writers at once (as alerts.materialise_parallel writers and several worker
    processes run): each chunk is written by one writer, several are written at the same
    time, and the result is the unchunked query's, row for row."""
    aid, expected, _sent = await send_large(client, db, op, settings, 400)
    planned = {r["lo"] for r in await db.fetch("SELECT lo FROM materialise_chunks WHERE alert_id = $1", aid)}
    assert len(planned) >= 8

    written: list[int] = []
    in_flight = peak = 0
    write = store.chunk_written

    async def slow_chunk_written(conn, alert_id, lo):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)  # the chunk's transaction stays open a while
        in_flight -= 1
        written.append(lo)
        await write(conn, alert_id, lo)

    monkeypatch.setattr(store, "chunk_written", slow_chunk_written)
    await write_every_chunk(db_url, settings, writers=4)
    assert sorted(written) == sorted(planned)  # each chunk once, none left out
    assert peak >= 2  # written in parallel
    doc = await view(client, op, aid)
    assert doc["materialising"] is False and doc["materialised_at"] is not None
    rows = await db.fetch(
        "SELECT resident_id, state FROM deliveries WHERE alert_id = $1 AND kind = 'alert'", aid
    )
    assert {r["resident_id"]: r["state"] == "queued" for r in rows} == {
        r: d == "now" for r, d in expected.items()
    }
    assert not await db.fetchval("SELECT count(*) FROM materialise_chunks WHERE alert_id = $1", aid)
    logged = await db.fetch("SELECT action FROM audit_log WHERE object_id = $1", str(aid))
    assert [r["action"] for r in logged].count("alert.materialised") == 1


async def test_a_chunk_finding_a_start_message_already_there_writes_the_rest_once(
    client, db, db_url, op, settings
):
    """Chunks are written without ON CONFLICT (their residents cannot have a start message
    yet); should one be there after all, the chunk is written again with the safety net:
    nobody is left out and nobody gets a second one."""
    aid, expected, _sent = await send_large(client, db, op, settings, 200)
    lo, hi = await db.fetchrow(
        "SELECT lo, hi FROM materialise_chunks WHERE alert_id = $1 ORDER BY lo DESC LIMIT 1", aid
    )
    there = await db.fetchval(
        "SELECT min(resident_id) FROM resident_addresses WHERE resident_id > $1 AND resident_id <= $2", lo, hi
    )
    assert there in expected
    await db.execute(
        """INSERT INTO deliveries (alert_id, resident_id, channel, kind, level, state, expires_at, alert_month)
           SELECT id, $2, 'sms', 'alert', level, 'sent', now() + interval '1 hour', alert_month FROM alerts WHERE id = $1""",
        aid,
        there,
    )
    await write_every_chunk(db_url, settings)
    rows = await db.fetch(
        "SELECT resident_id, count(*) AS n, min(state) AS state FROM deliveries "
        "WHERE alert_id = $1 AND kind = 'alert' GROUP BY resident_id",
        aid,
    )
    assert {r["resident_id"] for r in rows} == set(expected)
    assert {r["n"] for r in rows} == {1}
    assert next(r["state"] for r in rows if r["resident_id"] == there) == "sent"  # kept, not written again
    assert (await view(client, op, aid))["materialising"] is False


async def test_the_writers_analyze_the_partition_they_fill(client, db, db_url, op, settings, monkeypatch):
    """Statistics follow a large alert's writing (a national alert fills the month's
    partition faster than autovacuum looks; planned from an empty partition's statistics,
    every claim sorted all queued rows)."""
    monkeypatch.setattr(service, "STATISTICS_LEAST_PAGES", 1)
    aid, _expected, sent = await send_large(client, db, op, settings, 400)
    partition = "(SELECT tableoid FROM deliveries WHERE alert_id = $1 LIMIT 1)"
    assert await db.fetchval(f"SELECT reltuples FROM pg_class WHERE oid = {partition}", aid) <= 0
    await write_every_chunk(db_url, settings)
    written = await db.fetchval("SELECT count(*) FROM deliveries WHERE alert_id = $1", aid)
    counted = await db.fetchval(f"SELECT reltuples FROM pg_class WHERE oid = {partition}", aid)
    # taken while the chunks were being written (the first chunk came with the send)
    assert written >= 400 and sum(sent["counts"].values()) < counted <= written
