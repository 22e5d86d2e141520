"""``burgerwacht import-areas`` and ``import-addresses``: CBS areas and BAG-like address points."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import asyncpg
import click

from burgerwacht.cli import _migrate_or_exit, settings_or_exit, with_connection


def _report(report, what: str) -> None:
    for p in report.problems[:200]:
        where = f"line {p.line_or_index}" if what == "addresses" else f"feature {p.line_or_index}"
        click.echo(f"  skipped {where}{' (' + p.code + ')' if p.code else ''}: {p.message}", err=True)
    if len(report.problems) > 200:
        click.echo(f"  … and {len(report.problems) - 200} more problems", err=True)


@click.command("import-areas")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crs", type=int, default=None, help="EPSG code when the file has no crs member (e.g. 28992).")
@click.option("--keep-missing", is_flag=True, help="Do not delete areas the new map no longer has.")
def import_areas(file: Path, crs: int | None, keep_missing: bool) -> None:
    """Import CBS gemeenten/wijken/buurten (GeoJSON, WGS84 or RD New) and re-place addresses."""
    from tqdm import tqdm

    from burgerwacht.areas.service import import_areas as run
    from burgerwacht.areas.service import load_geojson

    settings = settings_or_exit()
    _migrate_or_exit(settings)
    try:
        data = load_geojson(str(file))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file} is not valid GeoJSON: {exc}") from None

    async def go(conn: asyncpg.Connection):
        with tqdm(desc="re-placing addresses", unit=" addr", file=sys.stderr, disable=None) as bar:
            return await run(conn, data, crs=crs, replace=not keep_missing, progress=bar.update)

    report = with_connection(settings, go)
    _report(report, "areas")
    click.echo(
        f"areas: {report.imported} imported, {report.skipped} skipped, {report.removed} removed; "
        f"addresses: {report.reassigned} re-placed, {report.unplaced} outside every buurt"
    )
    if report.imported == 0:
        sys.exit(1)


@click.command("import-addresses")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_addresses(file: Path) -> None:
    """Import address points (CSV shaped like a BAG extract: postcode, huisnummer, huisletter,
    huisnummertoevoeging, and x/y in RD New or lat/lon)."""
    from tqdm import tqdm

    from burgerwacht.areas.service import import_addresses as run

    settings = settings_or_exit()
    _migrate_or_exit(settings)
    total = max(0, sum(1 for _ in file.open("rb")) - 1)

    async def go(conn: asyncpg.Connection):
        with (
            file.open(encoding="utf-8-sig", newline="") as fh,
            tqdm(total=total, desc="addresses", unit=" rows", file=sys.stderr, disable=None) as bar,
        ):
            return await run(conn, fh, progress=bar.update)

    report = with_connection(settings, go)
    _report(report, "addresses")
    click.echo(
        f"addresses: {report.imported} stored, {report.skipped} bad rows, "
        f"{report.unplaced} outside every buurt"
    )
