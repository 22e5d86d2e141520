"""Routes of /mijn: the page, its sign-in, the resident's settings, export and erasure.

The page is static (no data, no secrets) under the console's strict security headers.
Every ``/mijn/api`` route but the sign-in needs the session cookie (``bw_mijn``:
HttpOnly, SameSite=Strict, Path=/mijn, Secure over https, bounded lifetime); a missing
or ended session is a 401. Answers carrying personal data are never cached.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from uuid import UUID

from aiohttp import web

from burgerwacht.console.api import CONTENT_TYPES, SECURITY_HEADERS, StaticFile
from burgerwacht.errors import DomainError
from burgerwacht.mijn import service
from burgerwacht.mijn.models import ErasedOut, LoginIn, LoginOut, LoginVerifyIn, SessionOut, SessionState
from burgerwacht.residents import mine
from burgerwacht.residents import service as residents
from burgerwacht.residents.models import MineAddressIn, MineAddressPatch, MineOut, MinePatch
from burgerwacht.web.api import Api, json_response
from burgerwacht.web.client import client_bucket
from burgerwacht.web.errors import LANGUAGE, Problem
from burgerwacht.web.keys import POOL, PROVIDER, SETTINGS

api = Api()
TAGS = ["mijn"]
COOKIE = "bw_mijn"
STATIC_DIR = Path(__file__).parent / "static"
NO_STORE = {"Cache-Control": "no-store"}
SIGNED_IN = {401: "Not signed in, or the session ended"}


@cache
def static_files() -> dict[str, StaticFile]:
    files: dict[str, StaticFile] = {}
    for path in sorted(STATIC_DIR.glob("*")):
        ctype = CONTENT_TYPES.get(path.suffix)
        if path.is_file() and ctype is not None:
            body = path.read_bytes()
            files[path.name] = StaticFile(body, ctype, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return files


@api.get(
    "/mijn", summary="Mijn Burgerwacht: a resident's own settings (HTML)", tags=TAGS, content_type="text/html"
)
async def mijn_page(request: web.Request):
    f = static_files()["mijn.html"]
    return web.Response(
        body=f.body, content_type=f.content_type, charset="utf-8", headers={**SECURITY_HEADERS, **NO_STORE}
    )


@api.get(
    r"/mijn/static/{name:[A-Za-z0-9_.\-]+}",
    summary="The resident page's script and style",
    tags=TAGS,
    content_type="text/javascript",
    responses={404: "No such file"},
)
async def mijn_static_file(request: web.Request):
    name = request.match_info["name"]
    f = static_files().get(name)
    if f is None or name.endswith(".html"):
        raise Problem(404, f"no file {name}", slug="not-found")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache", "ETag": f.etag}
    if f.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=f.body, content_type=f.content_type, charset="utf-8", headers=headers)


@api.post(
    "/mijn/api/login",
    summary="Sign in, step 1: a 6-digit code goes by SMS to the number if it is enrolled",
    tags=TAGS,
    body=LoginIn,
    response=LoginOut,
    status=202,
    responses={
        422: "Not a phone number",
        429: "Too many code requests (Retry-After)",
        503: "Code not sent now",
    },
)
async def mijn_login(request: web.Request, body: LoginIn):
    request[LANGUAGE] = body.language
    app = request.app
    started = await service.start_login(
        app[POOL], app[PROVIDER], app[SETTINGS], body.phone, client_bucket(request), body.language
    )
    detail = (
        "If this number is enrolled, a code is on its way by SMS."
        if body.language == "en"
        else "Als dit nummer is aangemeld, krijgt u nu een code per sms."
    )
    return LoginOut(id=started.id, phone=started.phone, expires_at=started.expires_at, detail=detail)


def _login_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["login_id"])
    except ValueError:
        raise Problem(404, "no such sign-in", slug="not-found") from None


@api.post(
    "/mijn/api/login/{login_id}/verify",
    summary="Sign in, step 2: the code; sets the session cookie",
    tags=TAGS,
    body=LoginVerifyIn,
    response=SessionOut,
    responses={404: "Unknown sign-in", 410: "Code expired or too many attempts", 422: "Wrong code"},
)
async def mijn_verify(request: web.Request, body: LoginVerifyIn):
    settings = request.app[SETTINGS]
    session = await service.verify_login(request.app[POOL], settings, _login_id(request), body.code)
    resp = json_response(SessionOut(expires_at=session.expires_at), headers=NO_STORE)
    resp.set_cookie(
        COOKIE,
        session.token,
        max_age=settings.enrolment.mijn_session_minutes * 60,
        path="/mijn",
        httponly=True,
        samesite="Strict",
        secure=settings.public_base.startswith("https://"),
    )
    return resp


@api.post("/mijn/api/logout", summary="Sign out", tags=TAGS, status=204)
async def mijn_logout(request: web.Request):
    async with request.app[POOL].acquire() as conn:
        await service.logout(conn, request.app[SETTINGS], request.cookies.get(COOKIE))
    resp = web.Response(status=204)
    resp.del_cookie(COOKIE, path="/mijn")
    return resp


async def _who(request: web.Request, conn) -> service.Current:
    return await service.current(conn, request.app[SETTINGS], request.cookies.get(COOKIE))


@api.get(
    "/mijn/api/session",
    summary="Whether this browser is signed in (never a 401: the page asks on load)",
    tags=TAGS,
    response=SessionState,
)
async def mijn_session_state(request: web.Request):
    async with request.app[POOL].acquire() as conn:
        try:
            who = await _who(request, conn)
        except DomainError:
            return json_response(SessionState(signed_in=False), headers=NO_STORE)
    return json_response(SessionState(signed_in=True, expires_at=who.expires_at), headers=NO_STORE)


@api.get(
    "/mijn/api/me", summary="My settings and addresses", tags=TAGS, response=MineOut, responses=SIGNED_IN
)
async def mijn_me(request: web.Request):
    async with request.app[POOL].acquire() as conn:
        who = await _who(request, conn)
        return json_response(await mine.view(conn, request.app[SETTINGS], who.resident_id), headers=NO_STORE)


@api.patch(
    "/mijn/api/me",
    summary="Change language, pause, bulletin opt-in, slow speech, message twice, SMS only",
    tags=TAGS,
    body=MinePatch,
    response=MineOut,
    responses={**SIGNED_IN, 422: "Not possible for this number (e.g. SMS only on a landline)"},
)
async def mijn_patch_me(request: web.Request, body: MinePatch):
    async with request.app[POOL].acquire() as conn:
        who = await _who(request, conn)
        out = await mine.update(conn, request.app[SETTINGS], who.resident_id, body)
    return json_response(out, headers=NO_STORE)


@api.post(
    "/mijn/api/addresses",
    summary="Add an address",
    tags=TAGS,
    body=MineAddressIn,
    response=MineOut,
    status=201,
    responses={**SIGNED_IN, 409: "Already enrolled there", 422: "Unknown address or too many"},
)
async def mijn_add_address(request: web.Request, body: MineAddressIn):
    async with request.app[POOL].acquire() as conn:
        who = await _who(request, conn)
        out = await mine.add_address(conn, request.app[SETTINGS], who.resident_id, body)
    return json_response(out, status=201, headers=NO_STORE)


def _number(request: web.Request) -> int:
    raw = request.match_info["number"]
    if not raw.isdigit() or len(raw) > 3:
        raise Problem(404, "no such address", slug="not-found")
    return int(raw)


@api.patch(
    "/mijn/api/addresses/{number}",
    summary="Change an address's label, channels, quiet hours or time windows",
    tags=TAGS,
    body=MineAddressPatch,
    response=MineOut,
    responses={**SIGNED_IN, 404: "No such address", 422: "Channel not possible for this number"},
)
async def mijn_patch_address(request: web.Request, body: MineAddressPatch):
    async with request.app[POOL].acquire() as conn:
        who = await _who(request, conn)
        out = await mine.update_address(conn, request.app[SETTINGS], who.resident_id, _number(request), body)
    return json_response(out, headers=NO_STORE)


@api.delete(
    "/mijn/api/addresses/{number}",
    summary="Remove one address (not the last: erase everything instead)",
    tags=TAGS,
    response=MineOut,
    responses={**SIGNED_IN, 404: "No such address", 409: "The only address"},
)
async def mijn_delete_address(request: web.Request):
    async with request.app[POOL].acquire() as conn:
        who = await _who(request, conn)
        out = await mine.remove_address(conn, request.app[SETTINGS], who.resident_id, _number(request))
    return json_response(out, headers=NO_STORE)


@api.get(
    "/mijn/export.json",
    summary="Download my data (everything held about my number, AVG access)",
    tags=TAGS,
    responses=SIGNED_IN,
)
async def mijn_export(request: web.Request):
    async with request.app[POOL].acquire() as conn:
        who = await _who(request, conn)
        doc = await residents.export(conn, who.phone)
    return json_response(
        doc, headers={**NO_STORE, "Content-Disposition": 'attachment; filename="mijn-burgerwacht.json"'}
    )


@api.delete(
    "/mijn/api/me",
    summary="Erase everything (as the SMS keyword VERWIJDER): number, addresses, settings",
    tags=TAGS,
    response=ErasedOut,
    responses=SIGNED_IN,
)
async def mijn_erase(request: web.Request):
    async with request.app[POOL].acquire() as conn:
        who = await _who(request, conn)
        await residents.erase_by_phone(conn, who.phone, request.app[SETTINGS])
    resp = json_response(ErasedOut(erased=True), headers=NO_STORE)
    resp.del_cookie(COOKIE, path="/mijn")
    return resp
