"""Routes of the public page: ``GET /a/{token}`` (HTML, no sign-in) and its tip form
``POST /a/{token}/tip``. Answers are HTML pages, errors included (404, 410, 422, 429),
with ``noindex`` and a strict CSP (no script; the one inline style by its hash)."""

from __future__ import annotations

import asyncio
from email.utils import format_datetime
from typing import Literal

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from burgerwacht.media.images import MAX_INPUT_BYTES
from burgerwacht.public import service
from burgerwacht.public.links import PAGE_ID_PATTERN
from burgerwacht.public.models import TipFormIn
from burgerwacht.public.page import HEADERS, message_page
from burgerwacht.web.api import Api
from burgerwacht.web.client import client_bucket
from burgerwacht.web.keys import POOL, SETTINGS, lazy

api = Api()
TAGS = ["public"]
HTML = {"text/html": {"schema": {"type": "string"}}}
CACHE = "public, max-age=30"
CACHE_KEY = "public-page-cache"
LANG_PARAMS = [
    {
        "name": "lang",
        "in": "query",
        "required": False,
        "description": "en for English; anything else is Dutch",
        "schema": {"type": "string", "enum": ["nl", "en"], "default": "nl"},
    }
]
PAGE_PARAMS = [
    *LANG_PARAMS,
    {
        "name": "bedankt",
        "in": "query",
        "required": False,
        "description": "1: show the thank-you note after a tip",
        "schema": {"type": "string", "enum": ["1"]},
    },
]


def _lang(request: web.Request) -> str:
    return "en" if request.query.get("lang") == "en" else "nl"


def _html(html: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={**HEADERS, **(headers or {})},
    )


def _error(err: service.PageError) -> web.Response:
    cache = "public, max-age=30" if err.status in (404, 410) else "no-store"
    return _html(err.html, err.status, {"Cache-Control": cache, **err.headers})


def _matches(etag: str, header: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


@api.get(
    rf"/a/{{token:{PAGE_ID_PATTERN}}}",
    summary="An alert's public page (HTML, Dutch or English): message, updates newest first, area in "
    "words, times, how to respond, the tip form. Cached 30 s (ETag, 304 on If-None-Match)",
    tags=TAGS,
    content_type="text/html",
    responses={
        304: "Not modified (If-None-Match)",
        404: "No such page (unknown token, draft or cancelled alert)",
        410: "The alert ended more than public.page_days_after_close days ago",
    },
    error_content=HTML,
    doc_params=PAGE_PARAMS,
    head=True,
)
async def alert_page(request: web.Request):
    lang = _lang(request)
    settings, token, thanks = (
        request.app[SETTINGS],
        request.match_info["token"],
        request.query.get("bedankt") == "1",
    )
    cache = lazy(request.app, CACHE_KEY, lambda: service.PageCache(settings.public.page_cache_seconds))
    try:
        rendered = await cache.get(
            (token, lang, thanks),
            lambda: service.page(request.app[POOL], settings, token, lang, thanks=thanks),
        )
    except service.PageError as err:
        return _error(err)
    headers = {"Cache-Control": CACHE, "ETag": rendered.etag}
    if rendered.modified is not None:
        headers["Last-Modified"] = format_datetime(rendered.modified, usegmt=True)
    if _matches(rendered.etag, request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers={**HEADERS, **headers})
    return _html(rendered.html, headers=headers)


PHOTO_MAX = MAX_INPUT_BYTES  # 5 MB, as every photo
FIELD_MAX = 16 * 1024  # a text field (the tip is at most 1000 characters)
BODY_MAX = PHOTO_MAX + 1024 * 1024  # a photo, the text fields and some slack; beyond: 413
UPLOADS_AT_ONCE = 16  # multipart forms read at once per process; more: 503 with Retry-After
UPLOADS_KEY = "public-tip-uploads"


_form_schema = TipFormIn.model_json_schema(mode="validation")
MULTIPART_SCHEMA = {
    "type": "object",
    "additionalProperties": False,  # other parts are ignored; their names must be ASCII headers
    "required": _form_schema.get("required", []),
    "properties": {
        **_form_schema["properties"],
        "photo": {
            "type": "string",
            "format": "binary",
            "maxLength": PHOTO_MAX,
            "description": "Optional photo: JPEG, PNG or WebP by content, at most 5 MB; re-encoded (EXIF "
            "and GPS removed, at most 1280 px) and kept as the tip's media n = 0. Too large or not a "
            "photo: the page again (422) with a Dutch (or English) message",
        },
    },
}
PHOTO_ENCODING = {"contentType": "image/jpeg, image/png, image/webp"}


class _TooLarge(Exception):
    pass


async def _read_part(part: BodyPartReader, keep: int, budget: list[int]) -> tuple[bytes, int]:
    """A part's bytes (the first ``keep``) and its whole size; the rest is read and
    dropped, so the visitor gets an answer rather than a broken connection."""
    kept: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(65536):
        size += len(chunk)
        budget[0] -= len(chunk)
        if budget[0] < 0:
            raise _TooLarge
        if size <= keep:
            kept.append(chunk)
    return b"".join(kept)[:keep], size


async def _read_form(request: web.Request) -> tuple[dict[str, str], bytes | Literal[False] | None]:
    """The form's text fields and its photo: bytes, None (no photo), or False (larger
    than 5 MB). Multipart is read as a stream (the app's body limit of 1 MB would refuse
    a photo), each field bounded; a urlencoded form (no photo) as before."""
    if request.content_type != "multipart/form-data":
        form = await request.post()
        return {k: v for k, v in form.items() if isinstance(v, str)}, None
    reader = await request.multipart()
    data: dict[str, str] = {}
    photo: bytes | Literal[False] | None = None
    budget = [BODY_MAX]
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValueError("nested multipart")
        if part.name == "photo" and part.filename is not None:
            raw, size = await _read_part(part, PHOTO_MAX, budget)
            if size > PHOTO_MAX:
                photo = False
            elif size:
                photo = raw
        elif part.name:
            raw, _ = await _read_part(part, FIELD_MAX, budget)
            data.setdefault(part.name, raw.decode(part.get_charset("utf-8")))
    return data, photo


@api.post(
    rf"/a/{{token:{PAGE_ID_PATTERN}}}/tip",
    summary="A tip from the page's form (urlencoded, or multipart/form-data with an optional photo of at "
    "most 5 MB, re-encoded without EXIF/GPS and kept as the tip's media n = 0): 303 to the page with a "
    "thank-you note; anonymous unless a phone number is given; operators see it with channel web",
    tags=TAGS,
    form=TipFormIn,
    body_content={"multipart/form-data": {"schema": MULTIPART_SCHEMA, "encoding": {"photo": PHOTO_ENCODING}}},
    status=303,
    content_type="text/html",
    responses={
        400: "The form cannot be read",
        413: "The body is more than 1 MB larger than a 5 MB photo (read no further)",
        503: f"More than {UPLOADS_AT_ONCE} forms with a photo are being read at once; see Retry-After",
        404: "No such page",
        410: "The alert has ended or expired: no more tips here",
        422: "The page again, with what to correct (text missing or too long, phone number invalid, the "
        "photo larger than 5 MB or not a JPEG, PNG or WebP photo)",
        429: "Too many tips from this network (public.tips_per_ip_per_hour) or for this alert "
        "(public.tips_per_alert_per_minute); see Retry-After",
    },
    error_content=HTML,
    doc_params=LANG_PARAMS,
)
async def alert_page_tip(request: web.Request):
    lang = _lang(request)
    token = request.match_info["token"]
    try:
        # a dead or unknown page answers before any of the body is read
        await service.form_open(request.app[POOL], request.app[SETTINGS], token, lang)
    except service.PageError as err:
        return _error(err)
    uploads = lazy(request.app, UPLOADS_KEY, lambda: asyncio.Semaphore(UPLOADS_AT_ONCE))
    if request.content_type == "multipart/form-data" and uploads.locked():
        return _html(
            message_page(lang, "too_many_title", "too_many", back=f"/a/{token}", minutes="1"),
            503,
            {"Cache-Control": "no-store", "Retry-After": "10"},
        )
    try:
        async with uploads:
            data, photo = await _read_form(request)
    except _TooLarge:
        return _html(
            message_page(lang, "bad_form_title", "photo_too_large", back=f"/a/{token}"),
            413,
            {"Cache-Control": "no-store"},
        )
    except (UnicodeDecodeError, ValueError, LookupError, AssertionError, HttpProcessingError):
        return _html(
            message_page(lang, "bad_form_title", "bad_form", back=f"/a/{token}"),
            400,
            {"Cache-Control": "no-store"},
        )
    if any("\x00" in v for v in data.values()):
        data = {k: v.replace("\x00", "\x01") for k, v in data.items()}  # refused as a control character
    try:
        await service.submit_tip(
            request.app[POOL], request.app[SETTINGS], token, lang, client_bucket(request), data, photo
        )
    except service.PageError as err:
        return _error(err)
    suffix = "&lang=en" if lang == "en" else ""
    raise web.HTTPSeeOther(f"/a/{token}?bedankt=1{suffix}")
