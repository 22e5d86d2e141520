"""docker-compose.yml: valid against the Compose specification, and consistent with the
code (commands that exist, settings that exist, migrate gating, scalable roles)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from burgerwacht.config import ConfigError, Settings, load_settings
from burgerwacht.demo import DEMO_DIR

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "compose-spec.json"

CORE = ("migrate", "web", "worker", "scheduler")
INFRASTRUCTURE = ("pgbouncer", "replica")
DEMO = ("sandbox", "demo-seed")

# What an operator exports before `docker compose up` (the variables without defaults).
REQUIRED_ENV = {
    "POSTGRES_PASSWORD": "pg-password-0123",
    "BURGERWACHT_SECURITY__SECRET_KEY": "0123456789abcdef0123456789abcdef",
}
# A production configuration: real provider, public HTTPS URL.
PRODUCTION_ENV = {
    **REQUIRED_ENV,
    "BURGERWACHT_PUBLIC_URL": "https://burgerwacht.example.nl",
    "BURGERWACHT_TWILIO__API_BASE": "https://api.twilio.com",
    "BURGERWACHT_TWILIO__ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "BURGERWACHT_TWILIO__AUTH_TOKEN": "f" * 32,
    "BURGERWACHT_TWILIO__FROM_NUMBER": "+3197012345678",
    "BURGERWACHT_TWILIO__SMS_PER_SECOND": "40",
    "BURGERWACHT_TWILIO__CALLS_PER_SECOND": "5",
    "BURGERWACHT_METRICS__TOKEN": "metrics-token",
    "BURGERWACHT_WEB_PORTS": "127.0.0.1:8080-8099",
}


# ------------------------------------------------------------------ helpers


class InterpolationError(Exception):
    pass


_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation (``$$``, ``$VAR``, ``${VAR}``, ``:-``, ``-``, ``:?``, ``?``)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["plain"]
        op, arg = m["op"], m["arg"] or ""
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-") and unset:
            return arg
        if op in (":?", "?") and unset:
            raise InterpolationError(f"{name}: {arg}")
        return current or ""

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose(raw) -> dict[str, Any]:
    """The file as Compose sees it with only the required variables set (the demo)."""
    return interpolate(raw, REQUIRED_ENV)


def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _schema_errors(document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in _validator().iter_errors(document)
    ]


def _runs_burgerwacht(service: dict[str, Any]) -> bool:
    return "build" in service or "burgerwacht" in str(service.get("image", ""))


def _burgerwacht_invocations(service: dict[str, Any]) -> list[list[str]]:
    """The argument lists a service passes to ``burgerwacht`` (image entrypoint or a script)."""
    entrypoint = service.get("entrypoint")
    command = service.get("command")
    if entrypoint is None:
        argv = shlex.split(command) if isinstance(command, str) else list(command or [])
        return [argv]
    script = command if isinstance(command, str) else "\n".join(command or [])
    return [
        shlex.split(m.group(1)) for m in re.finditer(r"(?<![\w/.:-])burgerwacht[ \t]+([^|;)&<>\n]*)", script)
    ]


def _all_invocations() -> list[tuple[str, list[str]]]:
    compose = interpolate(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")), REQUIRED_ENV)
    seen: dict[tuple[str, ...], str] = {}
    for name, service in compose["services"].items():
        if _runs_burgerwacht(service):
            for argv in _burgerwacht_invocations(service):
                seen.setdefault(tuple(argv), name)
    return [(name, list(argv)) for argv, name in seen.items()]


def _is_setting(env_name: str) -> bool:
    if env_name == "BURGERWACHT_CONFIG":
        return True
    if not env_name.startswith("BURGERWACHT_"):
        return False
    key = env_name.removeprefix("BURGERWACHT_").lower()
    section, _, field = key.partition("__")
    info = Settings.model_fields.get(section)
    if info is None:
        return False
    model = info.annotation
    is_section = isinstance(model, type) and issubclass(model, BaseModel)
    if not field:
        return not is_section
    if not is_section or "__" in field:
        return False
    names = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    return field in names


# ------------------------------------------------------------------ the Compose specification


def test_schema_file_is_the_compose_spec():
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    assert schema["title"] == "Compose Specification"
    assert "service" in schema["definitions"]


@pytest.mark.parametrize("env", [None, REQUIRED_ENV, PRODUCTION_ENV], ids=["raw", "demo", "production"])
def test_valid_against_compose_spec(raw, env):
    document = raw if env is None else interpolate(raw, env)
    assert _schema_errors(document) == []


def test_schema_catches_mistakes(raw):
    broken = json.loads(json.dumps(raw))
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["worker"]["comand"] = ["worker"]
    errors = _schema_errors(broken)
    assert any(e.startswith("services/web/depends_on") for e in errors)
    assert any(e.startswith("services/worker") for e in errors)


def test_secrets_have_no_defaults(raw):
    for missing in REQUIRED_ENV:
        env = {k: v for k, v in REQUIRED_ENV.items() if k != missing}
        with pytest.raises(InterpolationError, match=missing):
            interpolate(raw, env)


def test_shared_environment_anchor(raw, compose):
    assert "x-burgerwacht-env" in raw
    shared = compose["x-burgerwacht-env"]
    for name in (*CORE, *DEMO):
        assert compose["services"][name]["environment"] == shared, name
    password = REQUIRED_ENV["POSTGRES_PASSWORD"]
    # pools through PgBouncer, LISTEN/migrations direct, analyst reads from the standby
    assert (
        shared["BURGERWACHT_DATABASE_URL"]
        == f"postgresql://burgerwacht:{password}@pgbouncer:6432/burgerwacht"
    )
    assert shared["BURGERWACHT_DATABASE__PGBOUNCER"] == "true"
    assert shared["BURGERWACHT_DATABASE__DIRECT_URL"] == (
        f"postgresql://burgerwacht:{password}@postgres:5432/burgerwacht"
    )
    assert (
        shared["BURGERWACHT_READ_DATABASE_URL"]
        == f"postgresql://burgerwacht:{password}@replica:5432/burgerwacht"
    )
    assert shared["BURGERWACHT_LOGGING__JSON"] == "true"


# ------------------------------------------------------------------ services


def test_postgres(compose):
    pg = compose["services"]["postgres"]
    assert pg["image"] == "postgres:16"
    assert "pg_isready" in pg["healthcheck"]["test"]
    volume = pg["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    env = pg["environment"]
    assert env["POSTGRES_DB"] == "burgerwacht"
    assert env["POSTGRES_USER"] == "burgerwacht"
    assert env["POSTGRES_PASSWORD"] == REQUIRED_ENV["POSTGRES_PASSWORD"]


def test_migrate_gates_everything(compose):
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name, service in services.items():
        if name in ("postgres", *INFRASTRUCTURE, "migrate"):
            continue
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert service["depends_on"]["pgbouncer"] == {"condition": "service_healthy"}, name
    for name in INFRASTRUCTURE:
        assert services[name]["depends_on"] == {"postgres": {"condition": "service_healthy"}}, name


def test_pgbouncer_and_replica(compose):
    """PgBouncer in transaction pooling (Debian's, in the service image) and a hot standby
    made with pg_basebackup from the primary, which accepts replication connections."""
    services = compose["services"]
    bouncer = services["pgbouncer"]
    script = "\n".join(bouncer["command"])
    assert bouncer["image"] == "burgerwacht:latest" and "/usr/sbin/pgbouncer" in script
    assert "pool_mode = transaction" in script and "listen_port = 6432" in script
    assert "host=postgres port=5432" in script and "statement_timeout" in script
    assert "apt-get install -y --no-install-recommends pgbouncer" in (ROOT / "Dockerfile").read_text()
    replica = services["replica"]
    script = "\n".join(replica["command"])
    assert replica["image"] == services["postgres"]["image"]
    assert "pg_basebackup -h postgres" in script and " -R " in script and "hot_standby=on" in script
    assert replica["volumes"][0].split(":")[0] in compose["volumes"]
    hba = compose["configs"]["replication-hba"]["content"]
    assert "host replication all all" in hba
    assert any(c["source"] == "replication-hba" for c in services["postgres"]["configs"])
    for name, service in (("pgbouncer", bouncer), ("replica", replica)):
        syntax = subprocess.run(
            ["/bin/sh", "-n", "-c", "\n".join(service["command"])],
            capture_output=True,
            text=True,
            check=False,
        )
        assert syntax.returncode == 0, (name, syntax.stderr)


def test_roles_and_commands(compose):
    services = compose["services"]
    assert services["web"]["command"] == ["web", "--host", "0.0.0.0", "--port", "8080"]
    assert services["worker"]["command"] == ["worker", "--host", "0.0.0.0", "--port", "9100"]
    assert services["scheduler"]["command"] == ["scheduler", "--host", "0.0.0.0", "--port", "9100"]
    assert services["sandbox"]["command"] == [
        "sandbox",
        "--host",
        "0.0.0.0",
        "--port",
        "8081",
        "--service-url",
        "http://web:8080",
    ]


def test_web_and_worker_scale(compose):
    for name in ("web", "worker", "scheduler"):
        assert "container_name" not in compose["services"][name], name
    for name in ("web", "worker", "scheduler"):
        for port in compose["services"][name].get("ports", []):
            spec = str(port)
            if ":" not in spec:
                continue  # container port only: Docker picks a free host port per replica
            # [IP:]HOST:CONTAINER — the host port must be a range so `--scale web=N` fits.
            published = spec.rsplit(":", 1)[0].rsplit(":", 1)[-1]
            assert re.fullmatch(r"\d+-\d+", published), port
    health = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert "/readyz" in health


def test_every_process_exposes_its_metrics(compose):
    """Delivery counts, provider errors and reconciliations are counted in the worker
    processes: each long-running role listens on a port (its /metrics), and publishes it."""
    for name in ("web", "worker", "scheduler"):
        service = compose["services"][name]
        command = service["command"]
        assert "--port" in command, name
        port = command[command.index("--port") + 1]
        assert command[command.index("--host") + 1] == "0.0.0.0", name
        published = [str(p) for p in service.get("ports", [])]
        assert any(p.endswith(f":{port}") for p in published), (name, published)


def test_demo_profile(compose):
    services = compose["services"]
    for name in DEMO:
        assert services[name]["profiles"] == ["demo"], name
    for name in ("postgres", *CORE):
        assert "profiles" not in services[name], name
    seed = services["demo-seed"]
    assert seed["restart"] == "no"
    commands = [argv[:2] for argv in _burgerwacht_invocations(seed)]
    # the demo data ships inside the package (the image has no source tree)
    assert ["import-areas", "$DEMO/areas.geojson"] in commands
    assert ["import-addresses", "$DEMO/addresses.csv"] in commands
    assert ["user", "create"] in commands
    script = seed["command"] if isinstance(seed["command"], str) else "\n".join(seed["command"])
    syntax = subprocess.run(["/bin/sh", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    assert "from burgerwacht.demo import DEMO_DIR" in script
    assert (DEMO_DIR / "areas.geojson").is_file()
    assert (DEMO_DIR / "addresses.csv").is_file()
    # By default the provider is the simulator and the simulator calls web back.
    assert compose["x-burgerwacht-env"]["BURGERWACHT_TWILIO__API_BASE"] == "http://sandbox:8081"
    assert compose["x-burgerwacht-env"]["BURGERWACHT_PUBLIC_URL"] == "http://web:8080"


@pytest.mark.parametrize(
    ("service", "argv"), _all_invocations(), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_burgerwacht_commands_exist(service, argv):
    assert argv, f"{service}: no burgerwacht command"
    result = subprocess.run(
        [sys.executable, "-m", "burgerwacht", *argv, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{service}: burgerwacht {' '.join(argv)}: {result.stderr}"


def test_dockerfile():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    # the image installs the wheel and runs from site-packages, not from a source tree
    assert re.search(r"pip wheel --no-deps", dockerfile)
    assert re.search(r"^RUN pip install [^\n]*\.whl", dockerfile, re.M)
    assert "PYTHONPATH" not in dockerfile
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["burgerwacht"]' in dockerfile
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".env", ".venv", ".git", ".data"):
        assert entry in ignored


# ------------------------------------------------------------------ configuration


def test_every_burgerwacht_variable_is_a_setting(raw):
    names = set(raw["x-burgerwacht-env"])
    for service in raw["services"].values():
        env = service.get("environment") or {}
        names |= set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
    names |= set(re.findall(r"\$\{?(BURGERWACHT_[A-Z0-9_]+)", COMPOSE_FILE.read_text(encoding="utf-8")))
    names = {n for n in names if n.startswith("BURGERWACHT_")}
    names -= {"BURGERWACHT_IMAGE", "BURGERWACHT_WEB_PORTS"}  # Compose-only knobs, not settings
    assert len(names) > 10
    assert [n for n in sorted(names) if not _is_setting(n)] == []


def test_is_setting_rejects_unknown_names():
    assert _is_setting("BURGERWACHT_TWILIO__ACCOUNT_SID")
    assert _is_setting("BURGERWACHT_LOGGING__JSON")
    assert not _is_setting("BURGERWACHT_TWILIO__SID")
    assert not _is_setting("BURGERWACHT_TWILIO")
    assert not _is_setting("BURGERWACHT_SECRET_KEY")
    assert not _is_setting("BURGERWACHT_PUBLIC_URL__X")


DEMO_ENV = {**REQUIRED_ENV, "BURGERWACHT_ENVIRONMENT": "development"}


def test_half_configured_production_refuses_the_demo_credentials(raw, monkeypatch):
    values = interpolate(raw, REQUIRED_ENV)["x-burgerwacht-env"]
    monkeypatch.delenv("BURGERWACHT_CONFIG", raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, str(value))
    with pytest.raises(ConfigError, match="BURGERWACHT_TWILIO__AUTH_TOKEN"):
        load_settings()


@pytest.mark.parametrize("env", [DEMO_ENV, PRODUCTION_ENV], ids=["demo", "production"])
def test_environment_loads_as_settings(raw, monkeypatch, env):
    values = interpolate(raw, env)["x-burgerwacht-env"]
    monkeypatch.delenv("BURGERWACHT_CONFIG", raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, str(value))
    try:
        settings = load_settings()
    except ConfigError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(str(exc))
    assert settings.environment == ("production" if env is PRODUCTION_ENV else "development")
    assert settings.database_url.startswith("postgresql://burgerwacht:")
    assert settings.security.secret_key == env["BURGERWACHT_SECURITY__SECRET_KEY"]
    assert settings.logging.json_format is True
    assert str(settings.data_dir) == "/var/lib/burgerwacht/data"
    if env is PRODUCTION_ENV:
        assert str(settings.twilio.api_base).rstrip("/") == "https://api.twilio.com"
        assert settings.twilio.sms_per_second == 40
        assert settings.public_base == "https://burgerwacht.example.nl"
    else:
        assert settings.public_base == "http://web:8080"
        assert str(settings.twilio.api_base).rstrip("/") == "http://sandbox:8081"
