"""Helpers for alert tests: residents placed directly in the database, targets built
around demo addresses, waiting for dispatch to finish."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from burgerwacht.geo import rd_to_wgs84


async def address(db, postcode: str, number: int) -> dict[str, Any]:
    row = await db.fetchrow(
        "SELECT id, location, buurt_code, wijk_code FROM addresses WHERE postcode = $1 AND house_number = $2 "
        "AND house_letter = '' AND addition = ''",
        postcode,
        number,
    )
    assert row, (postcode, number)
    lon, lat = rd_to_wgs84(row["location"].x, row["location"].y)
    return {
        "id": row["id"],
        "x": row["location"].x,
        "y": row["location"].y,
        "lat": lat,
        "lon": lon,
        "buurt": row["buurt_code"],
        "wijk": row["wijk_code"],
    }


async def enrol(
    db, phone: str, *address_ids: int, channels=("sms",), quiet=None, status="active", language="nl"
) -> int:
    rid = await db.fetchval(
        "INSERT INTO residents (phone, phone_kind, status, language) VALUES ($1, 'mobile', $2, $3) "
        "ON CONFLICT (phone) DO UPDATE SET status = EXCLUDED.status RETURNING id",
        phone,
        status,
        language,
    )
    for aid in address_ids:
        await db.execute(
            "INSERT INTO resident_addresses (resident_id, address_id, channels, quiet_start, quiet_end) "
            "VALUES ($1, $2, $3, $4, $5)",
            rid,
            aid,
            list(channels),
            *(quiet or (None, None)),
        )
    return rid


async def addresses_near(db, x: float, y: float, radius: float) -> list[int]:
    rows = await db.fetch(
        "SELECT id FROM addresses WHERE location <@ circle(point($1, $2), $3) ORDER BY id", x, y, radius
    )
    return [r[0] for r in rows]


async def addresses_outside(db, x: float, y: float, radius: float, n: int) -> list[int]:
    rows = await db.fetch(
        "SELECT id FROM addresses WHERE NOT location <@ circle(point($1, $2), $3) ORDER BY location <-> point($1, $2) "
        "LIMIT $4",
        x,
        y,
        radius * 1.2,
        n,
    )
    return [r[0] for r in rows]


def circle(a: dict[str, Any], radius_m: float) -> dict[str, Any]:
    return {"type": "circle", "center": {"lat": a["lat"], "lon": a["lon"]}, "radius_m": radius_m}


def alert_body(target: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {
        "level": "regular",
        "title": "Verdachte man",
        "message": "Let op: man in blauwe jas op een rode fiets.",
        "target": target,
        "channels": ["sms"],
        "expires_in_minutes": 60,
        **kw,
    }


async def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        await asyncio.sleep(interval)


async def settled(
    client, headers, alert_id: int, timeout: float = 20.0, *, states=("queued", "sending")
) -> dict:
    """Wait until no delivery of the alert is queued or in flight; return the alert."""

    async def check():
        resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=headers)
        body = await resp.json()
        c = body["counts"]
        pending = sum(c[s] for s in states) + (
            sum(body["closing_counts"][s] for s in states) if body.get("closing_counts") else 0
        )
        return body if pending == 0 else None

    return await wait_until(check, timeout)


async def create(client, headers, body) -> dict:
    resp = await client.post("/api/v1/alerts", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def create_and_send(client, headers, body, *, approver: dict | None = None) -> dict:
    """Create and send; a level that needs a second person (alerts.approval_levels) is
    approved by ``approver`` (headers of a colleague)."""
    alert = await create(client, headers, body)
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/send", headers=headers)
    assert resp.status == 202, await resp.text()
    if (await resp.json())["status"] == "awaiting_approval":
        assert approver is not None, "this level needs a second person: pass approver="
        resp = await client.post(f"/api/v1/alerts/{alert['id']}/approve", headers=approver)
        assert resp.status == 202, await resp.text()
    return alert


def numbers(messages) -> list[str]:
    return sorted(m["to"] for m in messages)


def quiet_window_now(hours_after: float):
    """Quiet hours that started half an hour ago and end ``hours_after`` from now."""
    now = datetime.now(ZoneInfo("Europe/Amsterdam"))
    start = (now - timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=hours_after)).time().replace(second=0, microsecond=0)
    return start, end
