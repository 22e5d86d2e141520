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
@click.option(
    "--allow-overlap",
    is_flag=True,
    help="Import even if a buurt overlaps another municipality's buurt (addresses keep their buurt "
    "while it still contains them).",
)
def import_areas(file: Path, crs: int | None, keep_missing: bool, allow_overlap: bool) -> None:
    """Import CBS gemeenten/wijken/buurten (GeoJSON, WGS84 or RD New) and re-place addresses."""
    from tqdm import tqdm

    from burgerwacht.areas.service import FileTooLarge, load_geojson
    from burgerwacht.areas.service import import_areas as run

    settings = settings_or_exit()
    _migrate_or_exit(settings)
    limits = settings.areas
    try:
        data = load_geojson(str(file), max_bytes=limits.max_file_bytes)
    except FileTooLarge as exc:
        raise click.ClickException(str(exc)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file} is not valid GeoJSON: {exc}") from None

    async def go(conn: asyncpg.Connection):
        with tqdm(desc="re-placing addresses", unit=" addr", file=sys.stderr, disable=None) as bar:
            return await run(
                conn,
                data,
                crs=crs,
                replace=not keep_missing,
                progress=bar.update,
                limits=limits,
                allow_overlap=allow_overlap,
            )

    report = with_connection(settings, go)
    _report(report, "areas")
    for s in report.simplified:
        click.echo(
            f"  simplified {s.code}: {s.vertices_before} → {s.vertices_after} vertices "
            f"(within {limits.simplify_tolerance_m:g} m)",
            err=True,
        )
    for o in report.overlaps:
        click.echo(
            f"  overlap: {o.code} ({o.municipality_code}) and {o.other_code} ({o.other_municipality_code}) "
            f"share {o.area_m2:.0f} m²",
            err=True,
        )
    if report.refused:
        why = (
            f"buurten overlap another municipality's by more than {limits.overlap_tolerance_m2:g} m² "
            "(see above); fix the map, or import with --allow-overlap"
            if report.overlaps
            else "see above"
        )
        raise click.ClickException(f"nothing imported: {why}")
    click.echo(
        f"areas: {report.imported} imported, {report.skipped} skipped, {report.removed} removed, "
        f"{len(report.simplified)} simplified; "
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
