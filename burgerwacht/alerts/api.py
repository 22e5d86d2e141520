"""Alert routes for operators, the live event stream, and the alert-call webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from burgerwacht import metrics
from burgerwacht.alerts import callbacks, service, states, store
from burgerwacht.alerts.models import (
    AlertIn,
    AlertList,
    AlertListQuery,
    AlertOut,
    CapQuery,
    CloseIn,
    Outcome,
    Preview,
    RejectIn,
    UpdateCreated,
    UpdateIn,
    UpdatePreview,
    WaveCreated,
    WidenIn,
)
from burgerwacht.events import SHUTDOWN_EVENT, hub_of, next_event, open_stream, sse
from burgerwacht.templates.models import AlertCreate
from burgerwacht.web.api import Api, current_user, json_response
from burgerwacht.web.errors import Problem
from burgerwacht.web.ids import INT_MAX, parse_id, path_id
from burgerwacht.web.keys import POOL, SETTINGS, lazy
from burgerwacht.webhooks.signing import signed_form

api = Api()
OPERATORS = {"operator"}
TWIML = "text/xml"


class SendOut(BaseModel):
    id: int
    status: Literal["sending", "awaiting_approval"] = Field(
        description="awaiting_approval: the level needs a second person (alerts.approval_levels)"
    )
    counts: dict[str, int]
    materialising: bool = Field(
        default=False,
        description="A large alert: only its first chunk of deliveries is written yet (counts are those); "
        "the dispatch workers write the rest, sending as they go (see the alert's materialising)",
    )


class CloseOut(BaseModel):
    id: int
    status: str
    closing_deliveries: int
    cancelled: int
    outcome: Outcome


class CancelOut(BaseModel):
    id: int
    status: str
    cancelled: int


def _alert_id(request: web.Request) -> int:
    return path_id(request, "alert_id", "alert")


async def _cap_body(request: web.Request) -> tuple[AlertIn, dict[str, Any]]:
    """The draft a CAP message describes, and its source (identifier, sender, sent)."""
    from burgerwacht import cap

    raw = await request.read()
    settings = request.app[SETTINGS]
    try:
        draft = cap.parse_cap(
            raw,
            min_radius_m=settings.cap.min_radius_m,
        )
    except cap.CapError as exc:
        raise Problem(422, str(exc), slug="invalid-cap", element=getattr(exc, "element", None)) from None
    source = {
        "identifier": draft.get("cap_identifier"),
        "sender": draft.get("cap_sender"),
        "sent": draft.get("cap_sent"),
    }
    draft = {k: v for k, v in draft.items() if k in AlertIn.model_fields}
    from pydantic import ValidationError

    from burgerwacht.web.errors import validation_problem

    try:
        return AlertIn.model_validate(draft), source
    except ValidationError as exc:
        raise validation_problem(exc, location="cap") from None


@api.post(
    "/api/v1/alerts",
    summary="Create a draft alert (JSON, or OASIS CAP 1.2 as application/cap+xml); in JSON either a "
    "full alert or template_id + fields + target",
    tags=["alerts"],
    roles=OPERATORS,
    body=AlertCreate,
    response=AlertOut,
    status=201,
    raw_body=True,
    responses={404: "template_id: unknown or outside your scope"},
    body_content={"application/cap+xml": {"schema": {"type": "string", "description": "CAP 1.2 alert"}}},
)
async def create_alert(request: web.Request):
    user = current_user(request)
    from burgerwacht.templates import service as templates
    from burgerwacht.web.api import read_json_body

    cap_source, template_id = None, None
    if request.content_type in ("application/cap+xml", "application/xml", "text/xml"):
        body, cap_source = await _cap_body(request)
    else:  # a full alert, or one made from a template (template_id + fields)
        body, template_id = await templates.alert_body(request.app[POOL], user, await read_json_body(request))
    pool = request.app[POOL]
    alert_id = await service.create(
        pool, request.app[SETTINGS], user, body, cap_source=cap_source, template_id=template_id
    )
    async with pool.acquire() as conn:
        out = await service.view(conn, user, alert_id, area=True, settings=request.app[SETTINGS])
    return json_response(out, 201, headers={"Location": f"/api/v1/alerts/{alert_id}"})


@api.get(
    "/api/v1/alerts",
    summary="Alerts in your municipalities, newest first",
    tags=["alerts"],
    roles=OPERATORS,
    query=AlertListQuery,
    response=AlertList,
)
async def list_alerts(request: web.Request, query: AlertListQuery):
    user = current_user(request)
    async with request.app[POOL].acquire() as conn:
        rows = await store.list_alerts(
            conn, user.scope(), query.status, query.before, query.limit + 1, mode=query.mode
        )
        counts = await store.counts(conn, [r["id"] for r in rows[: query.limit]])
    mine = service.by_alert(counts)
    items = [service.to_out(r, mine.get(r["id"], {}), request.app[SETTINGS]) for r in rows[: query.limit]]
    nxt = str(items[-1].id) if len(rows) > query.limit else None
    return AlertList(items=items, next=nxt)


@api.get(
    "/api/v1/alerts/{alert_id}",
    summary="An alert with its counts per delivery state",
    tags=["alerts"],
    roles=OPERATORS,
    response=AlertOut,
    responses={404: "Unknown or outside your scope"},
)
async def get_alert(request: web.Request):
    async with request.app[POOL].acquire() as conn:
        return await service.view(
            conn, current_user(request), _alert_id(request), area=True, settings=request.app[SETTINGS]
        )


@api.post(
    "/api/v1/alerts/{alert_id}/preview",
    summary="Who would be reached, quiet hours, budget, SMS encoding and the time until the last one",
    tags=["alerts"],
    roles=OPERATORS,
    response=Preview,
    responses={404: "Unknown or outside your scope"},
)
async def preview_alert(request: web.Request):
    return await service.preview(
        request.app[POOL], request.app[SETTINGS], current_user(request), _alert_id(request)
    )


@api.post(
    "/api/v1/alerts/{alert_id}/send",
    summary="Send a draft: one delivery per resident and channel; a level in alerts.approval_levels "
    "waits for a second person instead (status awaiting_approval, its preview frozen in the alert)",
    tags=["alerts"],
    roles=OPERATORS,
    response=SendOut,
    status=202,
    responses={404: "Unknown or outside your scope", 409: "Already sent, or awaiting approval"},
)
async def send_alert(request: web.Request):
    alert_id = _alert_id(request)
    status, counts, materialising = await service.send(
        request.app[POOL], request.app[SETTINGS], current_user(request), alert_id
    )
    return SendOut(id=alert_id, status=status, counts=counts, materialising=materialising)


APPROVERS = {"operator", "admin"}


@api.post(
    "/api/v1/alerts/{alert_id}/approve",
    summary="Approve an alert awaiting approval: a second person (not its author, not who asked to "
    "send it) sends it exactly as send would",
    tags=["alerts"],
    roles=APPROVERS,
    response=SendOut,
    status=202,
    responses={
        403: "You wrote this alert or asked to send it",
        404: "Unknown or outside your scope",
        409: "Not awaiting approval",
    },
)
async def approve_alert(request: web.Request):
    alert_id = _alert_id(request)
    counts, materialising = await service.approve(
        request.app[POOL], request.app[SETTINGS], current_user(request), alert_id
    )
    return SendOut(id=alert_id, status="sending", counts=counts, materialising=materialising)


@api.post(
    "/api/v1/alerts/{alert_id}/reject",
    summary="Refuse an alert awaiting approval: back to draft with the reason (in the alert's rejection)",
    tags=["alerts"],
    roles=APPROVERS,
    body=RejectIn,
    response=AlertOut,
    responses={404: "Unknown or outside your scope", 409: "Not awaiting approval"},
)
async def reject_alert(request: web.Request, body: RejectIn):
    user, alert_id, pool = current_user(request), _alert_id(request), request.app[POOL]
    await service.reject(pool, user, alert_id, body.reason)
    async with pool.acquire() as conn:
        return await service.view(conn, user, alert_id, request.app[SETTINGS], area=True)


@api.post(
    "/api/v1/alerts/{alert_id}/close",
    summary="End the alert with an outcome and send the closing message (afloopbericht); "
    "{message} alone means outcome 'other'",
    tags=["alerts"],
    roles=OPERATORS,
    body=CloseIn,
    response=CloseOut,
    status=202,
    responses={404: "Unknown or outside your scope", 409: "Not sent, or already ended"},
)
async def close_alert(request: web.Request, body: CloseIn):
    alert_id = _alert_id(request)
    result = await service.close(
        request.app[POOL],
        current_user(request),
        alert_id,
        body.message,
        outcome=body.outcome,
        outcome_note=body.outcome_note,
    )
    return CloseOut(id=alert_id, status="closed", outcome=body.outcome, **result)


@api.post(
    "/api/v1/alerts/{alert_id}/cancel",
    summary="Stop what has not gone out",
    tags=["alerts"],
    roles=OPERATORS,
    response=CancelOut,
    responses={404: "Unknown or outside your scope", 409: "Already ended"},
)
async def cancel_alert(request: web.Request):
    alert_id = _alert_id(request)
    n = await service.cancel(request.app[POOL], current_user(request), alert_id)
    return CancelOut(id=alert_id, status="cancelled", cancelled=n)


# events passed on as they come (besides coalesced progress): tips, follow-ups, waves
LIFECYCLE_EVENTS = ("tip", "update", "wave", "approval")


@api.get(
    "/api/v1/alerts/{alert_id}/events",
    summary="Server-sent events: progress (coalesced: a few per second, one every few seconds for an alert "
    "whose counts take long to read, such as a national one: id, status, materialising, counts), "
    "tips, follow-ups (update), waves and approval steps (approval: awaiting_approval, approved, rejected)",
    tags=["alerts"],
    roles=OPERATORS,
    content_type="text/event-stream",
    responses={
        404: "Unknown or outside your scope",
        503: "Not a web process (live events are served by web processes)",
    },
)
async def alert_events(request: web.Request):
    user = current_user(request)
    alert_id = _alert_id(request)
    pool, settings = request.app[POOL], request.app[SETTINGS]
    async with pool.acquire() as conn:
        await service.load_for(conn, user, alert_id)
    hub = hub_of(request.app)
    board = lazy(request.app, "alerts.progress", service.ProgressBoard)
    resp = await open_stream(request)
    min_interval, last_sent, last_doc = service.PROGRESS_MIN_INTERVAL, 0.0, None

    async def progress(newer_than: float) -> None:
        nonlocal last_sent, last_doc
        doc = await board.read(pool, settings, user, alert_id, newer_than=newer_than)
        if doc != last_doc:
            await resp.write(sse("progress", doc))
            last_doc, last_sent = doc, time.monotonic()

    async with hub.subscribe(f"alert:{alert_id}") as queue:
        await progress(time.monotonic() - min_interval)
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while not hub.closing.is_set():
                event = await next_event(hub, queue, wait_s=1.0)
                woken = time.monotonic()  # a reading taken after this shows what the event said
                if event is None:
                    if not hub.closing.is_set():
                        await progress(woken - 1.0)  # NOTIFY is a hint; re-read on a timer as well
                    continue
                if event.get("type") in LIFECYCLE_EVENTS:
                    await resp.write(sse(event["type"], event.get(event["type"], {})))
                    if event["type"] == "tip":
                        continue
                wait = min_interval - (time.monotonic() - last_sent)
                if wait > 0:
                    await asyncio.sleep(wait)
                while not queue.empty():  # coalesce a burst into one progress event
                    extra = queue.get_nowait()
                    if extra.get("type") in LIFECYCLE_EVENTS:
                        await resp.write(sse(extra["type"], extra.get(extra["type"], {})))
                await progress(woken)
            await resp.write(SHUTDOWN_EVENT)
    return resp


# ------------------------------------------------------------------ provider webhooks


def _callback_target(request: web.Request) -> tuple[int, int]:
    d, a = parse_id(request.query.get("d", "")), parse_id(request.query.get("a", ""), INT_MAX)
    if d is None or a is None:
        raise Problem(400, "status callback without delivery (d) and attempt (a)", slug="bad-webhook")
    return d, a


@api.post(
    "/twilio/sms/status",
    summary="SMS status callback (forward-only)",
    tags=["webhooks"],
    responses={400: "No delivery reference", 403: "Bad signature"},
)
async def sms_status(request: web.Request):
    form = await signed_form(request)
    delivery_id, attempt = _callback_target(request)
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    new_state = states.SMS_STATUS.get(status)
    if new_state is None or new_state == "sending":
        metrics.WEBHOOKS.labels("sms_status", "ignored").inc()
        return web.Response(status=204)
    code = form.get("ErrorCode")
    async with request.app[POOL].acquire() as conn:
        moved = await callbacks.apply_callback(
            conn,
            delivery_id,
            attempt,
            new_state,
            form.get("MessageSid"),
            parse_id(code, INT_MAX) if code else None,
            "sms",
        )
    metrics.WEBHOOKS.labels("sms_status", "applied" if moved else "ignored").inc()
    return web.Response(status=204)


@api.post(
    "/twilio/voice/status",
    summary="Call status callback (forward-only)",
    tags=["webhooks"],
    responses={400: "No delivery reference", 403: "Bad signature"},
)
async def voice_status(request: web.Request):
    form = await signed_form(request)
    delivery_id, attempt = _callback_target(request)
    new_state = states.CALL_STATUS.get(form.get("CallStatus", ""))
    if new_state is None or new_state == "sending":
        metrics.WEBHOOKS.labels("voice_status", "ignored").inc()
        return web.Response(status=204)
    async with request.app[POOL].acquire() as conn:
        moved = await callbacks.apply_callback(
            conn, delivery_id, attempt, new_state, form.get("CallSid"), None, "voice"
        )
    metrics.WEBHOOKS.labels("voice_status", "applied" if moved else "ignored").inc()
    return web.Response(status=204)


async def _delivery(request: web.Request):
    delivery_id = parse_id(request.match_info["delivery_id"])
    if delivery_id is None:
        raise Problem(404, "unknown delivery", slug="not-found")
    async with request.app[POOL].acquire() as conn:
        d = await store.delivery(conn, delivery_id)
    if d is None:
        raise Problem(404, "unknown delivery", slug="not-found")
    return d


@api.post(
    "/twilio/voice/alert/{delivery_id}",
    summary="TwiML for an alert call",
    tags=["webhooks"],
    content_type=TWIML,
    responses={403: "Bad signature", 404: "Unknown delivery"},
)
async def voice_alert(request: web.Request):
    form = await signed_form(request)
    d = await _delivery(request)
    metrics.WEBHOOKS.labels("voice_alert", "ok").inc()
    return web.Response(
        text=callbacks.alert_twiml(d, request.app[SETTINGS].public_base, form.get("AnsweredBy")),
        content_type=TWIML,
    )


@api.post(
    "/twilio/voice/menu/{delivery_id}",
    summary="TwiML after a key press in an alert call",
    tags=["webhooks"],
    content_type=TWIML,
    responses={403: "Bad signature", 404: "Unknown delivery"},
)
async def voice_menu(request: web.Request):
    form = await signed_form(request)
    d = await _delivery(request)
    return web.Response(
        text=callbacks.menu_twiml(d, request.app[SETTINGS].public_base, form.get("Digits", "")),
        content_type=TWIML,
    )


def _sender(request: web.Request) -> str:
    """The CAP sender of every message of this service."""
    return f"burgerwacht@{request.app[SETTINGS].public_base.split('://', 1)[-1].split('/')[0].split(':')[0]}"


def _first_sent(out: AlertOut):
    """The Alert message's sent is fixed at the first export of any of the alert's
    messages (the draft's created_at before sending, sent_at after) and reused by every
    later export, so an Update's references match the Alert a receiver kept."""
    return (out.sent_at or out.created_at).replace(microsecond=0)


@api.get(
    "/api/v1/alerts/{alert_id}/cap",
    summary="The alert as OASIS CAP 1.2 (Alert; Update with the closing message; Cancel); the public page as "
    "<web> and the photo as a <resource> (not in a Cancel)",
    tags=["alerts"],
    roles=OPERATORS,
    query=CapQuery,
    content_type="application/cap+xml",
    responses={404: "Unknown or outside your scope", 409: "No such message for this alert yet"},
)
async def alert_cap(request: web.Request, query: CapQuery):
    from burgerwacht.cap import CapError, export_cap

    user = current_user(request)
    async with request.app[POOL].acquire() as conn:
        out = await service.view(conn, user, _alert_id(request), settings=request.app[SETTINGS])
        cap_sent = await store.fix_cap_sent(conn, out.id, _first_sent(out))
    msg_type = query.msg_type or {"closed": "Update", "cancelled": "Cancel"}.get(out.status, "Alert")
    if msg_type == "Update" and out.status != "closed":
        raise Problem(409, "an Update carries the closing message: close the alert first", slug="not-closed")
    if msg_type == "Cancel" and out.status != "cancelled":
        raise Problem(409, "a Cancel exists only for a cancelled alert", slug="not-cancelled")
    try:
        xml = export_cap(
            {**out.model_dump(mode="python"), "cap_sent": cap_sent},
            msg_type=msg_type,
            sender=_sender(request),
        )
    except CapError as exc:
        raise Problem(409, str(exc), slug="not-exportable") from None
    return web.Response(body=xml, content_type="application/cap+xml", charset="utf-8")


# ------------------------------------------------------------------ follow-ups and waves


@api.post(
    "/api/v1/alerts/{alert_id}/updates",
    summary="Send a follow-up (vervolgbericht) to everyone the alert reached",
    tags=["alerts"],
    roles=OPERATORS,
    body=UpdateIn,
    response=UpdateCreated,
    status=202,
    responses={404: "Unknown or outside your scope", 409: "The alert is a draft or has ended"},
)
async def post_update(request: web.Request, body: UpdateIn):
    user, alert_id, pool = current_user(request), _alert_id(request), request.app[POOL]
    update = await service.add_update(pool, request.app[SETTINGS], user, alert_id, body)
    async with pool.acquire() as conn:
        alert = await service.view(conn, user, alert_id, settings=request.app[SETTINGS])
    return UpdateCreated(update=update, alert=alert)


@api.post(
    "/api/v1/alerts/{alert_id}/updates/preview",
    summary="Who a follow-up would reach, its encoding and segments, and the start text with it folded in",
    tags=["alerts"],
    roles=OPERATORS,
    body=UpdateIn,
    response=UpdatePreview,
    responses={404: "Unknown or outside your scope", 409: "The alert is a draft or has ended"},
)
async def preview_update(request: web.Request, body: UpdateIn):
    return await service.preview_update(
        request.app[POOL], current_user(request), _alert_id(request), body, request.app[SETTINGS]
    )


@api.get(
    "/api/v1/alerts/{alert_id}/updates/{number}/cap",
    summary="A follow-up as OASIS CAP 1.2 (msgType Update, referring to the alert's CAP Alert message)",
    tags=["alerts"],
    roles=OPERATORS,
    content_type="application/cap+xml",
    responses={404: "Unknown alert or follow-up, or outside your scope"},
)
async def update_cap(request: web.Request):
    from burgerwacht.cap import CapError, export_cap

    user, alert_id = current_user(request), _alert_id(request)
    raw = request.match_info["number"]
    number = parse_id(raw)
    async with request.app[POOL].acquire() as conn:
        out = await service.view(conn, user, alert_id, settings=request.app[SETTINGS])
        update = next((u for u in out.updates if u.number == number), None)
        if update is None:
            raise Problem(404, f"alert {alert_id} has no follow-up {raw[:20]}", slug="not-found")
        cap_sent = await store.fix_cap_sent(conn, out.id, _first_sent(out))
    earlier = [(u.number, u.created_at) for u in out.updates if u.number < update.number]
    try:
        xml = export_cap(
            {**out.model_dump(mode="python"), "cap_sent": cap_sent},
            msg_type="Update",
            sender=_sender(request),
            update={"number": update.number, "message": update.message, "created_at": update.created_at},
            earlier_updates=earlier,
        )
    except CapError as exc:
        raise Problem(409, str(exc), slug="not-exportable") from None
    return web.Response(body=xml, content_type="application/cap+xml", charset="utf-8")


@api.post(
    "/api/v1/alerts/{alert_id}/widen",
    summary="Widen the alert: residents inside the new target who have not had it get its current state",
    tags=["alerts"],
    roles=OPERATORS,
    body=WidenIn,
    response=WaveCreated,
    status=202,
    responses={
        200: "The target adds nobody (no wave)",
        403: "The target lies outside your scope",
        404: "Unknown or outside your scope",
        409: "The alert is a draft or has ended, or its deliveries are still being written (materialising)",
        422: "Invalid target",
    },
)
async def post_widen(request: web.Request, body: WidenIn):
    user, alert_id, pool = current_user(request), _alert_id(request), request.app[POOL]
    wave, added = await service.widen(pool, request.app[SETTINGS], user, alert_id, body)
    async with pool.acquire() as conn:
        alert = await service.view(conn, user, alert_id, settings=request.app[SETTINGS])
    if wave is None or added == 0:
        detail = (
            "the target adds nobody: everyone inside it already has the alert, or no one there can be reached"
        )
        return json_response(WaveCreated(wave=wave, added=0, detail=detail, alert=alert), 200)
    detail = f"wave {wave.number} adds {added} resident{'s' if added != 1 else ''}"
    return json_response(WaveCreated(wave=wave, added=added, detail=detail, alert=alert), 202)


@api.post(
    "/api/v1/alerts/{alert_id}/widen/preview",
    summary="Who a wave would add, by channel, with quiet hours and the budget",
    tags=["alerts"],
    roles=OPERATORS,
    body=WidenIn,
    response=Preview,
    responses={
        403: "Outside your scope",
        404: "Unknown or outside your scope",
        409: "Not live, or still materialising",
    },
)
async def preview_widen(request: web.Request, body: WidenIn):
    return await service.preview_widen(
        request.app[POOL], request.app[SETTINGS], current_user(request), _alert_id(request), body
    )


@api.post(
    "/api/v1/alerts/{alert_id}/widen/stop",
    summary="Stop auto-widening (the waves sent so far stay)",
    tags=["alerts"],
    roles=OPERATORS,
    response=AlertOut,
    responses={404: "Unknown or outside your scope", 409: "No auto-widening, or it already ended"},
)
async def stop_widen(request: web.Request):
    user, alert_id, pool = current_user(request), _alert_id(request), request.app[POOL]
    await service.stop_widening(pool, user, alert_id)
    async with pool.acquire() as conn:
        return await service.view(conn, user, alert_id, area=True, settings=request.app[SETTINGS])
