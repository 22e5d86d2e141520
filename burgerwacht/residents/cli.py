"""``burgerwacht resident export``: a resident's AVG access request, for an admin."""

from __future__ import annotations

import json

import asyncpg
import click

from burgerwacht.cli import settings_or_exit, with_connection


@click.group()
def resident() -> None:
    """Residents' rights (admin)."""


@resident.command("export")
@click.option("--phone", required=True, help="The number, as the resident gives it.")
def resident_export(phone: str) -> None:
    """Print everything held about a number (AVG access request) as JSON."""
    from burgerwacht.audit import store as audit
    from burgerwacht.phone import PhoneError, parse_phone
    from burgerwacht.residents import service

    settings = settings_or_exit()
    try:
        e164 = parse_phone(phone, ("NL", *settings.enrolment.allowed_countries, "BE", "DE")).e164
    except PhoneError as exc:
        raise click.BadParameter(exc.message_en, param_hint="--phone") from None

    async def go(conn: asyncpg.Connection):
        async with conn.transaction():
            doc = await service.export(conn, e164)
            await audit.append(
                conn,
                "cli",
                "resident.export",
                "resident",
                doc["resident"]["id"] if doc["resident"] else None,
                {},
            )
        return doc

    click.echo(json.dumps(with_connection(settings, go), indent=2, default=str, ensure_ascii=False))
