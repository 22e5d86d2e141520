"""Tip routes for operators, the live tip feed, and the voice tip line webhooks."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError
from twilio.twiml.voice_response import VoiceResponse

from burgerwacht import metrics
from burgerwacht.alerts import service as alerts
from burgerwacht.audit import store as audit
from burgerwacht.config import Settings
from burgerwacht.events import SHUTDOWN_EVENT, hub_of, next_event, open_stream, sse
from burgerwacht.photos.models import JPEG_CONTENT
from burgerwacht.residents.service import language_of
from burgerwacht.texts import text
from burgerwacht.tips import service, store
from burgerwacht.tips.models import ReplyIn, ReplyOut, TipList, TipOut, TipPatch, TipQuery
from burgerwacht.web.api import Api, current_user
from burgerwacht.web.errors import Problem, validation_problem
from burgerwacht.web.ids import INT_MAX, parse_id
from burgerwacht.web.keys import POOL, PROVIDER, SETTINGS
from burgerwacht.webhooks.signing import signed_form

api = Api()
OPERATORS = {"operator"}
TWIML = "text/xml"
VOICE = {"voice": "Polly.Lotte", "language": "nl-NL"}
VOICE_EN = {"voice": "Polly.Joanna", "language": "en-US"}
MAX_RECORDING_SECONDS = 120


def _int(request: web.Request, name: str) -> int:
    value = parse_id(request.match_info[name])
    if value is None:
        raise Problem(404, f"no such {name.removesuffix('_id')}", slug="not-found")
    return value


async def _list(request: web.Request, query: TipQuery, alert_id: int | None) -> TipList:
    user = current_user(request)
    async with request.app[POOL].acquire() as conn:
        rows = await store.list_tips(
            conn,
            user.scope(),
            alert_id or query.alert,
            query.status,
            query.since,
            query.before,
            query.limit + 1,
        )
        await audit.append(
            conn,
            user.actor,
            "tip.list",
            "alert" if alert_id else "tip",
            alert_id,
            {"count": min(len(rows), query.limit), "status": query.status},
        )
    items = [service.to_out(r) for r in rows[: query.limit]]
    return TipList(items=items, next=str(items[-1].id) if len(rows) > query.limit else None)


@api.get(
    "/api/v1/tips",
    summary="Tips in your municipalities, newest first (filters: alert, status, since)",
    tags=["tips"],
    roles=OPERATORS,
    query=TipQuery,
    response=TipList,
)
async def list_tips(request: web.Request, query: TipQuery):
    return await _list(request, query, None)


@api.get(
    "/api/v1/alerts/{alert_id}/tips",
    summary="The tips about one alert",
    tags=["tips"],
    roles=OPERATORS,
    query=TipQuery,
    response=TipList,
    responses={404: "Unknown or outside your scope"},
)
async def alert_tips(request: web.Request, query: TipQuery):
    alert_id = _int(request, "alert_id")
    async with request.app[POOL].acquire() as conn:
        await alerts.load_for(conn, current_user(request), alert_id)
    return await _list(request, query, alert_id)


@api.get(
    "/api/v1/tips/{tip_id:\\d+}",
    summary="One tip",
    tags=["tips"],
    roles=OPERATORS,
    response=TipOut,
    responses={404: "Unknown or outside your scope"},
)
async def get_tip(request: web.Request):
    user = current_user(request)
    tip_id = _int(request, "tip_id")
    async with request.app[POOL].acquire() as conn:
        row = await service.get_for(conn, user, tip_id)
        await audit.append(conn, user.actor, "tip.view", "tip", tip_id, {})
    return service.to_out(row)


MEDIA_RETRY_AFTER = "5"


@api.get(
    "/api/v1/tips/{tip_id:\\d+}/media/{n:\\d+}",
    summary="A photo of the tip (n counts from 0, as Twilio's MediaUrl0): the re-encoded JPEG, without "
    "EXIF or GPS; private, never cached (Cache-Control: private, no-store)",
    tags=["tips"],
    roles=OPERATORS,
    content_type="image/jpeg",
    extra_content=JPEG_CONTENT,
    responses={
        404: "Unknown tip, outside your scope, or no photo n",
        409: "Still being fetched from the provider (status pending); try again after Retry-After seconds",
        410: "Not kept (type, size, unreadable, foreign URL), failed, or erased: there is no picture",
    },
)
async def tip_media(request: web.Request):
    user = current_user(request)
    tip_id = _int(request, "tip_id")
    n = parse_id(request.match_info["n"], 9)
    async with request.app[POOL].acquire() as conn:
        await service.get_for(conn, user, tip_id)
        row = await store.media_data(conn, tip_id, n) if n is not None else None
        if row is None:
            raise Problem(404, f"tip {tip_id} has no photo {request.match_info['n']}", slug="not-found")
        if row["status"] == "pending":
            raise Problem(
                409,
                "the photo is still being fetched from the provider",
                slug="media-pending",
                headers={"Retry-After": MEDIA_RETRY_AFTER},
            )
        if row["status"] != "stored":
            raise Problem(410, row["error"] or f"the photo is {row['status']}", slug="media-gone")
        await audit.append(conn, user.actor, "tip.media.view", "tip", tip_id, {"n": n})
    return web.Response(
        body=row["data"],
        content_type="image/jpeg",
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="tip-{tip_id}-{n}.jpg"',
        },
    )


@api.patch(
    "/api/v1/tips/{tip_id:\\d+}",
    summary="Mark a tip read, useful or not useful, or as having led to the outcome; add a note",
    tags=["tips"],
    roles=OPERATORS,
    body=TipPatch,
    response=TipOut,
    responses={
        404: "Unknown or outside your scope",
        409: "Status cannot go back, or led_to_outcome on a tip linked to no alert",
    },
)
async def patch_tip(request: web.Request, body: TipPatch):
    async with request.app[POOL].acquire() as conn:
        return await service.patch(conn, current_user(request), _int(request, "tip_id"), body)


@api.post(
    "/api/v1/tips/{tip_id:\\d+}/reply",
    summary="Send the tipster an SMS (through the relay when anonymous)",
    tags=["tips"],
    roles=OPERATORS,
    body=ReplyIn,
    response=ReplyOut,
    responses={
        404: "Unknown or outside your scope",
        410: "The tipster can no longer be reached",
        502: "The provider refused",
    },
)
async def reply_tip(request: web.Request, body: ReplyIn):
    app = request.app
    tip_id = _int(request, "tip_id")
    segments = await service.reply(
        app[POOL], app[PROVIDER], app[SETTINGS], current_user(request), tip_id, body.message
    )
    return ReplyOut(tip_id=tip_id, sent=True, segments=segments)


@api.get(
    "/api/v1/tips/events",
    summary="Server-sent events: every new tip in your municipalities",
    tags=["tips"],
    roles=OPERATORS,
    content_type="text/event-stream",
    responses={503: "Not a web process (live events are served by web processes)"},
)
async def tip_events(request: web.Request):
    user = current_user(request)
    hub = hub_of(request.app)
    topics = ["tips:*"] if user.national else [f"tips:{m}" for m in user.municipalities]
    resp = await open_stream(request)
    await resp.write(b": connected\n\n")
    seen: set[int] = set()
    async with hub.subscribe(*topics) as queue:
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while not hub.closing.is_set():
                event = await next_event(hub, queue, wait_s=15)
                if event is None:
                    if not hub.closing.is_set():
                        await resp.write(b": keep-alive\n\n")
                    continue
                tip = event.get("tip") or {}
                if event.get("type") != "tip" or tip.get("id") in seen:
                    continue  # one event per tip, even if it matched several topics
                seen.add(tip["id"])
                await resp.write(sse("tip", tip, tip["id"]))
            await resp.write(SHUTDOWN_EVENT)
    return resp


# ------------------------------------------------------------------ voice tip line


class RecordingForm(BaseModel):
    """The fields of Twilio's recording status callback that matter here."""

    RecordingSid: str = Field(pattern=r"^RE[0-9a-fA-F]{32}$")
    RecordingUrl: str
    RecordingDuration: str
    CallSid: str


def _record_twiml(base: str, lang: str, *, unanswered: bool = False) -> str:
    voice = VOICE_EN if lang == "en" else VOICE
    doc = VoiceResponse()
    if unanswered:
        doc.say(text("tipline_unanswered", lang), **voice)
    doc.say(text("tipline_intro", lang), **voice)
    doc.record(
        max_length=MAX_RECORDING_SECONDS,
        finish_on_key="#",
        play_beep=True,
        timeout=5,
        action=f"{base}/twilio/voice/recorded",
        method="POST",
        recording_status_callback=f"{base}/twilio/voice/recording",
        recording_status_callback_event="completed",
    )
    doc.say(text("tipline_nothing", lang), **voice)
    doc.hangup()
    return str(doc)


#: Numbers the live line rings at most (the operator's, the municipality's).
MAX_DIAL_STEPS = 2


def _dial_twiml(settings: Settings, lang: str, alert_id: int, numbers: list[str], step: int = 0) -> str:
    """Ring ``numbers[step]``; the operator hears the whisper before being connected, and
    the dial's outcome goes to dial-result (connected: done; otherwise the next number,
    ``?next=<step>``, or after the last the recording)."""
    base = settings.public_base
    doc = VoiceResponse()
    if step == 0:
        doc.say(text("tipline_connecting", lang), **(VOICE_EN if lang == "en" else VOICE))
    following = f"?next={step + 1}" if step + 1 < len(numbers) else ""
    dial = doc.dial(
        timeout=settings.tips.connect_timeout_s,
        action=f"{base}/twilio/voice/dial-result/{alert_id}{following}",
        method="POST",
        caller_id=settings.twilio.from_number,
    )
    number = numbers[step]
    dial.number(number, url=f"{base}/twilio/voice/whisper/{alert_id}", method="POST")
    return str(doc)


async def _answer(request: web.Request, call_sid: str, phone: str | None, delivery_id: int | None):
    """The start of a tip call: the control room when the tip would be linked to an alert
    of a municipality with a control-room number (tips.control_room_numbers), else the
    recording flow."""
    settings = request.app[SETTINGS]
    async with request.app[POOL].acquire() as conn:
        lang = await service.voice_call_started(conn, settings, call_sid, phone, delivery_id)
        target = await service.dial_target(conn, settings, phone, delivery_id)
    if target is None:
        return web.Response(text=_record_twiml(settings.public_base, lang), content_type=TWIML)
    alert, numbers = target
    metrics.WEBHOOKS.labels("dial", "ok").inc()
    return web.Response(text=_dial_twiml(settings, lang, alert["id"], numbers), content_type=TWIML)


@api.post(
    "/twilio/voice/tipline",
    summary="Inbound call to the tip line: prompt and recording (TwiML)",
    tags=["webhooks"],
    content_type=TWIML,
    responses={403: "Bad signature"},
)
async def tipline(request: web.Request):
    form = await signed_form(request)
    response = await _answer(request, form.get("CallSid", ""), form.get("From"), None)
    metrics.WEBHOOKS.labels("tipline", "ok").inc()
    return response


@api.post(
    "/twilio/voice/tip/{delivery_id}",
    summary="Digit 2 in an alert call: record a tip for that alert",
    tags=["webhooks"],
    content_type=TWIML,
    responses={403: "Bad signature"},
)
async def alert_call_tip(request: web.Request):
    form = await signed_form(request)
    return await _answer(request, form.get("CallSid", ""), form.get("To"), _int(request, "delivery_id"))


class DialResultForm(BaseModel):
    """The fields of Twilio's ``<Dial action>`` request that matter here."""

    CallSid: str = Field(pattern=r"^CA[0-9a-fA-F]{32}$", description="The caller's call")
    DialCallStatus: Literal["completed", "answered", "busy", "no-answer", "failed", "canceled"] = Field(
        description="completed/answered: the caller spoke with the control room (the call ends and a "
        "voice tip noted 'verbonden met meldkamer' is stored); otherwise the caller records a tip"
    )
    DialCallDuration: int | None = Field(default=None, ge=0, description="Seconds connected")


@api.post(
    "/twilio/voice/whisper/{alert_id}",
    summary="Whisper to the control-room operator before the caller is connected (TwiML)",
    tags=["webhooks"],
    content_type=TWIML,
    responses={403: "Bad signature", 404: "Unknown alert"},
)
async def whisper(request: web.Request):
    await signed_form(request)
    alert_id = _int(request, "alert_id")
    async with request.app[POOL].acquire() as conn:
        alert = await service.alert_brief(conn, alert_id)
    key = "tipline_whisper_exercise" if alert["mode"] == "exercise" else "tipline_whisper"
    doc = VoiceResponse()
    doc.say(text(key, "nl", reference=alert["reference"]), **VOICE)
    metrics.WEBHOOKS.labels("whisper", "ok").inc()
    return web.Response(text=str(doc), content_type=TWIML)


@api.post(
    "/twilio/voice/dial-result/{alert_id}",
    summary="The control room answered (the call ends, a voice tip notes it) or not (the next "
    "number rings, else the caller records a tip) (TwiML)",
    tags=["webhooks"],
    form=DialResultForm,
    doc_params=[
        {
            "name": "next",
            "in": "query",
            "required": False,
            "description": "Set by the service on the first Dial's action when a second number is "
            "left: the operator who sent the alert (PATCH /api/v1/me) did not answer, so the "
            "municipality's control room (tips.control_room_numbers) rings next",
            "schema": {"type": "integer", "enum": [1]},
        }
    ],
    content_type=TWIML,
    responses={403: "Bad signature", 404: "Unknown alert", 422: "Missing or unknown fields"},
)
async def dial_result(request: web.Request):
    form = await signed_form(request)
    alert_id = _int(request, "alert_id")
    try:
        result = DialResultForm.model_validate(
            {k: form[k] for k in ("CallSid", "DialCallStatus", "DialCallDuration") if form.get(k)}
        )
    except ValidationError as exc:
        raise validation_problem(exc, location="form") from None
    settings = request.app[SETTINGS]
    async with request.app[POOL].acquire() as conn:
        if result.DialCallStatus in ("completed", "answered"):
            await service.connected(conn, result.CallSid, alert_id)
            metrics.WEBHOOKS.labels("dial_result", "connected").inc()
            doc = VoiceResponse()
            doc.hangup()
            return web.Response(text=str(doc), content_type=TWIML)
        alert = await service.alert_brief(conn, alert_id)
        ctx = await store.call_context(conn, result.CallSid)
        lang = await language_of(conn, ctx["phone"]) if ctx and ctx["phone"] else "nl"
    step = request.query.get("next", "")
    numbers = service.live_line_numbers(settings, alert)
    if step.isdigit() and 0 < int(step) < min(len(numbers), MAX_DIAL_STEPS):
        # the operator who sent the alert did not answer: the municipality's control room
        metrics.WEBHOOKS.labels("dial_result", "next").inc()
        return web.Response(
            text=_dial_twiml(settings, lang, alert_id, numbers, int(step)), content_type=TWIML
        )
    metrics.WEBHOOKS.labels("dial_result", "unanswered").inc()
    return web.Response(text=_record_twiml(settings.public_base, lang, unanswered=True), content_type=TWIML)


@api.post(
    "/twilio/voice/recording",
    summary="Recording status callback: the recording becomes a tip",
    tags=["webhooks"],
    form=RecordingForm,
    responses={400: "Missing fields", 403: "Bad signature"},
)
async def recording(request: web.Request):
    form = await signed_form(request)
    sid, url, call_sid = form.get("RecordingSid", ""), form.get("RecordingUrl", ""), form.get("CallSid", "")
    if not (sid.startswith("RE") and url and call_sid):
        raise Problem(400, "RecordingSid, RecordingUrl and CallSid are required", slug="bad-webhook")
    if form.get("RecordingStatus", "completed") != "completed":
        return web.Response(status=204)
    duration = form.get("RecordingDuration", "0")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        tip_id = await service.recording(
            conn, sid, call_sid, url, min(parse_id(duration, INT_MAX) or 0, 86_400)
        )
    if tip_id is not None:  # counted once committed
        metrics.TIPS.labels("voice").inc()
    metrics.WEBHOOKS.labels("recording", "ok").inc()
    return web.Response(status=204)


@api.post(
    "/twilio/voice/recorded",
    summary="After the recording: thanks and goodbye (TwiML)",
    tags=["webhooks"],
    content_type=TWIML,
    responses={403: "Bad signature"},
)
async def recorded(request: web.Request):
    form = await signed_form(request)
    async with request.app[POOL].acquire() as conn:
        ctx = await store.call_context(conn, form.get("CallSid", ""))
        lang = await language_of(conn, ctx["phone"]) if ctx and ctx["phone"] else "nl"
    doc = VoiceResponse()
    doc.say(text("tipline_thanks", lang), **(VOICE_EN if lang == "en" else VOICE))
    doc.hangup()
    return web.Response(text=str(doc), content_type=TWIML)
