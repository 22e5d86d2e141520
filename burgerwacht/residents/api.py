"""Resident routes: enrolment with a one-time code, and admin access/erasure."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from burgerwacht.audit import store as audit
from burgerwacht.messaging import voice_response
from burgerwacht.residents import service, store
from burgerwacht.residents.models import (
    EnrolmentIn,
    EnrolmentOut,
    ErasureOut,
    ResidentOut,
    ResidentPatch,
    VerifyIn,
)
from burgerwacht.texts import text
from burgerwacht.web.api import Api, current_user, json_response
from burgerwacht.web.client import client_bucket
from burgerwacht.web.errors import LANGUAGE, Problem
from burgerwacht.web.ids import parse_id
from burgerwacht.web.keys import POOL, PROVIDER, SETTINGS
from burgerwacht.webhooks.signing import signed_form

api = Api()
VOICE = {"voice": "Polly.Lotte", "language": "nl-NL"}
VOICE_EN = {"voice": "Polly.Joanna", "language": "en-US"}


def _uuid(request: web.Request, name: str) -> UUID:
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise Problem(404, "no such enrolment", slug="not-found") from None


@api.post(
    "/api/v1/enrolments",
    summary="Start an enrolment; a 6-digit code goes out by SMS (voice for landlines)",
    tags=["residents"],
    body=EnrolmentIn,
    response=EnrolmentOut,
    status=202,
    responses={429: "Too many code requests (Retry-After)", 503: "Code could not be sent now"},
)
async def enrol(request: web.Request, body: EnrolmentIn):
    app = request.app
    request[LANGUAGE] = body.language  # refusals are answered in the resident's language
    pending = await service.start_enrolment(
        app[POOL], app[PROVIDER], app[SETTINGS], body, client_bucket(request)
    )
    return EnrolmentOut(
        id=pending.id,
        status="pending_verification",
        phone=pending.phone.masked,
        address=pending.address,
        channels=pending.channels,
        code_sent_by=pending.code_sent_by,
        expires_at=pending.expires_at,
    )


@api.post(
    "/api/v1/enrolments/{enrolment_id}/verify",
    summary="Verify the code; activates the resident",
    tags=["residents"],
    body=VerifyIn,
    response=ResidentOut,
    responses={404: "Unknown enrolment", 410: "Code expired, used or too many attempts"},
)
async def verify(request: web.Request, body: VerifyIn):
    app = request.app
    resident_id = await service.verify_enrolment(
        app[POOL], app[SETTINGS], _uuid(request, "enrolment_id"), body.code
    )
    async with app[POOL].acquire() as conn:
        return await service.resident_view(conn, resident_id)


async def _in_scope(conn, user, resident_id: int) -> bool:
    """An admin sees residents with an address in their municipalities (national: all)."""
    return user.national or bool(
        set(await store.municipalities_of(conn, resident_id)) & set(user.municipalities)
    )


def _resident_id(request: web.Request) -> int:
    resident_id = parse_id(request.match_info["resident_id"])
    if resident_id is None:
        raise Problem(404, "no such resident", slug="not-found")
    return resident_id


@api.get(
    "/api/v1/residents/{resident_id}",
    summary="A resident's settings (phone masked)",
    tags=["residents"],
    roles={"admin"},
    response=ResidentOut,
    responses={404: "Unknown resident"},
)
async def get_resident(request: web.Request):
    user = current_user(request)
    async with request.app[POOL].acquire() as conn:
        view = await service.resident_view(conn, _resident_id(request))
        if view is None or not await _in_scope(conn, user, view.id):
            raise Problem(404, "no such resident", slug="not-found")
        await audit.append(conn, user.actor, "resident.view", "resident", view.id, {})
    return view


@api.patch(
    "/api/v1/residents/{resident_id}",
    summary="Change a resident's settings as an admin: exercise participation",
    tags=["residents"],
    roles={"admin"},
    body=ResidentPatch,
    response=ResidentOut,
    responses={404: "Unknown resident"},
)
async def patch_resident(request: web.Request, body: ResidentPatch):
    user = current_user(request)
    resident_id = _resident_id(request)
    async with request.app[POOL].acquire() as conn:
        async with conn.transaction():
            if await store.resident_by_id(conn, resident_id) is None or not await _in_scope(
                conn, user, resident_id
            ):
                raise Problem(404, "no such resident", slug="not-found")
            if body.exercise is not None:
                await store.set_exercise(conn, resident_id, body.exercise)
                await audit.append(
                    conn,
                    user.actor,
                    "resident.exercise",
                    "resident",
                    resident_id,
                    {"exercise": body.exercise},
                )
        return await service.resident_view(conn, resident_id)


@api.delete(
    "/api/v1/residents/{resident_id}",
    summary="Erase a resident (AVG): phone, addresses, preferences",
    tags=["residents"],
    roles={"admin"},
    response=ErasureOut,
    responses={404: "Unknown resident"},
)
async def delete_resident(request: web.Request):
    user = current_user(request)
    resident_id = _resident_id(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        r = await store.resident_by_id(conn, resident_id)
        if r is None or not await _in_scope(conn, user, resident_id):
            raise Problem(404, "no such resident", slug="not-found")
        await service.erase(conn, resident_id, r["phone"], request.app[SETTINGS])
        await audit.append(conn, user.actor, "resident.erase", "resident", resident_id, {})
    return json_response(ErasureOut(erased=True, resident_id=resident_id))


@api.post(
    "/twilio/voice/code/{enrolment_id}",
    summary="TwiML reading a verification code to a landline (a signed provider webhook)",
    tags=["webhooks"],
    content_type="text/xml",
    responses={403: "Bad signature"},
)
async def voice_code(request: web.Request):
    await signed_form(request)
    try:
        enrolment_id = UUID(request.match_info["enrolment_id"])
    except ValueError:
        raise Problem(404, "unknown enrolment") from None
    found = await service.voice_code(request.app[POOL], request.app[SETTINGS], enrolment_id)
    doc = VoiceResponse()
    if found is None:
        doc.hangup()
        return voice_response(doc)
    code, lang = found
    spoken = ", ".join(code)
    say = text("voice_code", lang, spoken=spoken)
    doc.say(say, **(VOICE_EN if lang == "en" else VOICE))
    doc.hangup()
    return voice_response(doc)
