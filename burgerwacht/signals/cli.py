"""``burgerwacht import-gebiedsscan FILE.csv``: police registrations from a file.

Listed in the signals domain's ``commands`` (``signals/domain.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import asyncpg
import click

from burgerwacht.cli import _migrate_or_exit, settings_or_exit, with_connection


@click.command("import-gebiedsscan")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="Replace stored rows of the same area and theme whose dates overlap a line (atomically).",
)
def import_gebiedsscan(file: Path, replace: bool) -> None:
    """Import gebiedsscan registrations (CSV: area_code, theme, period_start, period_end,
    registered_count; each row one calendar month, quarter or year). Every line is
    checked; nothing is stored when any line is wrong, or overlaps another line or
    (without --replace) a stored row of the same area and theme."""
    from burgerwacht.audit import store as audit
    from burgerwacht.signals.scan import import_gebiedsscan as run

    settings = settings_or_exit()
    _migrate_or_exit(settings)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text") from None

    async def go(conn: asyncpg.Connection):
        result, errors = await run(conn, text, actor="cli", can_access=lambda _m: True, replace=replace)
        if not errors:
            await audit.append(
                conn, "cli", "gebiedsscan.import", "gebiedsscan", None, {**result, "replace": replace}
            )
        return result, errors

    result, errors = with_connection(settings, go)
    for e in errors[:200]:
        click.echo(f"  line {e.line}{': ' + e.column if e.column else ''}: {e.message}", err=True)
    if errors:
        click.echo(f"gebiedsscan: {len(errors)} line(s) with errors; nothing imported", err=True)
        sys.exit(1)
    click.echo(
        f"gebiedsscan: {result['rows']} rows ({result['inserted']} new, {result['updated']} updated, "
        f"{result['replaced']} stored rows replaced) for {', '.join(result['municipalities'])}"
    )
