"""Creating, previewing, sending, closing and cancelling alerts.

Sending is one transaction: the alert becomes 'sending' and the recipient query writes
one delivery per (alert, resident, channel) with INSERT … SELECT; workers are woken
with NOTIFY (a hint — they poll anyway).

A large alert (its target holds more than ``alerts.materialise_at_once`` enrolments: a
national AMBER Alert reaches two million) would hold its first message back for as long
as writing every delivery takes (~10 s a million). Its deliveries are written in chunks
of ``alerts.materialise_chunk`` resident ids: the first in the send transaction, so
the workers start on it at once; the send also records the others (one
``materialise_chunks`` row each), which the dispatch workers write in parallel
(:func:`materialise_next`; ``alerts.materialise_parallel`` writers per worker process),
each taking a chunk FOR UPDATE SKIP LOCKED and deleting it in the transaction that
writes it. A writer that dies mid-chunk leaves its row; any writer writes that chunk
again (ON CONFLICT on the unique key keeps it once). A
chunk reads the recipient query for its residents only, so scope, quiet hours, the
fatigue budget and related alerts are decided per resident exactly as at once. While
chunks are left the alert is ``materialising`` (``materialise_cursor`` is not NULL) (its counts are not the whole audience
yet), stays 'sending', and cannot be widened; a follow-up reaches whom the start
message reached so far, and start messages written later carry it (the claim reads the
latest text); closing or cancelling stops the chunks.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
from asyncpg.types import Circle

from burgerwacht.alerts import estimate as timing
from burgerwacht.alerts import language_checks, store
from burgerwacht.alerts.models import (
    AlertIn,
    AlertOut,
    CapSource,
    Counts,
    Preview,
    PreviewWarning,
    QuietHoursCount,
    Recipients,
    SmsInfo,
    UpdateIn,
    UpdateOut,
    UpdatePreview,
    VoiceEstimate,
    WaveOut,
    WidenIn,
    WidenState,
    WidenStep,
)
from burgerwacht.alerts.store import DISPATCH_CHANNEL as DISPATCH_CHANNEL  # the workers LISTEN on it
from burgerwacht.alerts.store import RecipientQuery
from burgerwacht.alerts.targets import CIRCLE, CircleTarget, Resolved, stored
from burgerwacht.audit import store as audit
from burgerwacht.auth.models import StaffUser
from burgerwacht.config import Settings
from burgerwacht.errors import DomainError
from burgerwacht.events import publish
from burgerwacht.geo import GeoError
from burgerwacht.messaging import analyse, gsm7_fold
from burgerwacht.messaging.encoding import segment_count
from burgerwacht.participation import service as participation
from burgerwacht.phone import mask_phones_in
from burgerwacht.public import links
from burgerwacht.public import store as public_store

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I/O/0/1: read aloud and typed back
CLOSING_TTL = timedelta(hours=6)
# A large alert's chunk writers ANALYZE the deliveries' partition once it has doubled
# since its statistics and holds at least this many pages (~10,000 deliveries; see
# store.refresh_statistics).
STATISTICS_LEAST_PAGES = 200


# ------------------------------------------------------------------ texts


EXERCISE_SMS_PREFIX = "OEFENING - "  # every SMS of an exercise starts with it (GSM-7)


def for_mode(text: str, mode: str | None) -> str:
    """An SMS as it goes out in the alert's mode: an exercise's starts with OEFENING."""
    return EXERCISE_SMS_PREFIX + text if mode == "exercise" else text


def sms_text(reference: str, message: str) -> str:
    return f"Burgerwacht {reference}: {message}"


def closing_text(reference: str, message: str) -> str:
    return f"Burgerwacht {reference} afgelopen: {message}"


def update_text(reference: str, message: str) -> str:
    """A follow-up (vervolgbericht) to someone the alert already reached."""
    return f"Burgerwacht {reference} UPDATE: {message}"


FOLD_SEPARATOR = " | Eerder: "
FOLD_ELLIPSIS = "..."  # GSM-7 (the one-character ellipsis would force UCS-2)
FOLD_MIN_START = 20  # fewer characters of the start text than this say nothing: left out


def current_text(reference: str, message: str, update: str | None = None) -> str:
    """The alert's current state as one SMS, for whoever gets the start message after a
    follow-up exists (a start still queued, a new wave):

    ``Burgerwacht REF UPDATE: <latest follow-up> | Eerder: <start text>``, the latest
    news first, in no more segments than the longer of the start message alone and the
    follow-up alone (segments counted by ``messaging/encoding.py``: GSM-7 160, or 153 per
    part; UCS-2 70/67). When it does not fit, the start text is cut at a word boundary
    and ends in "..."; when fewer than 20 characters of it would remain, the follow-up
    goes alone. Without a follow-up it is the start message itself."""
    if not update:
        return sms_text(reference, message)
    head = update_text(reference, update)
    allowed = max(segment_count(sms_text(reference, message)), segment_count(head))
    full = head + FOLD_SEPARATOR + message
    if segment_count(full) <= allowed:
        return full

    def fits(n: int) -> bool:
        return segment_count(head + FOLD_SEPARATOR + message[:n].rstrip() + FOLD_ELLIPSIS) <= allowed

    lo, hi = 0, len(message)  # segments never shrink as the start text grows: bisect
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    cut = message[:lo]
    space = cut.rfind(" ")
    if space >= FOLD_MIN_START:
        cut = cut[:space]
    cut = cut.rstrip()
    if len(cut) < FOLD_MIN_START:
        return head
    return head + FOLD_SEPARATOR + cut + FOLD_ELLIPSIS


def with_link(text: str, link: str, url: str | None, *, shortened: bool = False) -> str:
    """A start SMS with the public page link, by the alert's ``link`` mode: ``always``;
    ``never``; ``auto``: when the text without the link needs more than one segment, or
    when a folded follow-up shortened the start text (the page has it all)."""
    if not url or link == "never":
        return text
    if link == "always" or shortened or segment_count(text) > 1:
        return f"{text} {url}"
    return text


def start_sms(
    reference: str, message: str, update: str | None = None, *, link: str = "never", url: str | None = None
) -> str:
    """The start message as it goes out: :func:`current_text` plus the link (:func:`with_link`)."""
    text = current_text(reference, message, update)
    shortened = update is not None and not text.endswith(FOLD_SEPARATOR + message)
    return with_link(text, link, url, shortened=shortened)


def sms_info(reference: str, message: str, compose: Any = None, mode: str | None = None) -> SmsInfo:
    """How ``message`` goes out (``compose(reference, message)``, the start message by
    default, with the exercise prefix in ``mode`` exercise): encoding, segments and a
    GSM-7 suggestion when look-alikes force UCS-2."""
    base = compose or sms_text

    def compose(reference: str, message: str) -> str:
        return for_mode(base(reference, message), mode)

    text = compose(reference, message)
    a = analyse(text)
    suggestion = None
    if a.encoding == "UCS-2":
        folded = gsm7_fold(message)
        if folded != message and analyse(compose(reference, folded)).encoding == "GSM-7":
            suggestion = folded
    return SmsInfo(
        encoding=a.encoding,
        segments=a.segments,
        characters=a.characters,
        ucs2_characters=list(a.ucs2_characters),
        text=text,
        gsm7_suggestion=suggestion,
    )


# ------------------------------------------------------------------ targets


async def resolve_target(conn: asyncpg.Connection, settings: Settings, body: AlertIn | WidenIn) -> Resolved:
    """The body's target checked and in RD New (each type in ``alerts/targets.py``)."""
    try:
        return await body.target.resolve(settings.alerts, partial(store.areas_by_code, conn))
    except GeoError as exc:
        raise DomainError(422, "invalid-target", f"target: {exc}", field="target") from None


async def _reachable_municipalities(conn: asyncpg.Connection, user: StaffUser, target: Resolved) -> list[str]:
    """Municipalities the target touches that the user may reach; 403 when none."""
    if target.municipalities is not None:  # named CBS areas: every one must be in scope
        outside = sorted(m for m in target.municipalities if not user.can_access(m))
        if outside:
            raise DomainError(
                403, "forbidden-scope", f"target.codes lie outside your scope: {', '.join(outside)}"
            )
        return list(target.municipalities)
    touched = await store.municipalities_in_target(conn, target)
    if user.national:
        return touched
    reachable = [m for m in touched if user.can_access(m)]
    if touched and not reachable:
        raise DomainError(
            403, "forbidden-scope", f"the target lies outside your scope (it covers {', '.join(touched)})"
        )
    return reachable or list(user.municipalities)


def area_of(row: asyncpg.Record) -> dict[str, Any] | None:
    """The alert's area as GeoJSON for a map (None for a target no type reads)."""
    try:
        return stored(row["target"]).area()
    except (ValueError, DomainError):
        return None


async def _new_reference(conn: asyncpg.Connection) -> str:
    for length in (3, 3, 3, 4, 4, 5):
        ref = secrets.choice(REFERENCE_ALPHABET[:24]) + "".join(
            secrets.choice(REFERENCE_ALPHABET) for _ in range(length - 1)
        )
        if not await store.live_reference_exists(conn, ref):
            return ref
    raise DomainError(503, "no-reference", "could not find a free alert reference; try again")


async def create(
    pool: asyncpg.Pool,
    settings: Settings,
    user: StaffUser,
    body: AlertIn,
    *,
    cap_source: dict[str, Any] | None = None,
    template_id: int | None = None,
) -> int:
    """A draft alert; ``cap_source`` (identifier, sender, sent) when imported from CAP;
    ``template_id`` when made from a template (``templates.service.alert_body``)."""
    if body.expires_in_minutes > settings.alerts.max_expires_minutes:
        raise DomainError(
            422,
            "expiry-too-long",
            f"expires_in_minutes: at most {settings.alerts.max_expires_minutes}",
            field="expires_in_minutes",
        )
    if body.widen is not None and body.widen.max_radius_m > settings.alerts.max_radius_m:
        raise DomainError(
            422,
            "radius-too-large",
            f"widen.max_radius_m: at most {settings.alerts.max_radius_m} m",
            field="widen.max_radius_m",
        )
    async with pool.acquire() as conn, conn.transaction():
        target = await resolve_target(conn, settings, body)
        municipalities = await _reachable_municipalities(conn, user, target)
        if body.follows is not None:
            followed = await store.followable(conn, body.follows)
            if followed is None or followed["status"] in ("draft", "awaiting_approval"):
                raise DomainError(
                    422, "invalid-follows", f"follows: no sent alert {body.follows}", field="follows"
                )
        reference = await _new_reference(conn)
        alert_id = await store.insert_alert(
            conn,
            reference=reference,
            level=body.level,
            title=body.title,
            message=body.message,
            voice_message=body.voice_message,
            message_en=body.message_en,
            voice_message_en=body.voice_message_en,
            target=body.target.model_dump(mode="json"),
            **target.columns(),
            municipalities=municipalities,
            channels=list(body.channels),
            expires_in_minutes=body.expires_in_minutes,
            family_consent=body.family_consent,
            created_by=user.id,
            scope=user.scope(),
            cap_source_identifier=(cap_source or {}).get("identifier"),
            cap_source_sender=(cap_source or {}).get("sender"),
            cap_source_sent=(cap_source or {}).get("sent"),
            follows=body.follows,
            widen=body.widen.model_dump() if body.widen else None,
            mode=body.mode,
        )
        # the page token exists from the start, so the preview counts the link
        await public_store.attach(conn, alert_id, links.new_token(), body.link)
        if template_id is not None:
            await store.set_template(conn, alert_id, template_id)
        await audit.append(
            conn,
            user.actor,
            "alert.create",
            "alert",
            alert_id,
            {
                "level": body.level,
                "mode": body.mode,
                "target": body.target.model_dump(mode="json"),
                "channels": list(body.channels),
                "municipalities": municipalities,
                "follows": body.follows,
                "widen": body.widen.model_dump() if body.widen else None,
                "template_id": template_id,
            },
        )
    return alert_id


async def load_for(
    conn: asyncpg.Connection, user: StaffUser, alert_id: int, *, lock: bool = False
) -> asyncpg.Record:
    row = await store.alert(conn, alert_id, lock=lock)
    if row is None or not (user.national or set(row["municipalities"]) & set(user.municipalities)):
        raise DomainError(404, "not-found", f"no alert {alert_id}")
    return row


def recipient_query(
    settings: Settings,
    row: asyncpg.Record,
    expires_at: datetime,
    *,
    target: Resolved | None = None,
    scope: list[str] | str | None = "alert",
    new_only: bool = False,
) -> RecipientQuery:
    """The alert's recipient query; for a wave another ``target``, the acting
    operator's ``scope`` and only residents it has not reached (``new_only``)."""
    return RecipientQuery(
        alert_id=row["id"],
        target=target or Resolved.from_row(row),
        channels=list(row["channels"]),
        scope=row["scope"] if scope == "alert" else scope,  # type: ignore[arg-type]
        level=row["level"],
        expires_at=expires_at,
        regular_per_day=settings.alerts.regular_per_resident_per_day,
        follows=row["follows"] or 0,
        new_only=new_only,
        exercise=row["mode"] == "exercise",
    )


async def preview(pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int) -> Preview:
    async with pool.acquire() as conn:
        row = await load_for(conn, user, alert_id)
        result, sms_now, voice_now = await _preview_of(conn, settings, row)
        result.area = area_of(row)
        estimate = result.estimated_seconds
        await store.save_estimate(
            conn,
            alert_id,
            {
                "estimated_seconds": estimate,
                "sms_now": sms_now,
                "voice_now": voice_now,
                "at": datetime.now(UTC).isoformat(),
            },
        )
    return result


async def _preview_of(
    conn: asyncpg.Connection, settings: Settings, row: asyncpg.Record
) -> tuple[Preview, int, int]:
    """The alert's preview (without its area), and the immediate SMS and calls."""
    expires_at = row["expires_at"] or datetime.now(UTC) + timedelta(minutes=row["expires_in_minutes"])
    query = recipient_query(settings, row, expires_at)
    result, sms_now, voice_now = await _count(conn, settings, query, row)
    result.warnings = [
        PreviewWarning(**w)
        for w in await participation.coverage_warnings(conn, settings, query.target, result.recipients.total)
    ]
    url = links.page_url(settings, row["public_token"])
    result.sms = sms_info(
        row["reference"], row["message"], partial(_linked_start, link=row["link"], url=url), mode=row["mode"]
    )
    await language_checks.add_to_preview(conn, settings, row, query, result)
    if row["widen"] and row["status"] in ("draft", "awaiting_approval", "sending", "active"):
        result.widen = await _widen_steps(conn, settings, row, query, result.recipients.total)
    return result, sms_now, voice_now


async def _count(
    conn: asyncpg.Connection,
    settings: Settings,
    query: RecipientQuery,
    row: asyncpg.Record,
    text: str | None = None,
) -> tuple[Preview, int, int]:
    """The preview figures of a recipient query (an alert's, or a wave's), and the
    immediate SMS and calls."""
    by, total = await store.recipient_counts(conn, query)
    outside = 0
    if query.scope is not None:  # residents in the target that this operator may not reach
        everyone = await store.distinct_residents(conn, query.national())
        outside = max(0, everyone - await store.distinct_residents(conn, query))

    def count(channel: str | None = None, *dispositions: str) -> int:
        return sum(n for (c, d), n in by.items() if (channel is None or c == channel) and d in dispositions)

    sms_now, voice_now = by.get(("sms", "now"), 0), by.get(("voice", "now"), 0)
    voice = voice_estimate(settings, row, voice_now)
    # the channels have separate provider limits and go out side by side
    estimate = round(max(sms_now / settings.twilio.sms_rate, voice.seconds), 2)
    related = by.get((None, "related"), 0)
    result = Preview(
        recipients=Recipients(
            total=total,
            sms=count("sms", "now", "quiet_defer"),
            voice=count("voice", "now", "quiet_defer"),
        ),
        quiet_hours=QuietHoursCount(deferred=count(None, "quiet_defer"), skipped=count(None, "quiet_skip")),
        over_budget=count(None, "budget"),
        outside_scope=outside,
        sms=_text_info(for_mode(text, row["mode"]))
        if text is not None
        else sms_info(row["reference"], row["message"], mode=row["mode"]),
        estimated_seconds=estimate,
        voice_estimate=voice,
        related_reached=related,
    )
    return result, sms_now, voice_now


def voice_estimate(settings: Settings, row: asyncpg.Record, calls: int) -> VoiceEstimate:
    """The immediate calls' time under calls_per_second and max_concurrent_calls
    (alerts/estimate.py); the call says the alert's voice text (else its message)."""
    t = settings.twilio
    call_seconds = timing.expected_call_seconds(row["voice_message"] or row["message"] or "")
    seconds, limit = timing.calls_seconds(calls, t.calls_per_second, t.max_concurrent_calls, call_seconds)
    return VoiceEstimate(
        calls=calls,
        expected_call_seconds=call_seconds,
        calls_per_second=t.calls_per_second,
        max_concurrent_calls=t.max_concurrent_calls,
        seconds=round(seconds, 2),
        limited_by=limit,  # type: ignore[arg-type]
    )


def _linked_start(reference: str, message: str, *, link: str, url: str | None) -> str:
    return with_link(sms_text(reference, message), link, url)


def _text_info(text: str) -> SmsInfo:
    a = analyse(text)
    return SmsInfo(
        encoding=a.encoding,
        segments=a.segments,
        characters=a.characters,
        ucs2_characters=list(a.ucs2_characters),
        text=text,
    )


def _widen_radii(widen: dict[str, Any], start: float) -> list[float]:
    radii, r = [], start
    while r < widen["max_radius_m"] - 1e-9:
        r = min(r + widen["step_m"], widen["max_radius_m"])
        radii.append(r)
    return radii


async def _widen_steps(
    conn: asyncpg.Connection, settings: Settings, row: asyncpg.Record, query: RecipientQuery, reached: int
) -> list[WidenStep]:
    """Auto-widening projected: residents each ring would add (the target circle grown
    step by step, minus what the smaller circle reached) and when each wave would start
    and have its last immediate message out at the configured rates."""
    widen, t = row["widen"], settings.twilio
    value = query.target.value
    start = row["widen_radius_m"] or value.radius
    every = widen["every_minutes"] * 60
    steps: list[WidenStep] = []
    prev_total, prev_sms, prev_voice = reached, None, None
    for k, radius in enumerate(_widen_radii(widen, start), start=1):
        ring = replace(query, target=Resolved(CIRCLE, Circle(value.center, radius)))
        by, total = await store.recipient_counts(conn, ring)
        sms_now, voice_now = by.get(("sms", "now"), 0), by.get(("voice", "now"), 0)
        if prev_sms is None:
            base, _ = await store.recipient_counts(conn, query)
            prev_sms, prev_voice = base.get(("sms", "now"), 0), base.get(("voice", "now"), 0)
        add_sms, add_voice = max(0, sms_now - prev_sms), max(0, voice_now - prev_voice)
        if row["status"] in ("draft", "awaiting_approval") or row["widen_next_at"] is None:  # from the send
            begins = k * every
        else:  # from now
            first = max(0.0, (row["widen_next_at"] - datetime.now(UTC)).total_seconds())
            begins = first + (k - 1) * every
        steps.append(
            WidenStep(
                number=row["wave_number"] + k,
                radius_m=radius,
                added=max(0, total - prev_total),
                sms=add_sms,
                voice=add_voice,
                starts_after_seconds=round(begins, 1),
                done_after_seconds=round(
                    begins + max(add_sms / t.sms_rate, voice_estimate(settings, row, add_voice).seconds), 2
                ),
            )
        )
        prev_total, prev_sms, prev_voice = total, sms_now, voice_now
    return steps


async def send(
    pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int
) -> tuple[str, dict[str, int], bool]:
    """Send a draft; on a level in ``alerts.approval_levels`` it waits for a second
    person instead (status awaiting_approval, the preview frozen). Returns the new
    status, the deliveries per state and whether more are still being written."""
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] == "awaiting_approval":
            raise DomainError(
                409,
                "awaiting-approval",
                f"alert {alert_id} is waiting for approval by a second person: approve or reject it",
            )
        if row["status"] != "draft":
            raise DomainError(
                409, "already-sent", f"alert {alert_id} is {row['status']}; it can be sent once"
            )
        if row["level"] in settings.alerts.approval_levels:
            await _request_approval(conn, settings, user, row)
            return "awaiting_approval", {}, False
        return "sending", *await _dispatch(conn, settings, user, row)


async def _dispatch(
    conn: asyncpg.Connection, settings: Settings, user: StaffUser, row: asyncpg.Record
) -> tuple[dict[str, int], bool]:
    """The send itself (the alert's row locked): 'sending' and one delivery per
    resident and channel — for a large alert only the first chunk (see the module
    docstring). Returns the deliveries per state and whether more are to be written."""
    alert_id = row["id"]
    cfg = settings.alerts
    times = await store.mark_sending(conn, alert_id, None, user.id)
    await public_store.ensure_token(conn, alert_id, links.new_token())  # alerts made before pages
    query = recipient_query(settings, row, times["expires_at"])
    materialising = not query.exercise and await store.target_exceeds(conn, query, cfg.materialise_at_once)
    if materialising:
        lo, end = await store.start_chunks(conn, alert_id)
        hi = lo + cfg.materialise_first
        n, _reached = await store.materialise(conn, replace(query, chunk=(lo, hi)))
        materialising = not await store.plan_chunks(conn, alert_id, hi, end, cfg.materialise_chunk)
    else:
        n, _reached = await store.materialise(conn, query)
    counts = per_state(await store.counts(conn, [alert_id]), alert_id, "alert") or {}
    await audit.append(
        conn,
        user.actor,
        "alert.send",
        "alert",
        alert_id,
        {"target": row["target"], "deliveries": n, "counts": counts, "materialising": materialising},
    )
    await store.notify_dispatch(conn, alert_id)
    await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
    return counts, materialising


async def materialise_next(pool: asyncpg.Pool, settings: Settings) -> int | None:
    """One more chunk of a large alert's deliveries, in its own transaction: the chunk's
    row (``materialise_chunks``) is taken FOR UPDATE SKIP LOCKED, so concurrent writers
    (``alerts.materialise_parallel`` per worker, and every worker process) each write a
    different chunk, and deleted in the transaction that writes it (a writer killed
    mid-way leaves it to be taken again). The alert's row is held FOR SHARE meanwhile: a
    follow-up, close or cancel waits for the chunks in flight. The writer that finds no
    chunk left marks the alert materialised (once). Returns the alert's id, or None when
    nothing was done (no alert left to write, or its chunks are all being written)."""
    async with pool.acquire() as conn:
        for alert_id in await store.materialising_alerts(conn):
            wrote = False
            async with conn.transaction():
                claimed = await store.claim_chunk(conn, alert_id)
                if claimed is not None:
                    row, lo, hi = claimed
                    query = recipient_query(settings, row, row["expires_at"])
                    n, _reached = await store.materialise(conn, replace(query, chunk=(lo, hi)))
                    await store.chunk_written(conn, alert_id, lo)
                    if n:
                        await store.notify_dispatch(conn, alert_id)
                    wrote = True
            if wrote:  # outside the transaction: the planner sees what is being written
                await store.refresh_statistics(conn, alert_id, STATISTICS_LEAST_PAGES)
            # the last chunk written (by this writer or one that died after committing
            # it), or the alert ended: no lock held here, so no writer is waited on
            async with conn.transaction():
                finished = await store.finish_chunks(conn, alert_id)
                if finished:
                    counts = per_state(await store.counts(conn, [alert_id]), alert_id, "alert") or {}
                    await audit.append(
                        conn,
                        "system:materialise",
                        "alert.materialised",
                        "alert",
                        alert_id,
                        {"counts": counts},
                    )
                if wrote or finished is not None:
                    await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
            if wrote or finished is not None:
                return alert_id
    return None


# ------------------------------------------------------------------ two-person approval


async def _approval_event(conn: asyncpg.Connection, alert_id: int, **event: Any) -> None:
    """An approval step on the alert's event stream (``approval``), then its progress."""
    await publish(
        conn,
        [f"alert:{alert_id}"],
        {
            "type": "approval",
            "alert_id": alert_id,
            "approval": {**event, "at": datetime.now(UTC).isoformat()},
        },
    )


async def _request_approval(
    conn: asyncpg.Connection, settings: Settings, user: StaffUser, row: asyncpg.Record
) -> None:
    alert_id = row["id"]
    frozen, _, _ = await _preview_of(conn, settings, row)
    approval = {
        "requested_by": user.id,
        "requested_by_name": user.name,
        "requested_at": datetime.now(UTC).isoformat(),
        "preview": frozen.model_dump(mode="json", exclude={"area"}),
    }
    await store.request_approval(conn, alert_id, approval)
    recipients = frozen.recipients.model_dump()
    await audit.append(
        conn,
        user.actor,
        "alert.approval_request",
        "alert",
        alert_id,
        {"level": row["level"], "mode": row["mode"], "recipients": recipients},
    )
    await _approval_event(
        conn, alert_id, status="awaiting_approval", requested_by=user.id, recipients=recipients
    )


async def approve(
    pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int
) -> tuple[dict[str, int], bool]:
    """A second person (not the author, not who asked to send) sends the alert: the
    deliveries per state, and whether more are still being written."""
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] != "awaiting_approval":
            raise DomainError(
                409, "not-awaiting-approval", f"alert {alert_id} is {row['status']}, not awaiting approval"
            )
        requested_by = (row["approval"] or {}).get("requested_by")
        if user.id in (row["created_by"], requested_by):
            raise DomainError(
                403,
                "own-alert",
                "a second person must approve: you wrote this alert or asked to send it",
            )
        await store.approved(conn, alert_id, user.id)
        await audit.append(
            conn,
            user.actor,
            "alert.approve",
            "alert",
            alert_id,
            {"requested_by": requested_by, "created_by": row["created_by"]},
        )
        await _approval_event(conn, alert_id, status="approved", approved_by=user.id)
        return await _dispatch(conn, settings, user, row)


async def reject(pool: asyncpg.Pool, user: StaffUser, alert_id: int, reason: str) -> None:
    """The send request refused: back to draft, the reason recorded (phone numbers in it
    masked). The author may withdraw their own request this way too."""
    reason = mask_phones_in(reason)
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] != "awaiting_approval":
            raise DomainError(
                409, "not-awaiting-approval", f"alert {alert_id} is {row['status']}, not awaiting approval"
            )
        await store.reject(conn, alert_id, user.id, reason)
        await audit.append(conn, user.actor, "alert.reject", "alert", alert_id, {"reason": reason})
        await _approval_event(conn, alert_id, status="rejected", rejected_by=user.id, reason=reason)


async def close(
    pool: asyncpg.Pool,
    user: StaffUser,
    alert_id: int,
    message: str,
    *,
    outcome: str = "other",
    outcome_note: str | None = None,
) -> dict[str, int]:
    """End the alert with the closing message and its outcome (the note's phone numbers masked)."""
    note = mask_phones_in(outcome_note) if outcome_note else None
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] in ("draft", "awaiting_approval"):
            raise DomainError(
                409, "not-sent", f"alert {alert_id} was never sent ({row['status']}); cancel it instead"
            )
        if row["status"] in ("closed", "cancelled"):
            raise DomainError(409, "already-ended", f"alert {alert_id} is already {row['status']}")
        cancelled = await store.cancel_unsent(conn, alert_id)
        await store.set_status(conn, alert_id, "closed", message)
        await store.set_outcome(conn, alert_id, outcome, note)
        n = await store.materialise_closing(conn, alert_id, datetime.now(UTC) + CLOSING_TTL)
        await audit.append(
            conn,
            user.actor,
            "alert.close",
            "alert",
            alert_id,
            {"closing_deliveries": n, "cancelled": cancelled, "outcome": outcome, "note": note is not None},
        )
        await store.notify_dispatch(conn, alert_id)
        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
    return {"closing_deliveries": n, "cancelled": cancelled}


async def cancel(pool: asyncpg.Pool, user: StaffUser, alert_id: int) -> int:
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if row["status"] in ("closed", "cancelled", "expired"):
            raise DomainError(409, "already-ended", f"alert {alert_id} is already {row['status']}")
        cancelled = await store.cancel_unsent(conn, alert_id)
        await store.set_status(conn, alert_id, "cancelled")
        await audit.append(conn, user.actor, "alert.cancel", "alert", alert_id, {"cancelled": cancelled})
        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
    return cancelled


CountsByKey = dict[tuple[int, str, str], dict[str, int]]  # (alert, kind, channel) → state → n


def per_state(counts: CountsByKey, alert_id: int, kind: str) -> dict[str, int] | None:
    """Deliveries of one alert and kind per state, summed over channels; None if none."""
    out: dict[str, int] = {}
    found = False
    for (a, k, _channel), states in counts.items():
        if a == alert_id and k == kind:
            found = True
            for state, n in states.items():
                out[state] = out.get(state, 0) + n
    return out if found else None


def by_alert(counts: CountsByKey) -> dict[int, CountsByKey]:
    """The counts of many alerts split per alert, so each alert's view reads its own
    few entries (a list of 200 alerts read all entries three times per alert)."""
    out: dict[int, CountsByKey] = {}
    for key, states in counts.items():
        out.setdefault(key[0], {})[key] = states
    return out


def _cap_source(row: asyncpg.Record) -> CapSource | None:
    source = {k: row[f"cap_source_{k}"] for k in ("identifier", "sender", "sent")}
    return CapSource(**source) if any(v is not None for v in source.values()) else None


def _widen_state(row: asyncpg.Record) -> WidenState | None:
    if not row["widen"]:
        return None
    return WidenState(
        **row["widen"],
        radius_m=row["widen_radius_m"]
        if row["widen_radius_m"] is not None
        else row["target"].get("radius_m"),
        next_at=row["widen_next_at"],
        ended=row["widen_ended"],
    )


def to_out(row: asyncpg.Record, counts: CountsByKey, settings: Settings) -> AlertOut:
    """The alert's JSON (its public_url from ``settings``)."""
    closing = per_state(counts, row["id"], "closing")
    return AlertOut(
        id=row["id"],
        status=row["status"],
        mode=row["mode"],
        level=row["level"],
        title=row["title"],
        message=row["message"],
        voice_message=row["voice_message"],
        message_en=row["message_en"],
        voice_message_en=row["voice_message_en"],
        target=row["target"],
        channels=list(row["channels"]),
        reference=row["reference"],
        municipalities=list(row["municipalities"]),
        expires_in_minutes=row["expires_in_minutes"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        closed_at=row["closed_at"],
        expires_at=row["expires_at"],
        closing_message=row["closing_message"],
        outcome=row.get("outcome"),
        outcome_note=row.get("outcome_note"),
        cap_source=_cap_source(row),
        counts=Counts(**(per_state(counts, row["id"], "alert") or {})),
        counts_by_channel={
            channel: Counts(**states)
            for (a, kind, channel), states in sorted(counts.items())
            if a == row["id"] and kind == "alert"
        },
        closing_counts=Counts(**closing) if closing else None,
        follows=row["follows"],
        widen=_widen_state(row),
        link=row["link"],
        public_url=links.public_url(settings, row["public_token"], row["status"], row["sent_at"]),
        photo_url=links.photo_url(settings, row["public_token"]) if row["photo"] else None,
        photo=row["photo"],
        template_id=row["template_id"],
        approval=row["approval"],
        rejection=row["rejection"],
        materialising=row.get("materialise_cursor") is not None,
        materialised_at=row.get("materialised_at"),
    )


async def view(
    conn: asyncpg.Connection,
    user: StaffUser,
    alert_id: int,
    settings: Settings,
    *,
    area: bool = False,
) -> AlertOut:
    """One alert; with ``area`` its area as GeoJSON too (for a map)."""
    row = await load_for(conn, user, alert_id)
    out = to_out(row, await store.counts(conn, [alert_id]), settings)
    if area:
        out.area = area_of(row)
    if row["update_number"]:
        per_update = await store.update_counts(conn, alert_id)
        out.updates = [
            _update_out(u, per_update.get(u["number"], {})) for u in await store.updates_of(conn, alert_id)
        ]
    if row["wave_number"]:
        per_wave = await store.wave_counts(conn, alert_id)
        out.waves = [
            _wave_out(w, per_wave.get(w["number"], {}), area=area)
            for w in await store.waves_of(conn, alert_id)
        ]
    return out


# What an alert's event stream sends as ``progress``.
PROGRESS_FIELDS = {"id", "status", "materialising", "counts", "counts_by_channel", "closing_counts"}
# A progress reading is shared by every event stream of the process watching the alert,
# and taken again no sooner than PROGRESS_MIN_INTERVAL seconds, nor sooner than
# PROGRESS_COST_FACTOR times what the last one took: counting a national alert's two
# million deliveries takes ~0.2 s, so each watching operator re-reading it four times a
# second was most of a core; now it is at most a tenth of one per alert, however many
# watch (a few readings a second for an ordinary alert, one every ~2 s for a national one).
PROGRESS_MIN_INTERVAL = 0.25
PROGRESS_COST_FACTOR = 10.0
PROGRESS_FORGET_AFTER = 300.0  # seconds unread: the reading is dropped


@dataclass
class _Reading:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    doc: dict[str, Any] | None = None
    at: float = -math.inf  # monotonic: when taken
    cost: float = 0.0  # seconds it took
    read_at: float = -math.inf  # monotonic: when last asked for


class ProgressBoard:
    """The progress readings of this process's alert event streams (one per alert)."""

    def __init__(self) -> None:
        self._readings: dict[int, _Reading] = {}

    async def read(
        self, pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int, *, newer_than: float
    ) -> dict[str, Any]:
        """The alert's progress (PROGRESS_FIELDS of its view) as read after ``newer_than``
        (time.monotonic()): the shared reading if it is that recent, else a new one as
        soon as one is due (the streams asking meanwhile wait for it). The caller's stream
        was opened for this user (``load_for`` at subscription): the fields are the
        alert's, the same for whoever watches."""
        now = time.monotonic()
        for gone in [k for k, r in self._readings.items() if now - r.read_at > PROGRESS_FORGET_AFTER]:
            del self._readings[gone]
        reading = self._readings.setdefault(alert_id, _Reading())
        reading.read_at = now
        async with reading.lock:
            if reading.doc is not None and reading.at >= newer_than:
                return reading.doc
            due = reading.at + max(PROGRESS_MIN_INTERVAL, PROGRESS_COST_FACTOR * reading.cost)
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            started = time.monotonic()
            async with pool.acquire() as conn:
                row = await load_for(conn, user, alert_id)
                out = to_out(row, await store.counts(conn, [alert_id]), settings)
            reading.doc = out.model_dump(mode="json", include=PROGRESS_FIELDS)
            reading.at, reading.cost = started, time.monotonic() - started
            return reading.doc


def _update_out(u: asyncpg.Record, counts: dict[str, int] | None = None) -> UpdateOut:
    return UpdateOut(
        id=u["id"],
        number=u["number"],
        message=u["message"],
        voice_message=u["voice_message"],
        created_at=u["created_at"],
        counts=Counts(**(counts or {})),
    )


def _wave_out(w: asyncpg.Record, counts: dict[str, int] | None = None, *, area: bool = False) -> WaveOut:
    out = WaveOut(
        id=w["id"],
        number=w["number"],
        target=w["target"],
        added=w["added"],
        auto=w["auto"],
        created_at=w["created_at"],
        counts=Counts(**(counts or {})),
    )
    if area:
        out.area = area_of(w)
    return out


# ------------------------------------------------------------------ follow-ups


def _live(row: asyncpg.Record, what: str) -> None:
    if row["status"] not in ("sending", "active"):
        raise DomainError(
            409,
            "not-live",
            f"alert {row['id']} is {row['status']}: {what} needs an alert that was sent and has not ended",
        )


def _written(row: asyncpg.Record) -> None:
    """A wave adds residents the alert has not reached: only once its own deliveries
    are all written (a large alert takes seconds; see the module docstring)."""
    if row["materialise_cursor"] is not None:
        raise DomainError(
            409,
            "materialising",
            f"alert {row['id']} is still writing its deliveries (materialising); widen it once that is done",
        )


# Follow-ups and waves are written in two steps: a first batch of this many deliveries
# commits at once (the workers start on it within milliseconds), then the rest, each
# step under the alert's row lock. The first step records the follow-up or wave as not
# complete; a process that dies before the second leaves it so, and the dispatch
# worker's maintenance completes it (``complete_pending``): idempotent, as the unique
# key and the anti-join leave out whatever the first step wrote.
FIRST_BATCH = 1000


async def add_update(
    pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int, body: UpdateIn
) -> UpdateOut:
    """Follow-up N under the alert's row lock. Everyone whose start message may have
    reached them with an older text gets it; start messages still to go out read the new
    text when claimed (the claim reads it, so no stale text leaves after this commits);
    one claimed while this runs is caught up when its outcome is recorded
    (``store.catch_up_updates``)."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            row = await load_for(conn, user, alert_id, lock=True)
            _live(row, "a follow-up")
            number = row["update_number"] + 1
            update = await store.insert_update(
                conn, alert_id, number, body.message, body.voice_message, user.id
            )
            first = await store.materialise_update(conn, alert_id, number, row["expires_at"], FIRST_BATCH)
            await audit.append(conn, user.actor, "alert.update", "alert", alert_id, {"number": number})
            await store.notify_dispatch(conn, alert_id)
            await publish(
                conn,
                [f"alert:{alert_id}"],
                {
                    "type": "update",
                    "alert_id": alert_id,
                    "update": _update_out(update).model_dump(mode="json"),
                },
            )
        rest = await _finish_update(conn, alert_id, number)
    n = first + rest
    return _update_out(update, {"queued": n} if n else {})


async def _finish_update(conn: asyncpg.Connection, alert_id: int, number: int) -> int:
    """The follow-up's second step: the rest of its deliveries; marks it complete."""
    async with conn.transaction():
        row = await store.alert(conn, alert_id, lock=True)
        n = 0
        if row is not None and row["status"] in ("sending", "active"):
            n = await store.materialise_update(conn, alert_id, number, row["expires_at"])
        await store.finish_update(conn, alert_id, number)
        if n:
            await store.notify_dispatch(conn, alert_id)
            await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})
    return n


async def preview_update(
    pool: asyncpg.Pool, user: StaffUser, alert_id: int, body: UpdateIn, settings: Settings
) -> UpdatePreview:
    async with pool.acquire() as conn:
        row = await load_for(conn, user, alert_id)
        _live(row, "a follow-up")
        audience = await store.update_audience(conn, alert_id)
    reached = {c: v["reached"] for c, v in audience.items()}
    return UpdatePreview(
        recipients=Recipients(
            total=audience.get("*", {}).get("reached", 0),
            sms=reached.get("sms", 0),
            voice=reached.get("voice", 0),
        ),
        pending=audience.get("*", {}).get("pending", 0),
        sms=sms_info(row["reference"], body.message, update_text, mode=row["mode"]),
        current=_text_info(
            for_mode(
                start_sms(
                    row["reference"],
                    row["message"],
                    body.message,
                    link=row["link"],
                    url=links.page_url(settings, row["public_token"]),
                ),
                row["mode"],
            )
        ),
    )


# ------------------------------------------------------------------ waves


async def _start_wave(
    conn: asyncpg.Connection,
    settings: Settings,
    row: asyncpg.Record,
    target: Resolved,
    target_json: dict[str, Any],
    municipalities: list[str],
    *,
    scope: list[str] | None,
    created_by: int | None,
    auto: bool,
) -> int | None:
    """A wave's first step (the alert's row locked): its number, and the start message —
    with the latest follow-up folded in when the worker claims it — for a first batch of
    the residents inside ``target`` (within ``scope``) who have none yet. A manual wave
    that writes nothing is not recorded (None)."""
    alert_id, number = row["id"], row["wave_number"] + 1
    query = recipient_query(settings, row, row["expires_at"], target=target, scope=scope, new_only=True)
    written, reached = await store.materialise(conn, query, wave=number, limit=FIRST_BATCH)
    if not written and not auto:
        return None
    await store.insert_wave(
        conn,
        alert_id,
        number,
        target=target_json,
        **target.columns(),
        added=reached,
        auto=auto,
        created_by=created_by,
        scope=scope,
    )
    await store.after_wave(conn, alert_id, number, municipalities, sending=reached > 0)
    await store.notify_dispatch(conn, alert_id)
    return number


async def _finish_wave(
    conn: asyncpg.Connection, settings: Settings, alert_id: int, number: int
) -> tuple[WaveOut | None, int]:
    """A wave's second step: everyone else inside its target; its final count, the
    audit entry and the event. None when it was complete already."""
    async with conn.transaction():
        row = await store.alert(conn, alert_id, lock=True)
        wave_row = await store.wave(conn, alert_id, number)
        if row is None or wave_row is None or wave_row["complete"]:
            return None, 0
        reached = 0
        if row["status"] in ("sending", "active"):
            query = recipient_query(
                settings,
                row,
                row["expires_at"],
                target=Resolved.from_row(wave_row),
                scope=wave_row["scope"],
                new_only=True,
            )
            _written, reached = await store.materialise(conn, query, wave=number)
        # residents: the two steps' counts add up when each resident has one channel
        if len(row["channels"]) == 1:
            added = wave_row["added"] + reached
        else:
            added = await store.wave_added(conn, alert_id, number)
        done = await store.finish_wave(conn, alert_id, number, added)
        if reached:
            await store.after_wave(conn, alert_id, number, [], sending=True)
        actor = AUTO_WIDEN_ACTOR if wave_row["auto"] else f"user:{wave_row['created_by']}"
        await audit.append(
            conn,
            actor,
            "alert.widen",
            "alert",
            alert_id,
            {"wave": number, "target": wave_row["target"], "added": added, "auto": wave_row["auto"]},
        )
        await store.notify_dispatch(conn, alert_id)
        out = _wave_out(done, {}, area=True)
        await publish(
            conn,
            [f"alert:{alert_id}"],
            {"type": "wave", "alert_id": alert_id, "wave": out.model_dump(mode="json")},
        )
    return out, added


async def widen(
    pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int, body: WidenIn
) -> tuple[WaveOut | None, int]:
    async with pool.acquire() as conn:
        async with conn.transaction():
            row = await load_for(conn, user, alert_id, lock=True)
            _live(row, "widening")
            _written(row)
            target = await resolve_target(conn, settings, body)
            municipalities = await _reachable_municipalities(conn, user, target)
            number = await _start_wave(
                conn,
                settings,
                row,
                target,
                body.target.model_dump(mode="json"),
                municipalities,
                scope=user.scope(),
                created_by=user.id,
                auto=False,
            )
        if number is None:
            return None, 0
        return await _finish_wave(conn, settings, alert_id, number)


async def complete_pending(pool: asyncpg.Pool, settings: Settings, older_than_s: float = 10.0) -> int:
    """Follow-ups and waves whose second step never ran (their process died): done now."""
    async with pool.acquire() as conn:
        pending = await store.incomplete(conn, older_than_s)
        for p in pending:
            if p["what"] == "update":
                await _finish_update(conn, p["alert_id"], p["number"])
            else:
                await _finish_wave(conn, settings, p["alert_id"], p["number"])
    return len(pending)


async def preview_widen(
    pool: asyncpg.Pool, settings: Settings, user: StaffUser, alert_id: int, body: WidenIn
) -> Preview:
    """Who a wave would add: residents inside the target without the alert yet, by
    channel, with quiet hours and the budget, as the alert preview counts them."""
    async with pool.acquire() as conn:
        row = await load_for(conn, user, alert_id)
        _live(row, "widening")
        _written(row)
        target = await resolve_target(conn, settings, body)
        await _reachable_municipalities(conn, user, target)
        query = recipient_query(
            settings, row, row["expires_at"], target=target, scope=user.scope(), new_only=True
        )
        update = None
        if row["update_number"]:
            update = next(
                u["message"]
                for u in await store.updates_of(conn, alert_id)
                if u["number"] == row["update_number"]
            )
        result, _, _ = await _count(
            conn,
            settings,
            query,
            row,
            text=start_sms(
                row["reference"],
                row["message"],
                update,
                link=row["link"],
                url=links.page_url(settings, row["public_token"]),
            ),
        )
        result.area = body.target.area()
    return result


async def stop_widening(pool: asyncpg.Pool, user: StaffUser, alert_id: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row = await load_for(conn, user, alert_id, lock=True)
        if not row["widen"]:
            raise DomainError(409, "no-widening", f"alert {alert_id} has no auto-widening")
        if row["widen_ended"]:
            raise DomainError(
                409,
                "widening-ended",
                f"auto-widening of alert {alert_id} already ended ({row['widen_ended']})",
            )
        await store.set_widening(conn, alert_id, None, None, "stopped")
        await audit.append(
            conn, user.actor, "alert.widen_stop", "alert", alert_id, {"radius_m": row["widen_radius_m"]}
        )
        await publish(conn, [f"alert:{alert_id}"], {"type": "progress", "alert_id": alert_id})


AUTO_WIDEN_ACTOR = "system:auto-widen"


async def widen_due(pool: asyncpg.Pool, settings: Settings, limit: int = 10) -> list[int]:
    """Auto-widening: each alert whose next wave is due gets it (one transaction per
    alert, locked with SKIP LOCKED so two workers never add the same wave): the circle
    grows by step_m, up to max_radius_m; the alert's scope holds as at the first send.
    Ends at max_radius_m, when the alert ends, or when the next wave would come after
    expiry."""
    done: list[int] = []
    for _ in range(limit):
        async with pool.acquire() as conn:
            number = None
            async with conn.transaction():
                due = await store.due_widening(conn, 1)
                if not due:
                    break
                row = await store.alert(conn, due[0])
                assert row is not None
                if row["status"] not in ("sending", "active"):
                    await store.set_widening(
                        conn,
                        row["id"],
                        None,
                        None,
                        "expired" if row["status"] == "expired" else "alert_ended",
                    )
                    continue
                widen_cfg, target_json = row["widen"], row["target"]
                radius = min(
                    (row["widen_radius_m"] or target_json["radius_m"]) + widen_cfg["step_m"],
                    widen_cfg["max_radius_m"],
                )
                ring = CircleTarget.model_validate({**target_json, "radius_m": radius})
                target = await ring.resolve(settings.alerts, partial(store.areas_by_code, conn))
                touched = await store.municipalities_in_target(conn, target)
                scope = row["scope"]
                municipalities = [m for m in touched if scope is None or m in scope]
                number = await _start_wave(
                    conn,
                    settings,
                    row,
                    target,
                    ring.model_dump(mode="json"),
                    municipalities,
                    scope=scope,
                    created_by=None,
                    auto=True,
                )
                ended = "max_radius" if radius >= widen_cfg["max_radius_m"] - 1e-9 else None
                next_at = None
                if ended is None:
                    next_at = datetime.now(UTC) + timedelta(minutes=widen_cfg["every_minutes"])
                    if next_at >= row["expires_at"]:
                        next_at, ended = None, "expired"
                await store.set_widening(conn, row["id"], radius, next_at, ended)
            if number is not None:
                await _finish_wave(conn, settings, row["id"], number)
        done.append(row["id"])
    return done
