"""``burgerwacht import-kwb FILE.csv``: CBS Kerncijfers wijken en buurten (inhabitants,
households). Listed in the participation domain's ``commands``."""

from __future__ import annotations

import sys
from pathlib import Path

import asyncpg
import click

from burgerwacht.cli import _migrate_or_exit, settings_or_exit, with_connection


@click.command("import-kwb")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--year", type=click.IntRange(1990, 2100), default=None, help="The KWB release year (kept per row)."
)
def import_kwb(file: Path, year: int | None) -> None:
    """Import CBS "Kerncijfers wijken en buurten" (CSV as CBS publishes it: gwb_code_10;
    regio; gm_naam; recs; …; a_inw; a_hh, '.' for no figure). Every line is checked;
    nothing is stored when any line is wrong."""
    from burgerwacht.audit import store as audit
    from burgerwacht.participation import kwb
    from burgerwacht.participation.service import import_kwb as run

    settings = settings_or_exit()
    _migrate_or_exit(settings)
    text = kwb.decode(file.read_bytes())

    async def go(conn: asyncpg.Connection):
        result, errors = await run(conn, text, year=year)
        if not errors:
            await audit.append(conn, "cli", "kwb.import", "area_figures", None, {**result, "year": year})
        return result, errors

    result, errors = with_connection(settings, go)
    for e in errors[:200]:
        click.echo(f"  {e}", err=True)
    if len(errors) > 200:
        click.echo(f"  … and {len(errors) - 200} more", err=True)
    if errors:
        click.echo(f"kwb: {len(errors)} line(s) with errors; nothing imported", err=True)
        sys.exit(1)
    click.echo(
        f"kwb: {result['rows']} areas ({result['inserted']} new, {result['updated']} updated; "
        f"{result['known_areas']} in the area map) for {len(result['municipalities'])} municipalities"
    )
