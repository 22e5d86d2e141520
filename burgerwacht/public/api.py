"""Routes of the public page: ``GET /a/{token}`` (HTML, no sign-in) and its tip form
``POST /a/{token}/tip``. Answers are HTML pages, errors included (404, 410, 422, 429),
with ``noindex`` and a strict CSP (no script; the one inline style by its hash)."""

from __future__ import annotations

from email.utils import format_datetime

from aiohttp import web

from burgerwacht.public import service
from burgerwacht.public.links import PAGE_ID_PATTERN
from burgerwacht.public.models import TipFormIn
from burgerwacht.public.page import HEADERS, message_page
from burgerwacht.web.api import Api
from burgerwacht.web.client import client_bucket
from burgerwacht.web.keys import LAZY, POOL, SETTINGS

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
    cache = request.app[LAZY].get(CACHE_KEY)
    if cache is None:
        cache = request.app[LAZY][CACHE_KEY] = service.PageCache(settings.public.page_cache_seconds)
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


@api.post(
    rf"/a/{{token:{PAGE_ID_PATTERN}}}/tip",
    summary="A tip from the page's form: 303 to the page with a thank-you note; anonymous unless a phone "
    "number is given; operators see it with channel web",
    tags=TAGS,
    form=TipFormIn,
    status=303,
    content_type="text/html",
    responses={
        400: "The form cannot be read",
        404: "No such page",
        410: "The alert has ended or expired: no more tips here",
        422: "The page again, with what to correct (text missing or too long, phone number invalid)",
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
        form = await request.post()
    except (UnicodeDecodeError, ValueError):
        return _html(
            message_page(lang, "bad_form_title", "bad_form", back=f"/a/{token}"),
            400,
            {"Cache-Control": "no-store"},
        )
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if any("\x00" in v for v in data.values()):
        data = {k: v.replace("\x00", "\x01") for k, v in data.items()}  # refused as a control character
    try:
        await service.submit_tip(
            request.app[POOL], request.app[SETTINGS], token, lang, client_bucket(request), data
        )
    except service.PageError as err:
        return _error(err)
    suffix = "&lang=en" if lang == "en" else ""
    raise web.HTTPSeeOther(f"/a/{token}?bedankt=1{suffix}")
