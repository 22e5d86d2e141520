"""``burgerwacht templates load-starters``: the starter set of alert templates."""

from __future__ import annotations

import re

import asyncpg
import click

from burgerwacht.cli import _migrate_or_exit, settings_or_exit, with_connection


@click.group("templates")
def templates() -> None:
    """Alert templates."""


@templates.command("load-starters")
@click.option(
    "--municipality",
    default=None,
    help="GM code to load them for (default: national templates, for every municipality).",
)
def load_starters(municipality: str | None) -> None:
    """Add the starter templates (plain Dutch) that are missing; existing ones are kept."""
    from burgerwacht.templates.service import load_starters as run

    if municipality is not None and not re.fullmatch(r"GM\d{4}", municipality):
        raise click.BadParameter("a GM code such as GM0363", param_hint="--municipality")
    settings = settings_or_exit()
    _migrate_or_exit(settings)

    async def go(conn: asyncpg.Connection) -> tuple[int, int]:
        return await run(conn, municipality, actor="cli")

    created, existing = with_connection(settings, go)
    click.echo(f"starter templates: {created} added, {existing} already there")
