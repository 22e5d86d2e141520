"""Tip routes for operators, the live tip feed, and the voice tip line webhooks."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from pydantic import BaseModel, Field
from twilio.twiml.voice_response import VoiceResponse

from burgerwacht import metrics
from burgerwacht.alerts import service as alerts
from burgerwacht.audit import store as audit
from burgerwacht.events import SHUTDOWN_EVENT, next_event, open_stream, sse
from burgerwacht.texts import text
from burgerwacht.tips import service, store
from burgerwacht.tips.models import ReplyIn, ReplyOut, TipList, TipOut, TipPatch, TipQuery
from burgerwacht.web.api import Api, current_user
from burgerwacht.web.errors import Problem
from burgerwacht.web.ids import INT_MAX, parse_id
from burgerwacht.web.keys import EVENTS, POOL, PROVIDER, SETTINGS
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
)
async def tip_events(request: web.Request):
    user = current_user(request)
    hub = request.app[EVENTS]
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


def _record_twiml(base: str, lang: str) -> str:
    voice = VOICE_EN if lang == "en" else VOICE
    doc = VoiceResponse()
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


@api.post(
    "/twilio/voice/tipline",
    summary="Inbound call to the tip line: prompt and recording (TwiML)",
    tags=["webhooks"],
    content_type=TWIML,
    responses={403: "Bad signature"},
)
async def tipline(request: web.Request):
    form = await signed_form(request)
    async with request.app[POOL].acquire() as conn:
        lang = await service.voice_call_started(
            conn, request.app[SETTINGS], form.get("CallSid", ""), form.get("From"), None
        )
    metrics.WEBHOOKS.labels("tipline", "ok").inc()
    return web.Response(text=_record_twiml(request.app[SETTINGS].public_base, lang), content_type=TWIML)


@api.post(
    "/twilio/voice/tip/{delivery_id}",
    summary="Digit 2 in an alert call: record a tip for that alert",
    tags=["webhooks"],
    content_type=TWIML,
    responses={403: "Bad signature"},
)
async def alert_call_tip(request: web.Request):
    form = await signed_form(request)
    delivery_id = _int(request, "delivery_id")
    async with request.app[POOL].acquire() as conn:
        lang = await service.voice_call_started(
            conn, request.app[SETTINGS], form.get("CallSid", ""), form.get("To"), delivery_id
        )
    return web.Response(text=_record_twiml(request.app[SETTINGS].public_base, lang), content_type=TWIML)


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
        from burgerwacht.residents.service import language_of

        lang = await language_of(conn, ctx["phone"]) if ctx and ctx["phone"] else "nl"
    doc = VoiceResponse()
    doc.say(text("tipline_thanks", lang), **(VOICE_EN if lang == "en" else VOICE))
    doc.hangup()
    return web.Response(text=str(doc), content_type=TWIML)
