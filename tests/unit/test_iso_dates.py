"""Dates and times in queries and bodies are ISO 8601 only: a number is not read as a
Unix time (``?to=0`` was 1970-01-01, ``?since=0.5`` a moment in 1970)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from burgerwacht.fields import IsoDate, IsoDateTime


class _Q(BaseModel):
    day: IsoDate | None = None
    at: IsoDateTime | None = None


@pytest.mark.parametrize(
    "value", ["0", "0.5", 0, 1700000000, "1700000000", "2025-3-1", "01-03-2025", "2025-03-01T"]
)
def test_numbers_and_odd_dates_are_refused(value):
    with pytest.raises(ValidationError):
        _Q(day=value)
    with pytest.raises(ValidationError):
        _Q(at=value)


def test_iso_dates_and_times_are_read():
    assert _Q(day="2025-03-01").day.isoformat() == "2025-03-01"
    for value in ("2025-03-01T12:00:00+01:00", "2025-03-01T11:00:00Z", "2025-03-01 12:00", "2025-03-01"):
        assert _Q(at=value).at.year == 2025


async def test_api_refuses_unix_times(client, staff, op):
    analyst = await staff("analyst", "GM9999")
    field = await staff("fieldworker", "GM9999")
    resp = await client.get(
        "/api/v1/signals/summary?municipality=GM9999&from=2025-01-01&to=0", headers=analyst
    )
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["loc"] == "query.to"
    resp = await client.get("/api/v1/signals?municipality=GM9999&from=0", headers=field)
    assert resp.status == 422
    resp = await client.get("/api/v1/tips?since=0.5", headers=op)
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["loc"] == "query.since"
    resp = await client.get("/api/v1/tips?since=2025-03-01T12:00:00Z", headers=op)
    assert resp.status == 200
    resp = await client.post(
        "/api/v1/signals",
        json={
            "area_code": "BU99990101",
            "category": "graffiti",
            "severity": 3,
            "source": "schouw",
            "observed_on": 0,
        },
        headers=field,
    )
    assert resp.status == 422
