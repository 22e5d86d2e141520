"""Hostile and broken input gets a clear 4xx problem document, never a 500, and leaves
nothing behind: oversized bodies (with and without Content-Length), deeply nested JSON,
JSON that is not JSON (NaN, Infinity), huge and degenerate polygons, invalid UTF-8 and
lone surrogates, in JSON bodies, forms, CSV uploads and query strings."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator

import pytest

from burgerwacht.messaging import sign
from tests.helpers.alerting import address, alert_body
from tests.helpers.service import SERVICE_NUMBER, TEST_TOKEN
from tests.helpers.snapshot import snapshot

PROBLEM = "application/problem+json"


class ServerError(AssertionError):
    """A 5xx where a 4xx was due."""


LIMIT = 64 * 1024


@pytest.fixture
def settings_overrides(request):
    # a small body limit keeps the oversized cases cheap (a test may ask for others)
    return getattr(request, "param", {"http": {"max_body_bytes": LIMIT}})


@pytest.fixture
async def tokens(staff) -> dict[str, dict[str, str]]:
    return {role: await staff(role, "GM9999") for role in ("operator", "analyst", "admin", "fieldworker")}


def unchanged(before: dict[str, str], after: dict[str, str], *also: str) -> set[str]:
    """Tables whose content changed (a token's last-use time is bookkeeping, not data)."""
    return {k for k in after if after[k] != before.get(k)} - {"staff_tokens", *also}


# every JSON-bodied route, with the role allowed to call it and a valid-looking body
JSON_ROUTES = [
    ("POST", "/api/v1/enrolments", None, {"phone": "0612345678", "postcode": "9991AA", "house_number": 75}),
    ("POST", "/api/v1/users", "admin", {"name": "x", "role": "operator", "municipalities": ["GM9999"]}),
    (
        "POST",
        "/api/v1/alerts",
        "operator",
        alert_body({"type": "circle", "center": {"lat": 52.1, "lon": 5.1}, "radius_m": 500}),
    ),
    (
        "POST",
        "/api/v1/signals",
        "fieldworker",
        {"area_code": "BU99990101", "category": "graffiti", "severity": 2, "source": "schouw"},
    ),
    ("POST", "/api/v1/alerts/1/close", "operator", {"message": "Gevonden."}),
    ("PATCH", "/api/v1/tips/1", "operator", {"status": "read"}),
    ("POST", "/api/v1/tips/1/reply", "operator", {"text": "Dank u."}),
    ("PATCH", "/api/v1/signals/1", "fieldworker", {"severity": 3}),
    ("POST", "/api/v1/enrolments/00000000-0000-0000-0000-000000000000/verify", None, {"code": "123456"}),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _, _ in JSON_ROUTES]


async def send(client, tokens, method, path, role, **kwargs):
    headers = dict(kwargs.pop("headers", {}))
    if role:
        headers.update(tokens[role])
    return await client.request(method, path, headers=headers, **kwargs)


@pytest.mark.parametrize(("method", "path", "role", "body"), JSON_ROUTES, ids=ROUTE_IDS)
async def test_json_routes_refuse_hostile_bodies(client, db, tokens, method, path, role, body):
    before = await snapshot(db)
    deep = "[" * 100_000 + "]" * 100_000
    deep_object = '{"a":' * 5000 + "1" + "}" * 5000
    nested_in_field = json.dumps(body)[:-1] + ', "extra": ' + "[" * 900 + "]" * 900 + "}"
    cases = {
        "oversized": json.dumps({**body, "pad": "x" * (LIMIT + 10)}).encode(),
        "deeply nested array": deep.encode(),
        "deeply nested object": deep_object.encode(),
        "nested in a field": nested_in_field.encode(),
        "NaN": json.dumps(body)[:-1].encode() + b', "x": NaN}',
        "Infinity": json.dumps(body)[:-1].encode() + b', "x": -Infinity}',
        "invalid UTF-8": json.dumps(body)[:-1].encode() + b', "x": "\xff\xfe"}',
        "overlong UTF-8": json.dumps(body)[:-1].encode() + b', "x": "\xc0\xaf"}',
        "UTF-16": json.dumps(body).encode("utf-16"),
        "lone surrogate": json.dumps(
            {k: (v + "\ud800" if isinstance(v, str) else v) for k, v in body.items()}
        ).encode("utf-8", "surrogatepass"),
        "escaped lone surrogate": json.dumps(
            {k: (v + "\ud83d" if isinstance(v, str) else v) for k, v in body.items()}
        ).encode(),
        "empty": b"",
        "not an object": b"[]",
        "a bare string": b'"x"',
        "huge number": json.dumps(body)[:-1].encode() + b', "n": 1' + b"0" * 5000 + b"}",
        "duplicate keys": json.dumps(body)[:-1].encode() + b', "x": 1, "x": 2}',
    }
    problems = []
    for name, raw in cases.items():
        resp = await send(
            client, tokens, method, path, role, data=raw, headers={"Content-Type": "application/json"}
        )
        text = await resp.text()
        if not (400 <= resp.status < 500 and resp.content_type == PROBLEM):
            problems.append(f"{name}: {resp.status} {resp.content_type} {text[:160]}")

    # and without Content-Length (chunked): the limit still holds
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 1024 + 4):
            yield b" " * 1024

    resp = await send(
        client, tokens, method, path, role, data=chunks(), headers={"Content-Type": "application/json"}
    )
    if resp.status != 413:
        problems.append(f"chunked oversized: {resp.status} {(await resp.text())[:160]}")
    assert not problems, "\n".join(problems)
    assert not unchanged(before, await snapshot(db))


def ring(center_lon: float, center_lat: float, n: int, radius_deg: float = 0.01) -> list[list[float]]:
    pts = [
        [
            center_lon + radius_deg * math.cos(2 * math.pi * i / n),
            center_lat + radius_deg * math.sin(2 * math.pi * i / n),
        ]
        for i in range(n)
    ]
    return [*pts, pts[0]]


async def test_huge_and_degenerate_polygons_are_4xx(client, db, tokens):
    home = await address(db, "9991AA", 75)
    lon, lat = home["lon"], home["lat"]
    before = await snapshot(db)
    polygons = {
        "100k vertices (over the body limit)": [ring(lon, lat, 100_000)],
        "3,000 vertices (under the body limit)": [ring(lon, lat, 3000)],
        "unclosed": [ring(lon, lat, 8)[:-1]],
        "two points": [[[lon, lat], [lon + 0.01, lat], [lon, lat]]],
        "self-intersecting bow tie": [
            [[lon, lat], [lon + 0.01, lat + 0.01], [lon + 0.01, lat], [lon, lat + 0.01], [lon, lat]]
        ],
        "zero area": [[[lon, lat], [lon + 0.01, lat], [lon + 0.02, lat], [lon, lat]]],
        "outside the Netherlands": [ring(-70.0, -30.0, 8)],
        "out of range": [[[400.0, 100.0], [401.0, 100.0], [401.0, 101.0], [400.0, 100.0]]],
        "empty ring": [[]],
        "no rings": [],
        "ring of empties": [[[], [], [], []]],
        "a hole outside the shell": [ring(lon, lat, 8), ring(lon + 1, lat + 1, 8)],
        "5,000 holes": [ring(lon, lat, 8, 0.02), *([ring(lon, lat, 4, 0.001)] * 5000)],
    }
    problems = []
    for name, coords in polygons.items():
        body = alert_body({"type": "polygon", "coordinates": coords})
        resp = await client.post("/api/v1/alerts", json=body, headers=tokens["operator"])
        text = await resp.text()
        if resp.status == 201 and name.startswith("3,000"):
            continue  # a large but valid polygon may be accepted (within alerts.max_polygon_vertices)
        if not (400 <= resp.status < 500 and resp.content_type == PROBLEM):
            problems.append(f"{name}: {resp.status} {text[:200]}")
    for name, raw in {
        "NaN coordinate": b"[[[NaN, 52.0], [5.1, 52.0], [5.1, 52.1], [NaN, 52.0]]]",
        "Infinity radius": None,
    }.items():
        if raw is None:
            data = json.dumps(
                alert_body({"type": "circle", "center": {"lat": lat, "lon": lon}, "radius_m": 1})
            )
            data = data.replace('"radius_m": 1', '"radius_m": Infinity')
        else:
            data = json.dumps(alert_body({"type": "polygon", "coordinates": "X"})).replace(
                '"X"', raw.decode()
            )
        resp = await client.post(
            "/api/v1/alerts", data=data, headers={**tokens["operator"], "Content-Type": "application/json"}
        )
        if not (400 <= resp.status < 500 and resp.content_type == PROBLEM):
            problems.append(f"{name}: {resp.status} {(await resp.text())[:200]}")
    assert not problems, "\n".join(problems)
    assert not unchanged(before, await snapshot(db), "alerts")  # the 3,000-vertex one may be a draft


async def test_forms_csv_and_queries_with_broken_encodings(client, db, tokens, settings):
    before = await snapshot(db)
    problems = []

    async def check(name, resp, allowed=(400, 403, 404, 413, 415, 422)):
        text = await resp.text()
        if resp.status not in allowed:
            problems.append(f"{name}: {resp.status} {text[:200]}")

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # webhooks: broken bodies are refused (unsigned → 403) before anything else, never a 500
    for name, raw in {
        "percent-encoded invalid UTF-8": b"MessageSid=SM" + b"a" * 32 + b"&From=%2B31612345678&Body=%FF%FE",
        "raw invalid UTF-8": b"MessageSid=SM" + b"a" * 32 + b"&From=%2B31612345678&Body=\xff\xfe",
        "oversized": b"Body=" + b"x" * (LIMIT + 10),
        "multipart garbage": b"--x\r\nContent-Disposition: form-data\r\n\r\n\xff\r\n",
    }.items():
        headers = dict(form)
        if name == "multipart garbage":
            headers = {"Content-Type": "multipart/form-data; boundary=x"}
        await check(f"webhook {name}", await client.post("/twilio/sms", data=raw, headers=headers))
    # a signed webhook whose Body is invalid UTF-8 (the provider never sends one; still not a 500)
    url = settings.public_base + "/twilio/sms"
    params = {"MessageSid": "SM" + "9" * 32, "From": "+31612345678", "To": SERVICE_NUMBER, "Body": "\ufffd"}
    await check(
        "signed webhook, replacement char",
        await client.post(
            "/twilio/sms", data=params, headers={"X-Twilio-Signature": sign(TEST_TOKEN, url, params)}
        ),
        allowed=(200,),
    )
    # Open311: form posts with broken encodings
    for name, raw in {
        "invalid UTF-8": b"service_code=graffiti&lat=52.1&long=5.1&description=%FF%FE",
        "NaN position": b"service_code=graffiti&lat=NaN&long=nan",
        "infinite position": b"service_code=graffiti&lat=inf&long=-Infinity",
        "huge number": b"service_code=graffiti&lat=1" + b"0" * 400 + b"&long=5.1",
        "oversized": b"description=" + b"x" * (LIMIT + 10),
    }.items():
        await check(f"open311 {name}", await client.post("/open311/v2/requests.json", data=raw, headers=form))
    # gebiedsscan CSV upload
    for name, raw in {
        "invalid UTF-8": b"area_code;theme;period;count\nBU99990101;\xff\xfe;2026-01;3\n",
        "UTF-16": "area_code;theme;period;count\nBU99990101;inbraak;2026-01;3\n".encode("utf-16"),
        "NUL bytes": b"area_code;theme;period;count\nBU99990101;in\x00braak;2026-01;3\n",
        "binary": bytes(range(256)) * 10,
        "one huge field": b"area_code;theme;period;count\n" + b"x" * (LIMIT - 100) + b"\n",
        "oversized": b"a;b\n" * (LIMIT // 4 + 10),
    }.items():
        await check(
            f"gebiedsscan {name}",
            await client.post(
                "/api/v1/gebiedsscan", data=raw, headers={**tokens["analyst"], "Content-Type": "text/csv"}
            ),
            allowed=(200, 400, 413, 415, 422),
        )
    # query strings
    for path in (
        "/api/v1/alerts?status=%FF%FE",
        "/api/v1/alerts?status=%ED%A0%80",
        "/api/v1/alerts?before=NaN",
        "/api/v1/alerts?limit=1e309",
        "/api/v1/tips?alert=-1",
        "/api/v1/signals?category=%00",
        "/api/v1/areas?municipality=%FF",
        "/api/v1/signals/summary?level=buurt&municipality=GM9999&period=%FF",
        "/api/v1/informatiepositie?municipality=GM9999&period=9999999999",
    ):
        role = "analyst" if "summary" in path or "informatiepositie" in path else "operator"
        if "signals?" in path:
            role = "fieldworker"
        await check(
            f"query {path}", await client.get(path, headers=tokens[role]), allowed=(200, 400, 404, 422)
        )
    for path in (
        "/open311/v2/requests.json?service_request_id=%FF",
        "/open311/v2/requests/%FF%FE.json",
        "/open311/v2/services/%00.json",
    ):
        await check(f"query {path}", await client.get(path), allowed=(200, 400, 404, 422))
    assert not problems, "\n".join(problems)
    # only the signed webhook (an inbound message and its tip) and accepted CSV rows may have left a trace
    changed = unchanged(before, await snapshot(db))
    assert changed <= {
        "inbound_messages",
        "tips",
        "tip_relay",
        "gebiedsscan",
        "stats_counters",
        "audit_log",
    }, changed


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/x-www-form-urlencoded", b"service_code=graffiti&lat=52.1&long=5.1&description=\xff"),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data\r\n\r\n\xff\r\n--x--\r\n",
        ),
        ("application/json", b'{"a":' * 3000 + b"1" + b"}" * 3000),
        ("application/json", b'{"service_code": "graffiti", "lat": 1' + b"0" * 5000 + b"}"),
    ],
    ids=["raw invalid UTF-8", "multipart without a field name", "deep JSON", "huge JSON integer"],
)
async def test_open311_unreadable_body_is_a_georeport_4xx(client, content_type, raw):
    resp = await client.post("/open311/v2/requests.json", data=raw, headers={"Content-Type": content_type})
    if resp.status >= 500:
        raise ServerError(f"{resp.status} {await resp.text()}")
    assert 400 <= resp.status < 500 and isinstance(await resp.json(), list)  # GeoReport errors


ODD_IDS = [
    "0",
    "-1",
    "1.0",
    "1e3",
    " 1",
    "01",
    "99999999999999999999",
    "١٢",
    "²",
    "1²",
    "%00",
    "%FF",
    "x" * 300,
]
ID_ROUTES = [
    ("GET", "/api/v1/alerts/{}", "operator"),
    ("POST", "/api/v1/alerts/{}/preview", "operator"),
    ("POST", "/api/v1/alerts/{}/cancel", "operator"),
    ("GET", "/api/v1/alerts/{}/cap", "operator"),
    ("GET", "/api/v1/alerts/{}/tips", "operator"),
    ("GET", "/api/v1/tips/{}", "operator"),
    ("GET", "/api/v1/signals/{}", "fieldworker"),
    ("GET", "/api/v1/reports/{}", "analyst"),
    ("GET", "/api/v1/residents/{}", "admin"),
    ("DELETE", "/api/v1/residents/{}", "admin"),
    ("POST", "/api/v1/enrolments/{}/verify", None),
    ("GET", "/open311/v2/requests/{}.json", None),
    ("GET", "/open311/v2/services/{}.json", None),
]


def _id_case(method: str, template: str, role: str | None):
    return pytest.param(method, template, role, id=f"{method} {template}")


@pytest.mark.parametrize(("method", "template", "role"), [_id_case(*r) for r in ID_ROUTES])
async def test_odd_ids_in_paths_are_4xx(client, tokens, method, template, role):
    body = {"code": "123456"} if "verify" in template else None
    failures = []
    for raw in ODD_IDS:
        resp = await send(client, tokens, method, template.format(raw), role, json=body)
        if resp.status >= 500:
            failures.append(f"{raw!r}: {resp.status}")
        elif not 400 <= resp.status < 500:
            raise AssertionError(f"{raw!r}: {resp.status} {await resp.text()}")
    if failures:
        raise ServerError(", ".join(failures))


@pytest.mark.parametrize("settings_overrides", [{}], indirect=True)  # the default 1 MB body limit
async def test_a_polygon_just_under_the_default_body_limit_is_refused_quickly(client, db, tokens):
    import time

    home = await address(db, "9991AA", 75)
    body = json.dumps(
        alert_body({"type": "polygon", "coordinates": [ring(home["lon"], home["lat"], 24_000)]})
    )
    assert 700_000 < len(body) < 1_048_576
    started = time.monotonic()
    resp = await client.post(
        "/api/v1/alerts", data=body, headers={**tokens["operator"], "Content-Type": "application/json"}
    )
    assert resp.status == 422 and "vertices" in (await resp.json())["detail"]
    assert time.monotonic() - started < 3.0
