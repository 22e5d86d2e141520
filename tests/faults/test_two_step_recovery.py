"""Follow-ups and waves are written in two steps (a first batch commits at once, then
the rest): a process that dies in between leaves them incomplete, and the worker's
maintenance (``service.complete_pending``) completes them — nobody missed, nobody twice."""

from __future__ import annotations

import pytest

from burgerwacht.alerts import service
from burgerwacht.alerts.models import UpdateIn, WidenIn
from burgerwacht.auth.models import StaffUser
from burgerwacht.db.pool import create_pool
from tests.helpers.alerting import address, alert_body, circle, create_and_send, enrol
from tests.helpers.lifecycle import in_ring


@pytest.fixture
def service_roles():
    return {"web"}  # no worker: the test completes the steps itself


async def test_half_written_follow_up_and_wave_are_completed(client, db, op, settings, db_url, monkeypatch):
    centre = await address(db, "9991AA", 75)
    for i, home in enumerate(await in_ring(db, centre, 0, 140, 3)):
        await enrol(db, f"+3162000{i:04d}", home)
    for i, home in enumerate(await in_ring(db, centre, 180, 280, 5)):
        await enrol(db, f"+3162001{i:04d}", home)
    alert = await create_and_send(client, op, alert_body(circle(centre, 150)))
    aid = alert["id"]
    await db.execute("UPDATE deliveries SET state = 'delivered', text_seq = 0 WHERE alert_id = $1", aid)
    user_id = await db.fetchval("SELECT id FROM staff_users WHERE role = 'operator'")
    user = StaffUser(id=user_id, name="operator test", role="operator", municipalities=("GM9999",))
    monkeypatch.setattr(service, "FIRST_BATCH", 2)
    finish_update, finish_wave = service._finish_update, service._finish_wave

    async def died(*_a, **_kw):
        raise ConnectionError("the process died between the two steps")

    monkeypatch.setattr(service, "_finish_update", died)
    monkeypatch.setattr(service, "_finish_wave", died)
    pool = await create_pool(db_url, settings, min_size=1, max_size=2)
    try:
        with pytest.raises(ConnectionError):
            await service.add_update(pool, settings, user, aid, UpdateIn(message="Nu bij het station."))
        with pytest.raises(ConnectionError):
            await service.widen(
                pool, settings, user, aid, WidenIn.model_validate({"target": circle(centre, 300)})
            )
        assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'update'") == 2
        assert await db.fetchval("SELECT count(*) FROM deliveries WHERE wave = 1") == 2
        assert await db.fetchval("SELECT count(*) FROM alert_updates WHERE NOT complete") == 1
        assert await db.fetchval("SELECT count(*) FROM alert_waves WHERE NOT complete") == 1
        # not yet old enough to be taken for dead
        assert await service.complete_pending(pool, settings) == 0

        monkeypatch.setattr(service, "_finish_update", finish_update)
        monkeypatch.setattr(service, "_finish_wave", finish_wave)
        assert await service.complete_pending(pool, settings, older_than_s=0) == 2
        assert await service.complete_pending(pool, settings, older_than_s=0) == 0
    finally:
        await pool.close()
    rows = await db.fetch(
        "SELECT kind, wave, count(*) AS n, count(DISTINCT resident_id) AS residents FROM deliveries "
        "GROUP BY kind, wave ORDER BY kind, wave"
    )
    assert [(r["kind"], r["wave"], r["n"], r["residents"]) for r in rows] == [
        ("alert", 0, 3, 3),
        ("alert", 1, 5, 5),
        ("update", 0, 3, 3),
    ]
    assert await db.fetchval("SELECT added FROM alert_waves") == 5
    assert await db.fetchval("SELECT count(*) FROM alert_updates WHERE complete") == 1
    audit = await db.fetch("SELECT actor, details FROM audit_log WHERE action = 'alert.widen'")
    assert [(a["actor"], a["details"]["added"]) for a in audit] == [(f"user:{user_id}", 5)]
