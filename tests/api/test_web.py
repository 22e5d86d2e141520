"""Problem details for every error, health, readiness and the OpenAPI document."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from burgerwacht.web.app import all_specs, create_app
from burgerwacht.web.errors import PROBLEM_JSON


async def test_health_and_readiness(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}
    resp = await client.get("/readyz")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body == {"status": "ready", "database": "ok", "pending_migrations": [], "error": None}
    assert resp.headers["X-Request-Id"]


async def test_readyz_reports_pending_migrations(client, db):
    await db.execute(
        "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
    )
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "not_ready"
    assert len(body["pending_migrations"]) == 1


async def test_readyz_reports_an_edited_migration(client, db):
    await db.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert "edited after it was applied" in (await resp.json())["error"]


async def test_readyz_without_migrations_to_compare(client, monkeypatch, tmp_path):
    """An incomplete install (no migrations in the package) is not ready, whatever the
    database holds."""
    from burgerwacht.db import migrate

    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert "no migrations found" in (await resp.json())["error"]


async def test_readyz_checks_the_schema_until_it_is_current(client, db):
    resp = await client.get("/readyz")
    assert resp.status == 200
    # from then on only the database's answer is checked (cheap): migrations are not undone
    await db.execute("DELETE FROM schema_migrations WHERE version = 1")
    resp = await client.get("/readyz")
    assert resp.status == 200


async def test_unknown_route_is_problem_json(client):
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert resp.content_type == PROBLEM_JSON
    body = await resp.json()
    assert body["status"] == 404 and body["title"] == "Not Found"
    assert body["instance"] == "/api/v1/nothing-here"
    assert body["request_id"] == resp.headers["X-Request-Id"]


async def test_wrong_method_is_405_problem(client):
    resp = await client.delete("/healthz")
    assert resp.status == 405
    assert resp.content_type == PROBLEM_JSON
    assert "GET" in resp.headers.get("Allow", "")


async def test_validation_error_has_field_paths(client, staff):
    headers = await staff("admin", "GM9999")
    resp = await client.post("/api/v1/users", json={"name": "", "role": "chef"}, headers=headers)
    assert resp.status == 422
    assert resp.content_type == PROBLEM_JSON
    body = await resp.json()
    locs = {e["loc"] for e in body["errors"]}
    assert {"body.name", "body.role", "body.municipalities"} <= locs


async def test_malformed_json_is_400(client, staff):
    headers = await staff("admin", "GM9999")
    resp = await client.post(
        "/api/v1/users", data="{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["type"].endswith("/invalid-json")


async def test_wrong_content_type_is_415(client, staff):
    headers = await staff("admin", "GM9999")
    resp = await client.post(
        "/api/v1/users", data="name=x", headers={**headers, "Content-Type": "text/plain"}
    )
    assert resp.status == 415


@pytest.fixture
def settings_overrides(request):
    return getattr(request, "param", {"http": {"max_body_bytes": 2048}})


async def test_oversized_body_is_413_and_nothing_is_written(client, staff, db):
    headers = await staff("admin", "GM9999")
    users_before = await db.fetchval("SELECT count(*) FROM staff_users")
    big = {"name": "x" * 5000, "role": "operator", "municipalities": ["GM9999"]}
    resp = await client.post("/api/v1/users", json=big, headers=headers)
    assert resp.status == 413
    assert resp.content_type == PROBLEM_JSON
    assert "2048" in (await resp.json())["detail"]
    assert await db.fetchval("SELECT count(*) FROM staff_users") == users_before


async def test_unexpected_exception_is_500_without_internals(settings, service_port, sandbox, caplog):
    app = create_app(settings)

    async def boom(request):
        raise RuntimeError("secret internal detail: password=hunter2")

    app.router.add_get("/boom", boom)
    async with TestClient(TestServer(app, host="127.0.0.1", port=service_port)) as c:
        resp = await c.get("/boom")
        assert resp.status == 500
        assert resp.content_type == PROBLEM_JSON
        text = await resp.text()
        assert "hunter2" not in text and "RuntimeError" not in text
        body = await resp.json()
        rid = body["request_id"]
    logged = [r for r in caplog.records if r.levelname == "ERROR" and "boom" in r.getMessage()]
    assert logged and getattr(logged[0], "request_id", None) == rid


async def test_readyz_when_database_is_gone(settings, service_port, sandbox, db_url, pg_admin_url):
    app = create_app(settings)
    async with TestClient(TestServer(app, host="127.0.0.1", port=service_port)) as c:
        admin = await asyncpg.connect(pg_admin_url)
        try:
            name = urlsplit(db_url).path.lstrip("/")
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            resp = await c.get("/readyz")
            assert resp.status == 503
            assert (await resp.json())["database"] == "unreachable"
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            resp = await c.get("/readyz")
            assert resp.status == 200
        finally:
            await admin.close()


async def test_openapi_document_is_valid_and_covers_every_route(client):
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)  # raises on an invalid OpenAPI 3.1 document
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    import re

    for spec in all_specs():
        path = re.sub(r"{([^}:]+)(?::[^}]*)?}", r"{\1}", spec.path)
        assert (spec.method, path) in documented
    # every route registered on the app is a declared, documented one
    registered = {
        (r.method, re.sub(r"{([^}:]+)(?::[^}]*)?}", r"{\1}", r.resource.canonical))
        for r in client.app.router.routes()
        if r.method != "HEAD"
    }
    assert registered <= documented
    # request and response schemas come from the models
    users = doc["paths"]["/api/v1/users"]["post"]
    assert users["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/NewUser")
    assert "422" in users["responses"] and "401" in users["responses"]


async def test_nul_characters_and_huge_numbers_are_422_not_500(client, staff):
    op = await staff("operator", "GM9999")
    resp = await client.post(
        "/api/v1/enrolments",
        json={"phone": "0612345678", "postcode": "9991AA", "house_number": 75, "label": "thu\u0000is"},
    )
    assert resp.status == 422 and "NUL" in (await resp.json())["detail"]
    for path in (
        "/api/v1/alerts?before=99999999999999999999",
        "/api/v1/tips?alert=99999999999999999999",
        "/api/v1/alerts?status=draft%00",
    ):
        resp = await client.get(path, headers=op)
        assert resp.status == 422, path


@pytest.mark.parametrize("settings_overrides", [{"http": {"request_timeout": 0.2}}], indirect=True)
async def test_a_slow_request_is_a_503_problem(settings, service_port, sandbox):
    import asyncio

    app = create_app(settings)

    async def slow(request):
        await asyncio.sleep(2)

    app.router.add_get("/slow", slow)
    async with TestClient(TestServer(app, host="127.0.0.1", port=service_port)) as c:
        resp = await c.get("/slow")
        assert resp.status == 503 and resp.content_type == PROBLEM_JSON
        assert resp.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("trusted", "peer", "xff", "ip", "bucket"),
    [
        ([], "198.51.100.7", None, "198.51.100.7", "198.51.100.0/24"),
        ([], "127.0.0.1", "203.0.113.9", "127.0.0.1", "127.0.0.0/24"),  # no proxy trusted
        (["127.0.0.1/32"], "127.0.0.1", "203.0.113.9", "203.0.113.9", "203.0.113.0/24"),
        (["127.0.0.1/32"], "192.0.2.1", "203.0.113.9", "192.0.2.1", "192.0.2.0/24"),  # untrusted peer
        (["127.0.0.1/32"], "127.0.0.1", "6.6.6.6, 203.0.113.9", "203.0.113.9", "203.0.113.0/24"),
        (["127.0.0.1/32", "10.0.0.0/8"], "127.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9", None),
        (["127.0.0.1/32", "10.0.0.0/8"], "127.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3", None),  # all trusted
        (["127.0.0.1/32"], "127.0.0.1", "junk", "127.0.0.1", None),
        (["127.0.0.1/32"], "127.0.0.1", "[2001:db8:1:2:3::4]:443", "2001:db8:1:2:3::4", "2001:db8:1:2::/64"),
        (["::1/128"], "::ffff:192.0.2.5", "203.0.113.9", "192.0.2.5", None),
        (["127.0.0.1/32"], "127.0.0.1", "", "127.0.0.1", None),
    ],
)
def test_client_address_behind_trusted_proxies(trusted, peer, xff, ip, bucket):
    from aiohttp.test_utils import make_mocked_request
    from aiohttp.web import Application

    from burgerwacht.config import Settings
    from burgerwacht.web.client import client_bucket, client_ip
    from burgerwacht.web.keys import SETTINGS

    app = Application()
    app[SETTINGS] = Settings(http={"trusted_proxies": trusted})
    headers = {"X-Forwarded-For": xff} if xff is not None else {}
    request = make_mocked_request("GET", "/", headers=headers, app=app).clone(remote=peer)
    assert client_ip(request) == ip
    if bucket:
        assert client_bucket(request) == bucket


def _example_path(template: str) -> str:
    path = re.sub(r"{format[^}]*}", "json", template)
    path = re.sub(r"{tail[^}]*}", "discovery.json", path)
    path = re.sub(r"{service_code[^}]*}", "graffiti", path)
    path = re.sub(r"{code[^}]*}", "GM9999", path)
    return re.sub(r"{[^}]+}", "1", path)


async def test_options_and_allow_are_truthful_on_every_route(client):
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    for path in sorted({_example_path(s.path) for s in all_specs()}):
        resp = await client.options(path)
        assert resp.status == 204, (path, resp.status)
        allow = [m.strip() for m in resp.headers["Allow"].split(",")]
        assert "OPTIONS" in allow and allow != ["OPTIONS"], path
        for method in methods:
            answer = await client.request(method, path)
            if method in allow:
                assert answer.status != 405, (path, method)
            else:
                assert answer.status == 405, (path, method, answer.status)
                assert [m.strip() for m in answer.headers["Allow"].split(",")] == allow, (path, method)


async def test_options_on_an_unknown_path_is_404(client):
    assert (await client.options("/api/v1/nothing-here")).status == 404
    assert (await client.options("/open311/v2/nothing.json")).status == 404
    assert (await client.put("/open311/v2/nothing.json")).status == 404  # not a 405 with no methods
