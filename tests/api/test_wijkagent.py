"""The wijkagent (police) role: scoped to wijken, not only to a municipality. Every
route is tried with a wijkagent's token: the routes the role may use answer for their
own wijken and refuse another wijk's areas; every other route refuses the role."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import asyncpg
import pytest

from burgerwacht.auth.service import create_user_with_token
from burgerwacht.db.pool import init_connection
from burgerwacht.domains import DOMAINS
from tests.helpers.signals import BINNENSTAD, seed

OWN = "WK999901"  # Centrum: BU99990101-03
OTHER_BUURT = "BU99990301"  # Havenkwartier
MARCH = "2025-03"


@pytest.fixture
def wijkagent(db_url):
    async def make(*wijken: str, municipality: str = "GM9999") -> dict[str, str]:
        conn = await asyncpg.connect(db_url)
        try:
            await init_connection(conn)
            _, token = await create_user_with_token(
                conn,
                name="Wijkagent test",
                role="wijkagent",
                municipalities=[municipality],
                wijken=list(wijken or [OWN]),
                ttl_days=1,
            )
        finally:
            await conn.close()
        return {"Authorization": f"Bearer {token}"}

    return make


def specs():
    return [s for d in DOMAINS for a in d.apis for s in a.specs if s.roles is not None]


def concrete(path: str) -> str:
    """A path a request can use: every parameter filled in."""
    path = re.sub(r"{format:[^}]*}", "json", path)
    path = re.sub(r"{[a-z_]+:GM[^}]*}", "GM9999", path)
    return re.sub(r"{[^}]+}", "1", path)


def in_centrum(code: str) -> bool:
    return code.startswith(("BU999901", OWN))


# The routes a wijkagent may use, each with its cases: (method, url, kwargs, status,
# check of the answer). Every route naming wijkagent among its roles must be here.
async def _own_only(resp) -> None:
    body = await resp.json(content_type=None)
    rows = body.get("items", body.get("features", []))
    codes = [r.get("area_code") or r["properties"]["area_code"] for r in rows]
    assert codes and all(in_centrum(c) for c in codes), codes
    for prio in body.get("priorities", []):
        assert in_centrum(prio["area_code"])


async def _own_outlines(resp) -> None:
    codes = [f["properties"]["code"] for f in (await resp.json())["features"]]
    assert sorted(codes) == ["BU99990101", "BU99990102", "BU99990103", OWN], codes


async def _own_picture(resp) -> None:
    body = await resp.json()
    codes = [b["area_code"] for b in body["buurten"]] + [a["area_code"] for a in body["alerts"]]
    assert codes and all(in_centrum(c) for c in codes), codes


SCAN = "area_code,theme,period_start,period_end,registered_count\n"
CSV = {"Content-Type": "text/csv"}
SIGNAL = {"category": "graffiti", "severity": 3, "source": "schouw"}

CASES = {
    ("GET", "/api/v1/me"): [("GET", "/api/v1/me", {}, 200, None)],
    ("GET", "/api/v1/areas"): [
        ("GET", "/api/v1/areas?municipality=GM9999", {}, 200, _own_outlines),
        ("GET", "/api/v1/areas?municipality=GM0001", {}, 403, None),
    ],
    ("POST", "/api/v1/signals"): [
        ("POST", "/api/v1/signals", {"json": {**SIGNAL, "area_code": BINNENSTAD}}, 201, None),
        ("POST", "/api/v1/signals", {"json": {**SIGNAL, "area_code": OTHER_BUURT}}, 403, None),
        ("POST", "/api/v1/signals", {"json": {**SIGNAL, "point": {"lat": 52.0555, "lon": 5.81}}}, 403, None),
    ],
    ("GET", "/api/v1/signals/summary"): [
        ("GET", f"/api/v1/signals/summary?municipality=GM9999&period={MARCH}", {}, 200, _own_only),
        ("GET", f"/api/v1/signals/summary?municipality=GM9999&period={MARCH}&level=wijk", {}, 200, _own_only),
        (
            "GET",
            f"/api/v1/signals/summary?municipality=GM9999&period={MARCH}&format=geojson",
            {},
            200,
            _own_only,
        ),
        ("GET", f"/api/v1/signals/summary?municipality=GM9999&period={MARCH}&level=gemeente", {}, 403, None),
        ("GET", f"/api/v1/signals/summary?municipality=GM0001&period={MARCH}", {}, 403, None),
    ],
    ("GET", "/api/v1/signals/trend"): [
        ("GET", f"/api/v1/signals/trend?municipality=GM9999&area={BINNENSTAD}&to={MARCH}", {}, 200, None),
        ("GET", f"/api/v1/signals/trend?municipality=GM9999&area={OWN}&to={MARCH}", {}, 200, None),
        ("GET", f"/api/v1/signals/trend?municipality=GM9999&area={OTHER_BUURT}&to={MARCH}", {}, 403, None),
        ("GET", f"/api/v1/signals/trend?municipality=GM9999&area=WK999903&to={MARCH}", {}, 403, None),
        ("GET", f"/api/v1/signals/trend?municipality=GM9999&to={MARCH}", {}, 403, None),
    ],
    ("POST", "/api/v1/gebiedsscan"): [
        (
            "POST",
            "/api/v1/gebiedsscan",
            {"data": SCAN + f"{BINNENSTAD},woninginbraak,2025-01-01,2025-03-31,4\n", "headers": CSV},
            200,
            None,
        ),
        (
            "POST",
            "/api/v1/gebiedsscan",
            {
                "data": SCAN
                + f"{BINNENSTAD},woninginbraak,2025-01-01,2025-03-31,4\n"
                + f"{OTHER_BUURT},woninginbraak,2025-01-01,2025-03-31,7\n",
                "headers": CSV,
            },
            403,
            None,
        ),
        (
            "POST",
            "/api/v1/gebiedsscan",
            {"data": SCAN + "GM9999,woninginbraak,2025-01-01,2025-03-31,70\n", "headers": CSV},
            403,
            None,
        ),
    ],
    ("GET", "/api/v1/informatiepositie"): [
        ("GET", "/api/v1/informatiepositie?municipality=GM9999&period=2025-Q1", {}, 200, _own_only),
        ("GET", "/api/v1/informatiepositie?municipality=GM0001&period=2025-Q1", {}, 403, None),
    ],
    ("GET", "/api/v1/participation"): [
        ("GET", "/api/v1/participation?municipality=GM9999", {}, 200, _own_only),
        ("GET", "/api/v1/participation?municipality=GM9999&level=wijk&format=geojson", {}, 200, _own_only),
        ("GET", "/api/v1/participation?municipality=GM0001", {}, 403, None),
    ],
    ("GET", "/api/v1/picture"): [
        ("GET", "/api/v1/picture?municipality=GM9999&year=2025", {}, 200, _own_picture),
        ("GET", "/api/v1/picture?municipality=GM0001&year=2025", {}, 403, None),
    ],
}


def test_every_route_open_to_wijkagents_is_in_the_table():
    open_to_wijkagent = {(s.method, s.path) for s in specs() if "wijkagent" in s.roles}
    assert open_to_wijkagent == set(CASES)


async def test_every_other_route_refuses_a_wijkagent(client, wijkagent):
    headers = await wijkagent()
    tried = 0
    for s in specs():
        if "wijkagent" in s.roles:
            continue
        resp = await client.request(s.method, concrete(s.path), headers=headers, json={})
        body = await resp.json(content_type=None)
        assert resp.status == 403 and body["type"].endswith("forbidden-role"), (s.method, s.path, body)
        tried += 1
    assert tried >= 20  # alerts, tips, residents, users, signal lists and texts, reports
    # Open311 takes a staff token as api_key: not a wijkagent's
    resp = await client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": headers["Authorization"].split()[1],
            "service_code": "graffiti",
            "lat": "52.05",
            "long": "5.79",
        },
    )
    assert resp.status == 403


async def test_wijkagent_reads_and_writes_only_their_wijken(client, wijkagent, db):
    await seed(db)
    headers = await wijkagent()
    for route, cases in CASES.items():
        for method, url, kwargs, status, check in cases:
            extra = kwargs.get("headers", {})
            args = {k: v for k, v in kwargs.items() if k != "headers"}
            resp = await client.request(method, url, headers={**headers, **extra}, **args)
            assert resp.status == status, (route, url, status, await resp.text())
            if status == 403:
                assert (await resp.json())["type"].endswith("forbidden-scope"), url
            if check is not None:
                await check(resp)
    # the refused gebiedsscan stored nothing of its own wijk either; the good one did
    assert await db.fetchval("SELECT array_agg(area_code) FROM gebiedsscan") == [BINNENSTAD]
    assert await db.fetchval("SELECT count(*) FROM signals WHERE created_by LIKE 'user:%'") == 1
    me = await (await client.get("/api/v1/me", headers=headers)).json()
    assert me["role"] == "wijkagent" and me["wijken"] == [OWN] and me["municipalities"] == ["GM9999"]


async def test_two_wijken_and_admin_creates_wijkagents(client, staff, wijkagent, db):
    await seed(db)
    headers = await wijkagent(OWN, "WK999902")
    doc = await (
        await client.get(
            f"/api/v1/signals/summary?municipality=GM9999&period={MARCH}&level=wijk", headers=headers
        )
    ).json()
    assert {i["area_code"] for i in doc["items"]} == {OWN, "WK999902"}
    admin = await staff("admin", "GM9999")
    body = {"name": "Agent B", "role": "wijkagent", "municipalities": ["GM9999"], "wijken": ["WK999903"]}
    resp = await client.post("/api/v1/users", json=body, headers=admin)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["user"]["wijken"] == ["WK999903"]
    token = {"Authorization": f"Bearer {created['token']}"}
    resp = await client.get(
        f"/api/v1/signals/trend?municipality=GM9999&area={BINNENSTAD}&to={MARCH}", headers=token
    )
    assert resp.status == 403
    for bad in (
        {**body, "wijken": []},
        {**body, "wijken": ["WK000101"]},
        {**body, "wijken": ["BU99990101"]},
        {**body, "role": "analyst"},
    ):
        resp = await client.post("/api/v1/users", json=bad, headers=admin)
        assert resp.status == 422, (bad, await resp.text())


async def run_cli(db_url: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURGERWACHT_")}
    env["BURGERWACHT_DATABASE_URL"] = db_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from burgerwacht.cli import main; main()",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_user_create_command_takes_wijken(client, db_url, db):
    base = ("user", "create", "--name", "Agent C", "--role", "wijkagent", "--municipality", "GM9999")
    rc, out, err = await run_cli(db_url, *base, "--wijk", "WK999901", "--wijk", "wk999904")
    assert rc == 0, err
    token = out.strip().splitlines()[-1]
    me = await (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["role"] == "wijkagent" and me["wijken"] == ["WK999901", "WK999904"]
    for extra, needle in (
        ((), "at least one wijk"),
        (("--wijk", "WK036301"), "not a wijk of GM9999"),
    ):
        rc, out, err = await run_cli(db_url, *base, *extra)
        assert rc == 2 and needle in err, (extra, err)
    rc, out, err = await run_cli(
        db_url,
        "user",
        "create",
        "--name",
        "X",
        "--role",
        "analyst",
        "--municipality",
        "GM9999",
        "--wijk",
        "WK999901",
    )
    assert rc == 2 and "only a wijkagent" in err
    assert await db.fetchval("SELECT count(*) FROM staff_users WHERE role = 'wijkagent'") == 1
