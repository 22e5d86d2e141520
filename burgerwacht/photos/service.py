"""An alert's photo: put on a draft (re-encoded by :mod:`burgerwacht.media.images`, so
no EXIF, GPS or other metadata of the upload survives), removed from a draft, and served
on the public page once the alert was sent, until the page goes (410)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from burgerwacht.alerts import service as alerts
from burgerwacht.audit import store as audit
from burgerwacht.auth.models import StaffUser
from burgerwacht.config import Settings
from burgerwacht.errors import DomainError
from burgerwacht.media.images import Photo, PhotoRejected, reencode_async
from burgerwacht.photos import store
from burgerwacht.public.page import message_page
from burgerwacht.public.service import PageError, alert_for


@dataclass(frozen=True)
class Served:
    """A photo as the public URL serves it."""

    data: bytes
    etag: str
    modified: datetime


def _draft_only(row: asyncpg.Record) -> None:
    if row["status"] != "draft":
        raise DomainError(
            409,
            "not-a-draft",
            f"alert {row['id']} is {row['status']}: its photo can be set or removed only while it is a draft",
        )


async def check_draft(conn: asyncpg.Connection, user: StaffUser, alert_id: int) -> None:
    """404 (unknown, outside the scope) or 409 (not a draft) before an upload is read."""
    _draft_only(await alerts.load_for(conn, user, alert_id))


async def decode(data: bytes) -> Photo:
    """The upload re-encoded (in a thread: it takes a CPU for a moment); 422 with the
    reason when it is not a usable photo."""
    try:
        return await reencode_async(data)
    except PhotoRejected as exc:
        raise DomainError(
            422,
            "invalid-photo",
            exc.reason,
            errors=[{"loc": "body", "msg": exc.reason, "type": "invalid-photo"}],
        ) from None


async def put(pool: asyncpg.Pool, user: StaffUser, alert_id: int, photo: Photo, alt: str | None) -> None:
    """Store the re-encoded photo of a draft (replacing one), audited."""
    async with pool.acquire() as conn, conn.transaction():
        row = await alerts.load_for(conn, user, alert_id, lock=True)
        _draft_only(row)
        etag = hashlib.sha256(photo.data).hexdigest()[:32]
        await store.put(
            conn,
            alert_id,
            data=photo.data,
            width=photo.width,
            height=photo.height,
            source_format=photo.source_format,
            alt=alt or "",
            etag=etag,
        )
        await audit.append(
            conn,
            user.actor,
            "alert.photo",
            "alert",
            alert_id,
            {
                "width": photo.width,
                "height": photo.height,
                "bytes": photo.size,
                "source_format": photo.source_format,
                "alt": alt or "",
            },
        )


async def remove(pool: asyncpg.Pool, user: StaffUser, alert_id: int) -> None:
    """Remove an alert's photo in any state (404 when it has none), audited: a wrong
    photo or a withdrawn consent takes it off the page (within the page cache's second)."""
    async with pool.acquire() as conn, conn.transaction():
        await alerts.load_for(conn, user, alert_id, lock=True)
        if not await store.delete(conn, alert_id):
            raise DomainError(404, "not-found", f"alert {alert_id} has no photo")
        await audit.append(conn, user.actor, "alert.photo_delete", "alert", alert_id, {})


async def for_operator(conn: asyncpg.Connection, user: StaffUser, alert_id: int) -> asyncpg.Record:
    """The stored photo of an alert in the user's scope, in any state (404 without)."""
    await alerts.load_for(conn, user, alert_id)
    photo = await store.photo(conn, alert_id)
    if photo is None:
        raise DomainError(404, "not-found", f"alert {alert_id} has no photo")
    return photo


async def public(pool: asyncpg.Pool, settings: Settings, token: str) -> Served:
    """The photo behind a page token: as the page, 404 before the alert was sent (and
    for a draft, cancelled alert or no photo), 410 once the page has gone."""
    async with pool.acquire() as conn:
        row, _state = await alert_for(conn, settings, token, "nl")
        photo = await store.photo(conn, row["id"])
    if photo is None:
        raise PageError(404, message_page("nl", "not_found_title", "not_found"))
    return Served(bytes(photo["data"]), f'"{photo["etag"]}"', photo["created_at"])
