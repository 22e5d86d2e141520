"""Signal intake: where a signal comes from (staff via the API, residents by SMS,
Open311 through :mod:`burgerwacht.signals.open311`), which buurt it belongs to, how it
is stored and triaged, and how staff see one.

It exists apart from the summaries because this is the only side that handles signal
rows with their text and point (fieldworkers and operators of the municipality); the
analysts' side (:mod:`burgerwacht.signals.summary`) only ever sees protected counts.
Residents and addresses are read through :mod:`burgerwacht.residents.service`.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import shapely
from asyncpg.types import Point

from burgerwacht.audit import store as audit
from burgerwacht.errors import DomainError
from burgerwacht.geo import rd_to_wgs84, wgs84_to_rd
from burgerwacht.phone import mask_phones_in
from burgerwacht.residents import service as residents
from burgerwacht.signals import store
from burgerwacht.signals.periods import today
from burgerwacht.signals.taxonomy import taxonomy

SOURCES = ("interview", "schouw", "sms", "open311", "handhaving")


# ------------------------------------------------------------------- locating


@dataclass(frozen=True)
class Place:
    buurt_code: str
    buurt_name: str
    wijk_code: str | None
    municipality_code: str


async def place_of_point(conn: asyncpg.Connection, x: float, y: float) -> Place | None:
    """The buurt containing an RD New point (outlines with holes and parts respected)."""
    point = shapely.Point(x, y)
    for r in await store.buurt_candidates(conn, x, y):
        if shapely.geometry.shape(r["geometry"]).covers(point):
            return Place(r["code"], r["name"], r["district_code"], r["municipality_code"])
    return None


async def place_of_area(conn: asyncpg.Connection, code: str) -> Place:
    row = await store.area(conn, code.strip().upper())
    if row is None:
        raise DomainError(422, "unknown-area", f"area {code} does not exist", field="area_code")
    if row["level"] != "buurt":
        raise DomainError(
            422,
            "area-not-buurt",
            f"{code} is a {row['level']}: give a buurt code (BU…) or a point, so the signal can be counted "
            "per buurt",
            field="area_code",
        )
    return Place(row["code"], row["name"], row["district_code"], row["municipality_code"])


async def place_of_buurt(conn: asyncpg.Connection, code: str | None) -> Place | None:
    if not code:
        return None
    row = await store.area(conn, code)
    if row is None:
        return None
    return Place(row["code"], row["name"], row["district_code"], row["municipality_code"])


async def locate(
    conn: asyncpg.Connection, *, point: tuple[float, float] | None, area_code: str | None
) -> tuple[Place, tuple[float, float] | None]:
    """The buurt of a signal recorded by staff, from a WGS84 ``point`` (lat, lon), else
    from ``area_code``; with the RD New location to store (None for a buurt code)."""
    if point is not None:
        x, y = point_to_rd(*point)
        place = await place_of_point(conn, x, y)
        if place is None:
            raise DomainError(422, "outside-areas", "the point lies outside every known buurt", field="point")
        return place, (x, y)
    return await place_of_area(conn, area_code or ""), None


# ------------------------------------------------------------------- intake


def new_public_id() -> str:
    return "bs-" + secrets.token_hex(12)


async def create_signal(
    conn: asyncpg.Connection,
    *,
    place: Place,
    category: str,
    severity: int | None,
    observed_on: date,
    source: str,
    text: str | None,
    location: tuple[float, float] | None,
    created_by: str,
    audit_actor: str | None = None,
    max_backdate_days: int | None = None,
) -> asyncpg.Record:
    """Store a signal; with ``audit_actor`` (a staff member's actor name) it is also
    written to the audit log (with its buurt and observed_on), in the caller's
    transaction. Phone numbers in the text are masked whatever the source (SMS, Open311,
    the API): a number never needs to be in a signal, and a masked one cannot outlive its
    owner's erasure. ``max_backdate_days`` (None: no limit, for admins) refuses an
    ``observed_on`` further back: adding a record to an old, long-published cell and
    comparing is the differencing attack the cell-key noise and this limit work against
    (docs/signals.md)."""
    tax = taxonomy()
    if tax.category(category, place.municipality_code) is None:
        raise DomainError(
            422,
            "unknown-category",
            f"category {category!r} is not in the taxonomy of {place.municipality_code}",
            field="category",
        )
    if source not in SOURCES:
        raise DomainError(
            422, "unknown-source", f"source must be one of {', '.join(SOURCES)}", field="source"
        )
    now = today()
    if observed_on > now:
        raise DomainError(422, "future-date", "observed_on lies in the future", field="observed_on")
    if max_backdate_days is not None and observed_on < now - timedelta(days=max_backdate_days):
        raise DomainError(
            422,
            "backdated-too-far",
            f"observed_on may lie at most {max_backdate_days} days in the past "
            f"(on or after {(now - timedelta(days=max_backdate_days)).isoformat()}); an admin can record older "
            "signals",
            field="observed_on",
        )
    row = await store.insert_signal(
        conn,
        public_id=new_public_id(),
        municipality_code=place.municipality_code,
        wijk_code=place.wijk_code,
        buurt_code=place.buurt_code,
        category=category,
        severity=severity,
        observed_on=observed_on,
        source=source,
        text=(mask_phones_in(text) if text else None),
        location=Point(*location) if location else None,
        created_by=created_by,
    )
    if audit_actor is not None:
        await audit.append(
            conn,
            audit_actor,
            "signal.create",
            "signal",
            row["id"],
            {
                "municipality": place.municipality_code,
                "buurt": place.buurt_code,
                "category": category,
                "source": source,
                "observed_on": observed_on.isoformat(),
            },
        )
    return row


def _sms_safe(name: str) -> str:
    """Area names in SMS replies: no accents (GSM-7), at most 40 characters."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return plain[:40]


async def sms_signal(conn: asyncpg.Connection, phone: str, body: str) -> str:
    """``SIGNAAL <tekst>`` from a resident. Stores area, category, date, source and the
    text; never the number (so VERWIJDER has nothing to find here).

    The signal counts in the sender's own buurt: the buurt of their home address (the
    address labelled ``thuis``, else the first they enrolled), once, whatever else they
    enrolled. An address or postcode in the text does not move it: a resident could
    otherwise place signals in any buurt and, comparing the published counts before and
    after, learn a hidden count there (issue 18). The reply names the buurt."""
    tax = taxonomy()
    resident = await residents.resident_by_phone(conn, phone)
    if resident is None:
        return tax.text("not_enrolled")
    lang = resident["language"]
    body = (body or "").strip()
    if not body:
        return tax.text("usage", lang)
    place = await place_of_buurt(conn, await residents.home_buurt(conn, resident["id"]))
    if place is None:
        return tax.text("no_area", lang)
    category = tax.classify(body, place.municipality_code)
    await create_signal(
        conn,
        place=place,
        category=category,
        severity=None,
        observed_on=today(),
        source="sms",
        text=body[:4000],
        location=None,
        created_by="resident",
    )
    cat = tax.categories[category]
    reply = tax.text("received", lang, category=cat.name.lower(), area=_sms_safe(place.buurt_name))
    if len(reply) > 160:
        reply = tax.text(
            "received", lang, category=cat.name.lower()[:30], area=_sms_safe(place.buurt_name)[:15]
        )
    return reply


async def patch_signal(
    conn: asyncpg.Connection, row: asyncpg.Record, changes: dict[str, Any], *, actor: str
) -> asyncpg.Record:
    """Triage: apply ``changes`` (category, severity, status, notes) to a signal the
    caller has read with a lock, and write the audit entry (without the notes)."""
    if "category" in changes and taxonomy().category(changes["category"], row["municipality_code"]) is None:
        raise DomainError(
            422, "unknown-category", f"unknown category {changes['category']!r}", field="category"
        )
    if "public_note" in changes:  # the reporter reads it (Open311): no one's number in it; "" removes it
        changes = {**changes, "public_note": mask_phones_in(changes["public_note"]) or None}
    row = await store.update_signal(conn, row["id"], changes)
    await audit.append(
        conn,
        actor,
        "signal.update",
        "signal",
        row["id"],
        {k: (v is not None if k == "public_note" else v) for k, v in changes.items() if k != "status_notes"},
    )
    return row


# ------------------------------------------------------------------- views


def signal_view(row: asyncpg.Record, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A signal as fieldworkers/operators of its municipality see it (text, point)."""
    tax = taxonomy()
    cat = tax.categories.get(row["category"])
    point = None
    if row["location"] is not None:
        lon, lat = rd_to_wgs84(row["location"].x, row["location"].y)
        point = {"lat": round(lat, 7), "lon": round(lon, 7)}
    return {
        "id": row["id"],
        "service_request_id": row["public_id"],
        "municipality_code": row["municipality_code"],
        "wijk_code": row["wijk_code"],
        "buurt_code": row["buurt_code"],
        "buurt_name": (names or {}).get(row["buurt_code"]),
        "category": row["category"],
        "group": cat.group if cat else None,
        "severity": row["severity"],
        "observed_on": row["observed_on"],
        "source": row["source"],
        "text": row["text"],
        "point": point,
        "status": row["status"],
        "status_notes": row["status_notes"],
        "public_note": row["public_note"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def point_to_rd(lat: float, lon: float) -> tuple[float, float]:
    return wgs84_to_rd(lon, lat)
