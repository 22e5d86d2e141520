"""Participation coverage: enrolled residents per area beside CBS inhabitants and
households, protected like every analyst figure; the KWB import; the preview's
low-coverage warning.

Protection (README "Participation coverage" explains the choice): the signals' cell-key
method and rules (:mod:`burgerwacht.signals.privacy`), with the same p-table
(``privacy.noise``).

1. **Record keys.** Each active resident carries a fixed record key, a keyed hash of
   their phone number (the service's secret key; re-enrolling the same number gives the
   same key). A leaf (buurt × channel set: SMS only, voice only, both) has the sum of
   its records' keys modulo :data:`~burgerwacht.signals.privacy.KEY_MODULUS`; every
   published cell (buurt and wijk; SMS, voice, enrolled) has the sum of its leaves'
   keys, and its own noise from that key. The same residents always give the same
   figure; one enrolment more or less redraws the noise of every cell it is in rather
   than moving the figure by exactly one.
2. The exact leaf counts and their keys go through
   :func:`burgerwacht.signals.privacy.protect`: a cell is published only when its
   count plus noise reaches ``k + D`` (so its true count is at least k), rounded to
   ``round_to``; complementary suppression along buurt → wijk and SMS/voice → enrolled
   and the interval audit follow (no gemeente figure is published).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import asyncpg
import numpy as np
import shapely

from burgerwacht.auth.models import StaffUser
from burgerwacht.auth.scope import keep_items
from burgerwacht.config import Settings
from burgerwacht.crypto import keyed_hash
from burgerwacht.geo import RD_NEW, WGS84, geometry_to_geojson, transform_geometry
from burgerwacht.participation import kwb, store
from burgerwacht.signals.cube import noise_of
from burgerwacht.signals.privacy import KEY_MODULUS, Axis, Noise, protect
from burgerwacht.signals.summary import privacy_info
from burgerwacht.signals.taxonomy import taxonomy

if TYPE_CHECKING:
    from burgerwacht.alerts.targets import Resolved

#: Channel-set leaves (resident_addresses.channel_bits: 1 SMS, 2 voice, 3 both) and the
#: published nodes built from them.
NODES = ["sms_only", "voice_only", "both", "sms", "voice", "enrolled"]
LEAF_OF_BITS = {1: 0, 2: 1, 3: 2}


def _node_axis() -> Axis:
    return Axis(NODES, 3, [(3, [0, 2]), (4, [1, 2]), (5, [0, 1, 2])])


def _area_axis(rows: Sequence[Mapping[str, Any]]) -> Axis:
    """Buurten (the leaves) and wijken (each the sum of its buurten). The gemeente is
    not on it: participation publishes no gemeente figure, so no relation through it
    exists for an attacker (and a relation of hundreds of buurten would make the audit
    slow)."""
    buurten = [r for r in rows if r["level"] == "buurt"]
    wijken = [r for r in rows if r["level"] == "wijk"]
    labels = [r["code"] for r in buurten] + [r["code"] for r in wijken]
    index = {code: i for i, code in enumerate(labels)}
    children: dict[str, list[int]] = {r["code"]: [] for r in wijken}
    for r in buurten:
        if r["district_code"] in children:
            children[r["district_code"]].append(index[r["code"]])
    return Axis(labels, len(buurten), [(index[w], c) for w, c in children.items()])


def noise_secret(settings: Settings) -> str:
    """The key of the record keys (derived; the secret itself is not sent to SQL)."""
    return keyed_hash(settings.security.secret_key, "participation-record-key").hex()


async def participation(
    conn: asyncpg.Connection, settings: Settings, municipality: str, level: str, user: StaffUser | None = None
) -> dict[str, Any]:
    """The protected coverage rows of a municipality at one level (only the rows of a
    wijkagent's wijken when ``user`` is one)."""
    rows = await store.areas(conn, municipality)
    cells = await store.enrolment_cells(conn, municipality, noise_secret(settings))
    # the audit is numpy work of ~0.1-0.3 s for a city of 500 buurten: not on the event loop
    work = partial(
        publish,
        rows,
        cells,
        municipality,
        level,
        k=settings.privacy.k,
        round_to=settings.privacy.round_to,
        noise=noise_of(settings),
        protection=taxonomy().protection,
    )
    items = await asyncio.get_running_loop().run_in_executor(None, work)
    return {
        "municipality": municipality,
        "level": level,
        "privacy": privacy_info(settings),
        "items": keep_items(user, items) if user is not None else items,
    }


def publish(
    rows: Sequence[Mapping[str, Any]],
    cells: Iterable[Mapping[str, Any]],
    municipality: str,
    level: str,
    *,
    k: int,
    round_to: int,
    noise: Noise,
    protection: int = 2,
) -> list[dict[str, Any]]:
    """The published rows from the areas (``code, level, name, district_code,
    inhabitants, households``) and the enrolment cells (``buurt_code, bits, n,
    key_sum``): every cell's noise from its key, the k + D rule, rounding and
    complementary suppression (:func:`~burgerwacht.signals.privacy.protect`)."""
    if not any(r["level"] == "buurt" for r in rows):
        return []
    areas = _area_axis(rows)
    leaf = np.zeros((areas.leaves, 3, 1), dtype=np.int64)
    keys = np.zeros_like(leaf)
    for cell in cells:
        a = areas.index.get(cell["buurt_code"])
        c = LEAF_OF_BITS.get(cell["bits"])
        if a is None or c is None or a >= areas.leaves:
            continue  # a buurt no longer in the area map: not published at all
        leaf[a, c, 0] += int(cell["n"])
        keys[a, c, 0] = (keys[a, c, 0] + int(cell["key_sum"])) % KEY_MODULUS
    published = protect(
        leaf,
        [areas, _node_axis(), Axis(["now"], 1, [])],
        k=k,
        round_to=round_to,
        protection=protection,
        leaf_keys=keys,
        noise=noise,
    )
    by_code = {row["code"]: row for row in rows}

    def value(a: int, node: str) -> int | None:
        n = int(published.count[a, NODES.index(node), 0])
        return None if n < 0 else n

    items = []
    for code in areas.labels:
        row = by_code.get(code)
        if row is None or row["level"] != level:
            continue
        a = areas.index[code]
        enrolled = value(a, "enrolled")
        inhabitants = row["inhabitants"]
        items.append(
            {
                "area_code": code,
                "area_name": row["name"],
                "level": level,
                "enrolled": enrolled,
                "sms": value(a, "sms"),
                "voice": value(a, "voice"),
                "inhabitants": inhabitants,
                "households": row["households"],
                "per_1000": round(1000 * enrolled / inhabitants, 1)
                if enrolled is not None and inhabitants
                else None,
                "suppressed": enrolled is None,
            }
        )
    return items


async def as_geojson(conn: asyncpg.Connection, doc: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection (WGS84, RFC 7946): one feature per area, its row as properties."""
    geoms = await store.geometries(conn, [i["area_code"] for i in doc["items"]])
    features = []
    for item in doc["items"]:
        g = geoms.get(item["area_code"])
        geometry = (
            geometry_to_geojson(transform_geometry(shapely.geometry.shape(g), RD_NEW, WGS84), precision=6)
            if g is not None
            else None
        )
        features.append(
            {"type": "Feature", "id": item["area_code"], "geometry": geometry, "properties": item}
        )
    return {
        "type": "FeatureCollection",
        "name": f"participation_{doc['municipality']}_{doc['level']}",
        "privacy": doc["privacy"],
        "features": features,
    }


# ------------------------------------------------------------------ KWB import


async def import_kwb(
    conn: asyncpg.Connection, text: str, *, year: int | None = None
) -> tuple[dict[str, Any], list[kwb.LineError]]:
    """Check every line, then store all figures in one transaction (or nothing)."""
    figures, errors = kwb.parse(text)
    if errors:
        return {}, errors
    async with conn.transaction():
        inserted = await store.upsert_figures(conn, figures, year)
    codes = [f.code for f in figures]
    return {
        "rows": len(figures),
        "inserted": inserted,
        "updated": len(figures) - inserted,
        "known_areas": await store.known_areas(conn, codes),
        "municipalities": sorted({f.municipality_code for f in figures}),
    }, []


# ------------------------------------------------------------------ alert preview


async def coverage_warnings(
    conn: asyncpg.Connection, settings: Settings, target: Resolved, reached: int
) -> list[dict[str, Any]]:
    """``low-coverage`` when the residents an alert reaches are fewer per 1,000
    inhabitants of its target than configured (operators see exact recipient counts in
    the preview anyway). Nothing when the target's buurten have no KWB figures."""
    threshold = settings.participation.low_coverage_per_1000
    if threshold <= 0:
        return []
    inhabitants, _ = await store.inhabitants_in_target(conn, target)
    if not inhabitants or inhabitants < 1:
        return []
    per_1000 = round(1000 * reached / inhabitants, 1)
    if per_1000 >= threshold:
        return []
    people = round(inhabitants)
    return [
        {
            "code": "low-coverage",
            "message": f"Lage dekking: dit bericht bereikt {reached} deelnemers op naar schatting {people} "
            f"inwoners ({per_1000} per 1.000, drempel {threshold:g}). Zet ook andere kanalen in "
            "(politie ter plaatse, sociale media, NL-Alert).",
            "per_1000": per_1000,
            "threshold_per_1000": threshold,
            "inhabitants": people,
        }
    ]
