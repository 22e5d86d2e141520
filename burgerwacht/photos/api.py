"""Photo routes: an operator puts a photo on a draft alert (``PUT``/``DELETE``
``/api/v1/alerts/{id}/photo``, and reads it back with ``GET``); the public reads it at
``/a/{token}/photo.jpg`` once the alert was sent (GET and HEAD)."""

from __future__ import annotations

from email.utils import format_datetime

from aiohttp import web

from burgerwacht.alerts import service as alerts
from burgerwacht.alerts.models import AlertOut
from burgerwacht.media.images import ACCEPTED_TYPES, MAX_INPUT_BYTES
from burgerwacht.photos import service
from burgerwacht.photos.models import JPEG_CONTENT, UPLOAD_CONTENT, PhotoQuery
from burgerwacht.public.links import PAGE_ID_PATTERN
from burgerwacht.public.page import HEADERS
from burgerwacht.public.service import PageCache, PageError
from burgerwacht.web.api import Api, current_user
from burgerwacht.web.errors import Problem
from burgerwacht.web.ids import path_id
from burgerwacht.web.keys import POOL, SETTINGS, lazy

api = Api()
OPERATORS = {"operator"}
TAGS = ["alerts"]
#: Once sent, the photo can only be withdrawn (DELETE): caches keep it at most a minute
#: after that; otherwise it goes when the page goes (public.page_days_after_close).
PUBLIC_CACHE = "public, max-age=60"
CACHE_KEY = "public-photo-cache"
CACHE_SIZE = 32  # photos of ≤ 300 kB kept per web process: under 10 MB
PHOTO_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Disposition": 'inline; filename="photo.jpg"',
}
HTML = {"text/html": {"schema": {"type": "string"}}}
CHUNK = 64 * 1024


def _alert_id(request: web.Request) -> int:
    return path_id(request, "alert_id", "alert")


def _too_large() -> Problem:
    return Problem(413, f"the photo is larger than {MAX_INPUT_BYTES} bytes (5 MB)", slug="payload-too-large")


async def _bounded_body(request: web.Request) -> bytes:
    """The body, at most MAX_INPUT_BYTES: 413 as soon as it is longer (a declared
    Content-Length over the bound is refused before anything is read)."""
    if request.content_length is not None and request.content_length > MAX_INPUT_BYTES:
        raise _too_large()
    data = bytearray()
    while True:
        chunk = await request.content.read(CHUNK)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > MAX_INPUT_BYTES:
            raise _too_large()


def _matches(etag: str, header: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


@api.put(
    "/api/v1/alerts/{alert_id}/photo",
    summary="Put a photo on a draft alert (image/jpeg, image/png or image/webp, at most 5 MB): checked by "
    "its content, re-encoded without EXIF/GPS to a JPEG of at most 1280 px and 300 kB, shown on the "
    "public page and, with twilio.mms, sent as MMS; replaces an earlier photo. Answers the alert "
    "(photo_url, photo)",
    tags=TAGS,
    roles=OPERATORS,
    query=PhotoQuery,
    response=AlertOut,
    body_content=UPLOAD_CONTENT,
    responses={
        404: "Unknown or outside your scope",
        409: "The alert is no longer a draft",
        413: "The body is larger than 5 MB (5,242,880 bytes)",
        415: "The body is not image/jpeg, image/png or image/webp",
        422: "Not a readable JPEG, PNG or WebP photo (the reason in detail), too many pixels, or a bad alt",
    },
)
async def put_photo(request: web.Request, query: PhotoQuery):
    user, alert_id, pool = current_user(request), _alert_id(request), request.app[POOL]
    if request.content_type not in ACCEPTED_TYPES:
        raise Problem(
            415,
            f"send the photo as {', '.join(ACCEPTED_TYPES)}, not {request.content_type or 'nothing'}",
            slug="unsupported-media-type",
        )
    if request.content_length is not None and request.content_length > MAX_INPUT_BYTES:
        raise _too_large()
    async with pool.acquire() as conn:  # 404/409 before the upload is read
        await service.check_draft(conn, user, alert_id)
    photo = await service.decode(await _bounded_body(request))
    await service.put(pool, user, alert_id, photo, query.alt)
    async with pool.acquire() as conn:
        return await alerts.view(conn, user, alert_id, request.app[SETTINGS], area=True)


@api.delete(
    "/api/v1/alerts/{alert_id}/photo",
    summary="Remove the alert's photo, in any state (a wrong photo, consent withdrawn): off the public "
    "page within public.page_cache_seconds (shared caches keep it at most 60 s); audited. Answers the alert",
    tags=TAGS,
    roles=OPERATORS,
    response=AlertOut,
    responses={404: "Unknown, outside your scope, or no photo"},
)
async def delete_photo(request: web.Request):
    user, alert_id, pool = current_user(request), _alert_id(request), request.app[POOL]
    await service.remove(pool, user, alert_id)
    async with pool.acquire() as conn:
        return await alerts.view(conn, user, alert_id, request.app[SETTINGS], area=True)


@api.get(
    "/api/v1/alerts/{alert_id}/photo",
    summary="The alert's stored photo (the re-encoded JPEG) in any state, for operators (the console shows "
    "a draft's photo with it)",
    tags=TAGS,
    roles=OPERATORS,
    content_type="image/jpeg",
    extra_content=JPEG_CONTENT,
    responses={404: "Unknown, outside your scope, or no photo"},
)
async def get_photo(request: web.Request):
    user, alert_id = current_user(request), _alert_id(request)
    async with request.app[POOL].acquire() as conn:
        photo = await service.for_operator(conn, user, alert_id)
    return web.Response(
        body=bytes(photo["data"]),
        content_type="image/jpeg",
        headers={**PHOTO_HEADERS, "Cache-Control": "private, no-cache", "ETag": f'"{photo["etag"]}"'},
    )


@api.get(
    rf"/a/{{token:{PAGE_ID_PATTERN}}}/photo.jpg",
    summary="The photo of an alert's public page (a JPEG without metadata), once the alert was sent; "
    "cached a minute (ETag, 304 on If-None-Match); HEAD answers the headers alone",
    tags=["public"],
    content_type="image/jpeg",
    extra_content=JPEG_CONTENT,
    responses={
        304: "Not modified (If-None-Match)",
        404: "No such page, not sent yet, or no photo",
        410: "The alert ended more than public.page_days_after_close days ago: the photo is gone",
    },
    error_content=HTML,
    head=True,
)
async def public_photo(request: web.Request):
    settings, token = request.app[SETTINGS], request.match_info["token"]
    cache = lazy(request.app, CACHE_KEY, lambda: PageCache(settings.public.page_cache_seconds, CACHE_SIZE))
    try:
        served = await cache.get(
            (token, "photo", False), lambda: service.public(request.app[POOL], settings, token)
        )
    except PageError as err:
        return web.Response(
            text=err.html,
            status=err.status,
            content_type="text/html",
            charset="utf-8",
            headers={**HEADERS, "Cache-Control": "public, max-age=30"},
        )
    headers = {
        **PHOTO_HEADERS,
        "Cache-Control": PUBLIC_CACHE,
        "ETag": served.etag,
        "Last-Modified": format_datetime(served.modified, usegmt=True),
    }
    if _matches(served.etag, request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    return web.Response(body=served.data, content_type="image/jpeg", headers=headers)
