"""Open311 GeoReport v2 conformance: field names, XML and JSON, the error format,
api keys (fieldworker token, rate-limited public key) and no personal data out."""

from __future__ import annotations

import pytest
from defusedxml import ElementTree

PUBLIC_KEY = "civic-app-key-123"
BASE = "/open311/v2"
BINNENSTAD_LATLON = {"lat": "52.05545", "long": "5.78865"}

SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


@pytest.fixture
def settings_overrides(request):
    return getattr(request, "param", None) or {
        "signals": {"open311_public_key": PUBLIC_KEY, "open311_requests_per_minute": 5}
    }


def assert_error(resp, status: int, body, needle: str = "") -> None:
    assert resp.status == status
    assert resp.content_type == "application/json"
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status and needle in body[0]["description"]


async def test_services_json_and_xml(client):
    resp = await client.get(f"{BASE}/services.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    services = await resp.json()
    assert {s["service_code"] for s in services} >= {"graffiti", "woninginbraak", "anders"}
    for s in services:
        assert set(s) == SERVICE_FIELDS and s["metadata"] is False and s["type"] == "realtime"
    graffiti = next(s for s in services if s["service_code"] == "graffiti")
    assert graffiti["group"] == "Fysieke verloedering"
    resp = await client.get(f"{BASE}/services.xml?jurisdiction_id=GM9999")
    assert resp.status == 200 and resp.content_type == "text/xml"
    text = await resp.text()
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    root = ElementTree.fromstring(text.encode())
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert root.find("service/metadata").text == "false"
    resp = await client.get(f"{BASE}/services/graffiti.json")
    assert (await resp.json()) == {"service_code": "graffiti", "attributes": []}
    assert_error(resp := await client.get(f"{BASE}/services/nope.json"), 404, await resp.json(), "nope")
    assert_error(
        resp := await client.get(f"{BASE}/services.json?jurisdiction_id=GM0001"), 404, await resp.json()
    )
    disc = await (await client.get(f"{BASE}/discovery.json")).json()
    assert disc["endpoints"][0]["specification"].endswith("GeoReport_v2")


async def test_post_request_with_public_key_and_get_its_status(client, db):
    resp = await client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": PUBLIC_KEY,
            "service_code": "graffiti",
            **BINNENSTAD_LATLON,
            "description": "Tags op de gevel",
            "email": "jan@example.org",
            "first_name": "Jan",
            "last_name": "Jansen",
            "phone": "+31612345678",
            "device_id": "dev-42",
            "account_id": "acc-7",
        },
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert isinstance(body, list) and set(body[0]) == {"service_request_id", "service_notice", "account_id"}
    sid = body[0]["service_request_id"]
    row = await db.fetchrow("SELECT * FROM signals")
    assert row["public_id"] == sid and row["source"] == "open311" and row["buurt_code"] == "BU99990101"
    assert (
        row["text"] == "Tags op de gevel"
        and row["location"] is not None
        and row["created_by"] == "open311:public"
    )
    dump = str(dict(row))
    for personal in ("jan@example.org", "Jansen", "612345678", "dev-42", "acc-7"):
        assert personal not in dump
    # status without personal data
    resp = await client.get(f"{BASE}/requests/{sid}.json")
    assert resp.status == 200
    [req] = await resp.json()
    assert set(req) == REQUEST_FIELDS
    assert (
        req["status"] == "open"
        and req["service_code"] == "graffiti"
        and req["agency_responsible"] == "Gemeente Demostad"
    )
    assert (
        req["description"] is None and req["lat"] is None and req["long"] is None and req["address"] is None
    )
    assert req["requested_datetime"].endswith("+00:00")
    resp = await client.get(f"{BASE}/requests/{sid}.xml")
    root = ElementTree.fromstring((await resp.text()).encode())
    assert root.tag == "service_requests" and root.find("request/service_request_id").text == sid
    listed = await (await client.get(f"{BASE}/requests.json?service_request_id={sid},bs-unknown")).json()
    assert [r["service_request_id"] for r in listed] == [sid]
    assert_error(
        resp := await client.get(f"{BASE}/requests.json"), 400, await resp.json(), "service_request_id"
    )
    assert_error(resp := await client.get(f"{BASE}/requests/bs-nope.json"), 404, await resp.json())
    # ids are not guessable
    other = await client.post(
        f"{BASE}/requests.json", data={"api_key": PUBLIC_KEY, "service_code": "drugs", **BINNENSTAD_LATLON}
    )
    sid2 = (await other.json())[0]["service_request_id"]
    assert sid2 != sid and len(sid2) >= 24


async def test_post_request_by_address_and_with_a_fieldworker_token(client, staff, db):
    token = (await staff("fieldworker", "GM9999"))["Authorization"].split()[1]
    resp = await client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": token,
            "service_code": "hondenpoep",
            "address_string": "9993 BL 12",
            "jurisdiction_id": "GM9999",
        },
    )
    assert resp.status == 200, await resp.text()
    row = await db.fetchrow("SELECT buurt_code, created_by FROM signals")
    assert row["buurt_code"] == "BU99990302" and row["created_by"].startswith("open311:user:")
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'signal.create'") == 1
    # JSON bodies are accepted too
    resp = await client.post(
        f"{BASE}/requests.json",
        json={"api_key": token, "service_code": "graffiti", "lat": 52.05545, "long": 5.78865},
    )
    assert resp.status == 200
    # a token of another municipality, an analyst token
    other = (await staff("fieldworker", "GM0001"))["Authorization"].split()[1]
    resp = await client.post(
        f"{BASE}/requests.json", data={"api_key": other, "service_code": "graffiti", **BINNENSTAD_LATLON}
    )
    assert_error(resp, 403, await resp.json(), "GM9999")
    analyst = (await staff("analyst", "GM9999"))["Authorization"].split()[1]
    resp = await client.post(
        f"{BASE}/requests.json", data={"api_key": analyst, "service_code": "graffiti", **BINNENSTAD_LATLON}
    )
    assert_error(resp, 403, await resp.json(), "invalid")


@pytest.mark.parametrize(
    ("data", "status", "needle"),
    [
        ({"service_code": "graffiti", **BINNENSTAD_LATLON}, 403, "api_key was not provided"),
        ({"api_key": "wrong", "service_code": "graffiti", **BINNENSTAD_LATLON}, 403, "invalid"),
        ({"api_key": PUBLIC_KEY, **BINNENSTAD_LATLON}, 400, "service_code"),
        ({"api_key": PUBLIC_KEY, "service_code": "ufo", **BINNENSTAD_LATLON}, 400, "service_code ufo"),
        ({"api_key": PUBLIC_KEY, "service_code": "graffiti"}, 400, "location is required"),
        ({"api_key": PUBLIC_KEY, "service_code": "graffiti", "lat": "52.05"}, 400, "both lat and long"),
        (
            {"api_key": PUBLIC_KEY, "service_code": "graffiti", "lat": "40.7", "long": "-74.0"},
            400,
            "outside the Netherlands",
        ),
        ({"api_key": PUBLIC_KEY, "service_code": "graffiti", "lat": "abc", "long": "5.7"}, 400, "number"),
        (
            {"api_key": PUBLIC_KEY, "service_code": "graffiti", "lat": "52.3", "long": "4.9"},
            400,
            "outside every",
        ),
        (
            {"api_key": PUBLIC_KEY, "service_code": "graffiti", "address_string": "Kerkstraat"},
            400,
            "postcode",
        ),
        (
            {"api_key": PUBLIC_KEY, "service_code": "graffiti", "address_string": "9991 ZZ 1"},
            400,
            "not found",
        ),
        (
            {
                "api_key": PUBLIC_KEY,
                "service_code": "graffiti",
                "jurisdiction_id": "GM0001",
                **BINNENSTAD_LATLON,
            },
            404,
            "jurisdiction_id",
        ),
        (
            {
                "api_key": PUBLIC_KEY,
                "service_code": "graffiti",
                "description": "x" * 4001,
                **BINNENSTAD_LATLON,
            },
            400,
            "4000",
        ),
    ],
)
async def test_post_request_errors_are_georeport_errors(client, db, data, status, needle):
    resp = await client.post(f"{BASE}/requests.json", data=data)
    assert_error(resp, status, await resp.json(), needle)
    assert await db.fetchval("SELECT count(*) FROM signals") == 0


async def test_xml_errors_and_unknown_paths(client):
    resp = await client.post(f"{BASE}/requests.xml", data={"service_code": "graffiti"})
    assert resp.status == 403 and resp.content_type == "text/xml"
    root = ElementTree.fromstring((await resp.text()).encode())
    assert root.tag == "errors" and root.find("error/code").text == "403"
    resp = await client.get(f"{BASE}/nothing.json")
    assert_error(resp, 404, await resp.json())
    # a rest with a line break is still a GeoReport error (the catch-all matches newlines)
    resp = await client.get(f"{BASE}/a%0D%0Ab.json")
    assert resp.content_type == "application/json"
    assert_error(resp, 404, await resp.json())
    resp = await client.post(f"{BASE}/services.json")
    assert_error(resp, 405, await resp.json())
    assert resp.headers["Allow"] == "GET, OPTIONS"


async def test_public_key_is_rate_limited_per_client_in_postgres(client, db):
    import asyncio

    second = await db.fetchval("SELECT extract(second FROM clock_timestamp())")
    if second > 54:  # keep the six requests inside one minute window
        await asyncio.sleep(61 - float(second))
    data = {"api_key": PUBLIC_KEY, "service_code": "graffiti", **BINNENSTAD_LATLON}
    statuses = [(await client.post(f"{BASE}/requests.json", data=data)).status for _ in range(5)]
    assert statuses == [200] * 5
    resp = await client.post(f"{BASE}/requests.json", data=data)
    assert_error(resp, 429, await resp.json(), "rate limit")
    assert int(resp.headers["Retry-After"]) >= 1
    row = await db.fetchrow("SELECT client, hits FROM open311_rate")
    assert row["hits"] == 6 and "127.0.0.1" not in row["client"]
    assert await db.fetchval("SELECT count(*) FROM signals") == 5


async def _post_from(client, source: str, path: str, **kw):
    """A request from another loopback address (Linux routes all of 127.0.0.0/8)."""
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(client.make_url(path), **kw) as resp:
            return resp.status, await resp.read()


async def _fresh_minute(db) -> None:
    import asyncio

    second = await db.fetchval("SELECT extract(second FROM clock_timestamp())")
    if second > 50:  # keep the requests inside one minute window
        await asyncio.sleep(61 - float(second))


async def test_rate_limit_counts_a_clients_network_not_its_exact_address(client, db):
    await _fresh_minute(db)
    data = {"api_key": PUBLIC_KEY, "service_code": "graffiti", **BINNENSTAD_LATLON}
    statuses = [
        (await _post_from(client, f"127.0.0.{n}", f"{BASE}/requests.json", data=data))[0] for n in range(2, 8)
    ]
    assert statuses == [200] * 5 + [429]  # 127.0.0.2-7 are one /24: one budget
    assert await db.fetchval("SELECT count(*) FROM open311_rate") == 1


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "signals": {"open311_public_key": PUBLIC_KEY, "open311_requests_per_minute": 5},
            "http": {"trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"]},
        }
    ],
    indirect=True,
)
async def test_rate_limit_behind_a_trusted_proxy_uses_x_forwarded_for(client, db):
    await _fresh_minute(db)
    data = {"api_key": PUBLIC_KEY, "service_code": "graffiti", **BINNENSTAD_LATLON}

    async def post(xff: str) -> int:
        resp = await client.post(f"{BASE}/requests.json", data=data, headers={"X-Forwarded-For": xff})
        return resp.status

    assert [await post("198.51.100.7") for _ in range(5)] == [200] * 5
    assert await post("198.51.100.7") == 429
    assert await post("198.51.100.200, 10.1.2.3") == 429  # same /24, through two proxies
    assert await post("203.0.113.9, 198.51.100.7") == 429  # a forged left-most hop changes nothing
    assert await post("2001:db8::1") == 200  # another client behind the same proxy
    assert await post("2001:db8::ffff:1") == 200  # the same /64 ...
    assert await db.fetchval("SELECT count(*) FROM open311_rate") == 2  # ... and the same budget


async def test_phone_numbers_in_a_description_are_masked_on_arrival(client, db):
    resp = await client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": PUBLIC_KEY,
            "service_code": "graffiti",
            **BINNENSTAD_LATLON,
            "description": "Tags op de gevel, bel mij op 06-12345678 of +31 6 8765 4321",
        },
    )
    assert resp.status == 200, await resp.text()
    stored = await db.fetchval("SELECT text FROM signals")
    digits = "".join(ch for ch in stored if ch.isdigit())
    assert "Tags op de gevel" in stored
    assert "12345678" not in digits and "87654321" not in digits
