"""Schemathesis against the live service's own OpenAPI document: every operation gets
generated requests (valid and invalid) with a staff token of a role allowed to call
it; no answer may be a 5xx, every status code and content type must be documented and
every documented answer must match its schema.

The service and the simulator run on real ports in a background thread (schemathesis
calls them synchronously), against a database made from the test template and seeded
with a little of everything so that some generated ids exist. Examples per operation
are bounded (``BURGERWACHT_FUZZ_EXAMPLES``, default 20) to keep the suite within its
time budget, and derandomised so CI runs the same cases every time; set
``BURGERWACHT_FUZZ_RANDOM=1`` (and more examples) to explore.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from burgerwacht.db.pool import init_connection
from tests.helpers.ports import free_port
from tests.helpers.service import SERVICE_NUMBER, TEST_SID, TEST_TOKEN, make_settings, with_database

EXAMPLES = int(os.environ.get("BURGERWACHT_FUZZ_EXAMPLES", "20"))
ROLE_PREFERENCE = ("operator", "analyst", "fieldworker", "admin")
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")

pytestmark = pytest.mark.slow


class LiveService:
    """The service and the simulator on an event loop of their own."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.port, self.sandbox_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-live", daemon=True)
        self.runners: list[web.AppRunner] = []

    def run(self, coro) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        from burgerwacht.sandbox import SandboxConfig, create_sandbox_app
        from burgerwacht.web.app import create_app

        sandbox = create_sandbox_app(
            SandboxConfig(
                account_sid=TEST_SID,
                auth_token=TEST_TOKEN,
                service_url=self.base,
                phone_number=SERVICE_NUMBER,
            )
        )
        service = create_app(
            make_settings(self.db_url, self.port, self.sandbox_port, logging={"level": "ERROR", "json": True})
        )
        for app, port in ((sandbox, self.sandbox_port), (service, self.port)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)

    def stop(self) -> None:
        async def stop() -> None:
            for runner in reversed(self.runners):
                await runner.cleanup()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def _seed(db_url: str) -> dict[str, dict[str, str]]:
    """Staff tokens per role, and a few rows with small ids for generated paths to hit."""
    from burgerwacht.auth.service import create_user_with_token

    conn = await asyncpg.connect(db_url)
    try:
        await init_connection(conn)
        tokens = {}
        for role in ROLE_PREFERENCE:
            _, token = await create_user_with_token(
                conn, name=f"fuzz {role}", role=role, municipalities=["GM9999"], ttl_days=1
            )
            tokens[role] = {"Authorization": f"Bearer {token}"}
        aid = await conn.fetchval("SELECT id FROM addresses ORDER BY id LIMIT 1")
        rid = await conn.fetchval(
            "INSERT INTO residents (phone, phone_kind, status) VALUES ('+31612300000', 'mobile', 'active') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO resident_addresses (resident_id, address_id, channels) VALUES ($1, $2, ARRAY['sms'])",
            rid,
            aid,
        )
    finally:
        await conn.close()
    return tokens


@pytest.fixture(scope="module")
def live(pg_admin_url: str, template_db: str) -> Iterator[tuple[LiveService, dict[str, dict[str, str]]]]:
    name = f"bw_fuzz_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(pg_admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
    db_url = with_database(pg_admin_url, name)
    tokens = asyncio.run(_seed(db_url))
    service = LiveService(db_url)
    service.start()
    _post_samples(service, tokens)
    try:
        yield service, tokens
    finally:
        service.stop()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _post_samples(service: LiveService, tokens: dict[str, dict[str, str]]) -> None:
    """An alert, a signal and a tip through the API itself, so ids 1 exist."""
    import requests

    base = service.base
    alert = {
        "level": "regular",
        "title": "Fuzz",
        "message": "Let op.",
        "target": {"type": "areas", "codes": ["BU99990101"]},
        "channels": ["sms"],
        "expires_in_minutes": 60,
    }
    r = requests.post(f"{base}/api/v1/alerts", json=alert, headers=tokens["operator"], timeout=10)
    assert r.status_code == 201, r.text
    signal = {"area_code": "BU99990101", "category": "graffiti", "severity": 2, "source": "schouw"}
    r = requests.post(f"{base}/api/v1/signals", json=signal, headers=tokens["fieldworker"], timeout=10)
    assert r.status_code == 201, r.text
    r = requests.post(
        f"http://127.0.0.1:{service.sandbox_port}/sandbox/inbound/sms",
        json={"from": "+31612300000", "body": "Ik zag een man met een blauwe jas"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def _roles_by_operation() -> dict[tuple[str, str], frozenset[str] | None]:
    from burgerwacht.web.app import all_specs

    ops = {(s.method, _PARAM.sub(r"{\1}", s.path)): s.roles for s in all_specs()}
    ops.update({("HEAD", _PARAM.sub(r"{\1}", s.path)): s.roles for s in all_specs() if s.head})  # GET + HEAD
    return ops


ROLES = _roles_by_operation()


def auth_for(tokens: dict[str, dict[str, str]], method: str, path: str) -> dict[str, str]:
    roles = ROLES.get((method.upper(), path))
    if not roles:
        return {}
    role = next(r for r in ROLE_PREFERENCE if r in roles)
    return tokens[role]


def _document() -> dict[str, Any]:
    """The same document the service serves (checked below), built at collection time so
    that each operation is its own test; requests go to the live server's base URL."""
    from burgerwacht import __version__
    from burgerwacht.web.api import build_openapi
    from burgerwacht.web.app import all_specs

    return build_openapi(all_specs(), title="Burgerwacht", version=__version__, server_url="http://127.0.0.1")


load_all_checks()
#: Every check the installed schemathesis has, passed explicitly (the default set may
#: leave some out); the test below checks that none is missing.
ALL_CHECKS = CHECKS.get_all()
DOCUMENT = _document()
#: Schema-valid requests that the service rightly refuses for what no schema can say:
#: positive_data_acceptance still runs on these operations, with 422 (or GeoReport's 400)
#: among the statuses it accepts, and only there.
#: - an enrolment names an address that must exist in the address register;
#: - an alert may be sent as CAP XML (application/cap+xml), a string whose XML must be a
#:   CAP 1.2 alert, which JSON Schema cannot describe;
#: - a signal's category must be one of its municipality's taxonomy (which can differ
#:   per municipality, so the document cannot list it as an enum);
#: - a gebiedsscan is a CSV file whose header and lines are checked row by row;
#: - summary and trend take category xor group (and summary period xor from+to, the two
#:   together covering one whole month, quarter or year): OpenAPI has no way to relate
#:   query parameters, so the parameter descriptions say it and the answer is a 422;
#: - informatiepositie's period must be one for which the cube can be built;
#: - a municipality's priorities name gebiedsscan themes of the configuration (no enum in
#:   the document, as for categories), each at most once;
#: - an Open311 request must lie in a known buurt / name an existing address and a
#:   service_code of the taxonomy, answered with GeoReport's 400;
#: - alert stats take 'from' not after 'to', touching at most 24 months (two query
#:   parameters related: the descriptions say it, the answer is a 422).
SEMANTIC_REJECTIONS = [
    ("POST", r"^/api/v1/enrolments$", ["422"]),
    ("POST", r"^/api/v1/signals$", ["422"]),
    ("PATCH", r"^/api/v1/signals/\{signal_id\}$", ["422"]),
    ("POST", r"^/api/v1/alerts$", ["422"]),
    ("POST", r"^/api/v1/gebiedsscan$", ["422"]),
    ("GET", r"^/api/v1/signals/(summary|trend)$", ["422"]),
    ("GET", r"^/api/v1/informatiepositie$", ["422"]),
    ("PUT", r"^/api/v1/municipalities/\{code\}/priorities$", ["422"]),
    ("GET", r"^/api/v1/alerts/stats$", ["422"]),
    ("POST", r"^/open311/v2/requests\.\{format\}$", ["400"]),
]
_POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-method": method,
                "include-path-regex": path,
                "checks": {"positive_data_acceptance": {"expected-statuses": _POSITIVE + extra}},
            }
            for method, path, extra in SEMANTIC_REJECTIONS
        ]
    }
)
# server-sent event streams never end: they have their own tests
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG).exclude(path_regex=r"/events$")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not os.environ.get("BURGERWACHT_FUZZ_RANDOM"),  # CI runs the same cases every time
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_responses_match_their_schemas(case, live):
    service, tokens = live
    case.call_and_validate(
        base_url=service.base,
        headers=auth_for(tokens, case.method, case.path),
        checks=ALL_CHECKS,
        timeout=15,
    )


def test_every_documented_operation_is_fuzzed(live):
    """The fuzzed document is the served one and covers every route."""
    service, _ = live
    import requests

    doc = requests.get(f"{service.base}/api/v1/openapi.json", timeout=10).json()
    assert doc["paths"] == DOCUMENT["paths"] and doc["components"] == DOCUMENT["components"]
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {op for op in ROLES}, "the document and the route table disagree"
    assert len([op for op in documented if not op[1].endswith("/events")]) >= 40


def test_every_check_runs():
    """The fuzz test passes every check the installed schemathesis registers."""
    names = {check.__name__ for check in ALL_CHECKS}
    assert {"positive_data_acceptance", "negative_data_rejection", "use_after_free", "ignored_auth"} <= names
    assert names == set(CHECKS.get_all_names())


def test_document_says_what_the_service_enforces():
    paths, schemas = DOCUMENT["paths"], DOCUMENT["components"]["schemas"]
    post = paths["/open311/v2/requests.{format}"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/x-www-form-urlencoded", "application/json"}
    fields = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"service_code", "lat", "long", "address_string", "api_key", "description", "media_url"} <= set(
        fields["properties"]
    )
    assert set(post["responses"]["200"]["content"]) == {"application/json", "text/xml"}
    assert {"400", "403", "404", "429"} <= set(post["responses"])
    assert set(post["responses"]["403"]["content"]) == {"application/json", "text/xml"}
    formats = 0
    for path, ops in paths.items():
        for op in ops.values():
            for p in op.get("parameters", []):
                if p["name"] == "format" and p["in"] == "path":
                    assert p["schema"]["enum"] == ["json", "xml"], path
                    formats += 1
    assert formats == 6
    assert len(schemas["SignalIn"]["oneOf"]) == 2  # area_code xor point
    for name in ("SummaryQuery", "TrendQuery"):
        assert "not both" in schemas[name]["properties"]["group"]["description"]
    summary = {p["name"]: p for p in paths["/api/v1/signals/summary"]["get"]["parameters"]}
    period = re.compile(summary["period"]["schema"]["anyOf"][0]["pattern"])
    assert all(period.match(p) for p in ("2025", "2025-Q1", "2025Q4", "2025-03", "2025-12"))
    assert not any(period.match(p) for p in ("2025-13", "2025-Q5", "1999", "25", "2025-3"))
    assert schemas["SignalPatch"]["minProperties"] == 1
    close = re.compile(schemas["CloseIn"]["properties"]["message"]["pattern"])
    assert close.match("Opgeheven.\nDank\tu") and not close.match("bel\x07") and not close.match("  ")


def test_what_the_document_promises(live):
    """Other formats are a 404 (the enum), category with group a 422 (the description)."""
    import requests

    service, tokens = live
    r = requests.get(f"{service.base}/open311/v2/discovery.txt", timeout=10)
    assert r.status_code == 404 and r.json()[0]["code"] == 404
    r = requests.post(f"{service.base}/open311/v2/requests.yaml", data={"api_key": "x"}, timeout=10)
    assert r.status_code == 404
    for path in ("summary", "trend"):
        r = requests.get(
            f"{service.base}/api/v1/signals/{path}",
            params={"municipality": "GM9999", "category": "graffiti", "group": "all"},
            headers=tokens["analyst"],
            timeout=10,
        )
        assert r.status_code == 422, r.text
