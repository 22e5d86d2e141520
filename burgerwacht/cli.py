"""The ``burgerwacht`` command."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import click

from burgerwacht.config import ConfigError, Settings, load_settings

T = TypeVar("T")


def run_async(coro: Any) -> Any:
    """Run a coroutine on uvloop (asyncpg and aiohttp are markedly faster on it) where
    it is available, else on the standard event loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        return asyncio.run(coro)
    return uvloop.run(coro)


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        click.echo(f"burgerwacht: {exc}", err=True)
        sys.exit(2)


def _setup_logging(settings: Settings) -> None:
    from burgerwacht.logs import setup_logging

    setup_logging(settings.logging.level, settings.logging.json_format)


def _database_url(settings: Settings) -> str:
    """Commands talk to PostgreSQL itself (database.direct_url, bypassing PgBouncer: the
    migrations hold a session-level advisory lock), else to database_url."""
    from burgerwacht.db.pool import resolve_database_url

    return settings.database.direct_url or resolve_database_url(settings)


def with_connection(settings: Settings, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    from burgerwacht.db.pool import init_connection

    url = _database_url(settings)

    async def go() -> T:
        conn = await asyncpg.connect(url)
        try:
            await init_connection(conn)
            return await fn(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


def _migrate_or_exit(settings: Settings) -> list[str]:
    from burgerwacht.db import migrate

    if settings.database.pgbouncer and not settings.database.direct_url:
        # a session-level advisory lock through transaction pooling would stay behind
        click.echo(
            "burgerwacht: migrations need PostgreSQL itself, not PgBouncer: set database.direct_url "
            "[BURGERWACHT_DATABASE__DIRECT_URL]",
            err=True,
        )
        sys.exit(2)
    try:
        applied = with_connection(settings, migrate.migrate)
    except migrate.MigrationError as exc:
        click.echo(f"burgerwacht: migration error: {exc}", err=True)
        sys.exit(1)
    return [m.path.name for m in applied]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="burgerwacht", prog_name="burgerwacht")
def cli() -> None:
    """Burgerwacht: geo-targeted alerts, tips and neighbourhood signals.

    Configuration: the package's defaults/default.toml, the file in BURGERWACHT_CONFIG, then
    BURGERWACHT_<KEY> / BURGERWACHT_<SECTION>__<KEY> environment variables.
    """


# ------------------------------------------------------------------ serving roles


async def serve(
    settings: Settings,
    roles: set[str],
    host: str | None,
    port: int | None,
    banner: Callable[[], None] | None = None,
) -> None:
    from aiohttp import web

    from burgerwacht.web.app import create_app

    deadline = asyncio.get_running_loop().time() + 30
    while True:
        app = create_app(settings, roles=roles)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=10)
        try:
            await runner.setup()
            break
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await runner.cleanup()
            if asyncio.get_running_loop().time() > deadline:
                click.echo(f"burgerwacht: cannot reach the database: {exc}", err=True)
                sys.exit(1)
            click.echo(f"burgerwacht: waiting for the database ({type(exc).__name__})", err=True)
            await asyncio.sleep(2)
    if port is not None:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            click.echo(f"burgerwacht: cannot listen on {host}:{port} ({exc.strerror})", err=True)
            sys.exit(1)
        click.echo(f"burgerwacht {'+'.join(sorted(roles))} listening on http://{host}:{port}", err=True)
    else:
        click.echo(f"burgerwacht {'+'.join(sorted(roles))} running (no HTTP listener)", err=True)
    if banner:
        banner()
    # everything built at start-up (app, settings, imported modules) is long-lived: keep
    # it out of the collector's full passes, which otherwise pause requests for tens of
    # ms under load (measured in bench_signals)
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    click.echo("burgerwacht: shutting down", err=True)
    await runner.cleanup()


def _serve_command(name: str, roles: set[str], help_text: str, *, http: bool, migrate: bool) -> None:
    @cli.command(name, help=help_text)
    @click.option("--host", default=None, help="Interface to listen on (default: http.host).")
    @click.option("--port", type=int, default=None, help="Port (default: http.port; workers: none).")
    def command(host: str | None, port: int | None) -> None:
        settings = settings_or_exit()
        _setup_logging(settings)
        if migrate:
            _migrate_or_exit(settings)
        h = host or settings.http.host
        p = port if port is not None else (settings.http.port if http else None)
        run_async(serve(settings, roles, h, p))


_serve_command(
    "run",
    {"web", "worker", "scheduler"},
    "Run web, worker and scheduler in one process (migrates first).",
    http=True,
    migrate=True,
)
_serve_command("web", {"web"}, "Run the HTTP API and webhooks.", http=True, migrate=False)
_serve_command(
    "worker", {"worker"}, "Run a dispatch worker (claims and sends deliveries).", http=False, migrate=False
)
_serve_command(
    "scheduler",
    {"scheduler"},
    "Run the periodic jobs (once per period cluster-wide).",
    http=False,
    migrate=False,
)


@cli.command()
def migrate() -> None:
    """Apply pending migrations, then the SQL functions (safe to run concurrently)."""
    settings = settings_or_exit()
    _setup_logging(settings)
    applied = _migrate_or_exit(settings)
    click.echo(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


@cli.command("schema-dump")
@click.option(
    "--fresh",
    is_flag=True,
    help="Dump a scratch database migrated from empty (created and dropped on the same server) "
    "instead of the configured one: how burgerwacht/sql/schema.sql is made.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="File (default: stdout).")
def schema_dump(fresh: bool, output: str | None) -> None:
    """Print the normalised schema (tables, indexes, functions, triggers) from the catalog."""
    from burgerwacht.db import schema

    settings = settings_or_exit()
    if fresh:
        text = asyncio.run(schema.dump_fresh(_database_url(settings)))
    else:
        text = with_connection(settings, schema.dump)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8081, show_default=True)
@click.option("--account-sid", default=None, help="Account SID to accept (default: twilio.account_sid).")
@click.option(
    "--auth-token", default=None, help="Auth token to accept and sign with (default: twilio.auth_token)."
)
@click.option("--service-url", default=None, help="Where inbound SMS/calls go (default: public_url).")
@click.option("--sms-per-second", type=float, default=None, help="Answer 429 past this rate.")
@click.option("--calls-per-second", type=float, default=None, help="Answer 429 past this rate.")
@click.option("--seed", type=int, default=0, show_default=True)
def sandbox(host, port, account_sid, auth_token, service_url, sms_per_second, calls_per_second, seed) -> None:
    """Run the Twilio-compatible simulator."""
    from burgerwacht.sandbox import SandboxConfig, run_sandbox

    settings = settings_or_exit()
    _setup_logging(settings)
    config = SandboxConfig(
        account_sid=account_sid or settings.twilio.account_sid,
        auth_token=auth_token or settings.twilio.auth_token,
        service_url=service_url or settings.public_base,
        phone_number=settings.twilio.from_number,
        sms_per_second=sms_per_second,
        calls_per_second=calls_per_second,
        seed=seed,
    )
    run_sandbox(config, host, port)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--sandbox-port", type=int, default=8081, show_default=True)
def demo(host: str, port: int, sandbox_port: int) -> None:
    """The whole demo: embedded PostgreSQL, simulator, service and demo data."""
    import os

    from burgerwacht.demo import run_demo

    os.environ.setdefault("BURGERWACHT_PUBLIC_URL", f"http://{host}:{port}")
    os.environ.setdefault("BURGERWACHT_TWILIO__API_BASE", f"http://{host}:{sandbox_port}")
    os.environ.setdefault("BURGERWACHT_LOGGING__JSON", "false")  # a person reads this terminal
    settings = settings_or_exit()
    _setup_logging(settings)
    run_async(run_demo(settings, host, port, sandbox_port))


# ------------------------------------------------------------------ staff users


@cli.group()
def user() -> None:
    """Manage staff users and their tokens."""


@user.command("create")
@click.option("--name", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["operator", "analyst", "fieldworker", "admin", "wijkagent"]),
)
@click.option(
    "--municipality",
    "municipalities",
    multiple=True,
    required=True,
    help="CBS code GM0000 (repeat for more; '*' = all).",
)
@click.option(
    "--wijk",
    "wijken",
    multiple=True,
    help="CBS wijk code WK000000 of the municipality (repeat for more); required for a wijkagent.",
)
def user_create(name: str, role: str, municipalities: tuple[str, ...], wijken: tuple[str, ...]) -> None:
    """Create a user; the bearer token is printed once, alone on the last line."""
    import re

    from burgerwacht.auth.scope import validate_wijken
    from burgerwacht.auth.service import create_user_with_token

    bad = [m for m in municipalities if not re.fullmatch(r"GM\d{4}|\*", m)]
    if bad:
        raise click.BadParameter(
            f"not a CBS municipality code (GM0000): {', '.join(bad)}", param_hint="--municipality"
        )
    wijken = tuple(w.strip().upper() for w in wijken)
    problem = validate_wijken(role, list(municipalities), list(wijken))
    if problem:
        raise click.BadParameter(problem, param_hint="--wijk")
    settings = settings_or_exit()
    _migrate_or_exit(settings)

    async def go(conn: asyncpg.Connection) -> tuple[int, str]:
        return await create_user_with_token(
            conn,
            name=name,
            role=role,
            municipalities=list(municipalities),
            ttl_days=settings.auth.token_ttl_days,
            wijken=list(wijken),
        )

    user_id, token = with_connection(settings, go)
    scope = ", ".join([*municipalities, *wijken])
    click.echo(f"created user {user_id} ({role}, {scope})", err=True)
    click.echo(token)


@user.command("revoke")
@click.option(
    "--id", "user_id", type=int, default=None, help="Revoke every token of this user and disable it."
)
@click.option(
    "--token-prefix", default=None, help="Revoke the token starting with this (first 10 characters)."
)
def user_revoke(user_id: int | None, token_prefix: str | None) -> None:
    """Revoke tokens (and disable the user when --id is given)."""
    from burgerwacht.audit import store as audit
    from burgerwacht.auth import store

    if (user_id is None) == (token_prefix is None):
        raise click.UsageError("give exactly one of --id or --token-prefix")
    settings = settings_or_exit()

    async def go(conn: asyncpg.Connection) -> int:
        async with conn.transaction():
            if user_id is not None:
                n = await store.revoke_user_tokens(conn, user_id)
                await store.disable_user(conn, user_id)
                await audit.append(conn, "cli", "user.revoke", "staff_user", user_id, {"tokens": n})
            else:
                n = await store.revoke_token_prefix(conn, token_prefix)
                await audit.append(conn, "cli", "token.revoke", "staff_token", token_prefix, {"tokens": n})
            return n

    n = with_connection(settings, go)
    click.echo(f"revoked {n} token(s)")
    if n == 0:
        sys.exit(1)


@user.command("list")
def user_list() -> None:
    """List staff users."""
    from burgerwacht.auth import store

    settings = settings_or_exit()
    for r in with_connection(settings, store.list_users):
        state = "disabled" if r["disabled_at"] else "active"
        click.echo(
            f"{r['id']:>5}  {r['role']:<11} {','.join([*r['municipalities'], *r['wijken']]):<20} "
            f"{state:<8} {r['name']}"
        )


# ------------------------------------------------------------------ audit


@cli.group()
def audit() -> None:
    """The append-only audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exit 1 when any row was edited or deleted."""
    from burgerwacht.audit import store

    settings = settings_or_exit()
    result = with_connection(settings, store.verify)
    for problem in result.problems:
        click.echo(problem)
    if result.ok:
        click.echo(f"audit log intact: {result.checked} entries verified")
    else:
        click.echo(
            f"audit log BROKEN: {len(result.problems)} problem(s) in {result.checked} entries", err=True
        )
        sys.exit(1)


def build_cli() -> click.Group:
    """The ``burgerwacht`` command with every domain's commands added (the domains'
    command modules import the helpers above, so they are added here, not at import)."""
    from burgerwacht.domains import DOMAINS

    for domain in DOMAINS:
        for command in domain.commands:
            if cli.commands.get(command.name or "") not in (None, command):
                raise RuntimeError(f"two commands are called {command.name}")
            cli.add_command(command)
    return cli


def main() -> None:
    build_cli()(prog_name="burgerwacht")


if __name__ == "__main__":
    main()
