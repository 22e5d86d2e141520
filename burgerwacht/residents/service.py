"""Enrolment, verification, keywords and residents' rights.

Rules that matter here:
- a number proves itself either by a one-time code (API) or by texting us (SMS);
- code requests are limited per number, client network and number prefix (two
  lengths), and by a daily budget that numbers of active residents do not use
  (SMS-pumping fraud), exactly: issuance is serialised by an advisory lock;
- bad input never leaves anything half-written: an enrolment whose code could not be
  sent is removed again.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from burgerwacht import crypto, metrics
from burgerwacht.config import Settings
from burgerwacht.domain import ErasureHook, ExportHook
from burgerwacht.errors import DomainError
from burgerwacht.messaging import InvalidNumber, NotMobile, OptedOut, ProviderError, TwilioProvider
from burgerwacht.phone import Phone, PhoneError, mask, parse_phone
from burgerwacht.residents import keywords, selfservice, store
from burgerwacht.residents.address import (
    AddressError,
    AddressQuery,
    normalise_house_number,
    normalise_postcode,
)
from burgerwacht.residents.models import EnrolmentIn, QuietHours, ResidentAddressOut, ResidentOut
from burgerwacht.texts import LANGUAGES, text

log = logging.getLogger(__name__)

CODE_PURPOSE = "enrolment-code"


def refusal(status: int, slug: str, message_nl: str, message_en: str, **extra: Any) -> DomainError:
    """A request a resident (or their app) made that cannot be done, in Dutch and
    English (the answer is in the language the request asked for); ``retry_after``
    becomes the Retry-After header."""
    retry_after = extra.pop("retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return DomainError(status, slug, message_nl, messages={"en": message_en}, headers=headers, **extra)


def address_label(rec: asyncpg.Record | dict[str, Any]) -> str:
    return AddressQuery(
        rec["postcode"], rec["house_number"], rec["house_letter"] or None, rec["addition"] or None
    ).label


def _code_hash(settings: Settings, enrolment_phone: str, code: str) -> bytes:
    return crypto.keyed_hash(settings.security.secret_key, CODE_PURPOSE, enrolment_phone, code)


# ------------------------------------------------------------------ API enrolment


@dataclass(frozen=True)
class PendingEnrolment:
    id: UUID
    expires_at: datetime
    phone: Phone
    address: str
    channels: list[str]
    code_sent_by: str


def _parse_address(body: EnrolmentIn) -> AddressQuery:
    postcode = normalise_postcode(body.postcode)
    number, letter, addition = normalise_house_number(body.house_number)
    return AddressQuery(
        postcode, number, (body.house_letter or letter or None), (body.addition or addition or None)
    )


def _channels_for(phone: Phone, requested: list[str] | None) -> list[str]:
    if requested is None:
        return ["sms"] if phone.can_sms else ["voice"]
    if "sms" in requested and not phone.can_sms:
        raise refusal(
            422,
            "landline-sms",
            "Dit nummer kan geen sms ontvangen. Kies voor spraakberichten (voice).",
            "This number cannot receive SMS. Choose voice alerts.",
            field="channels",
        )
    if "voice" in requested and not phone.can_call:
        raise refusal(
            422,
            "no-voice",
            "Dit nummer kan niet gebeld worden.",
            "This number cannot be called.",
            field="channels",
        )
    return requested


def _retry_after(oldest: datetime | None, now: datetime, window_s: int) -> int:
    if oldest is None:
        return window_s
    return max(1, int(window_s - (now - oldest).total_seconds()) + 1)


async def _check_limits(
    conn: asyncpg.Connection, settings: Settings, phone: str, ip: str, *, known: bool
) -> int:
    """Refuse (429) when a limit is reached; a known resident's number is not held to
    the daily budget. Returns the codes on the budget in the last hour."""
    e = settings.enrolment
    c = await store.code_request_counts(conn, phone, ip)
    checks = [
        ("phone", c["phone_n"] >= e.codes_per_phone_per_hour, c["phone_oldest"], 3600),
        ("ip", c["ip_n"] >= e.codes_per_ip_per_hour, c["ip_oldest"], 3600),
        ("prefix", c["prefix_n"] >= e.codes_per_prefix_per_hour, c["prefix_oldest"], 3600),
        ("wide_prefix", c["wide_n"] >= e.codes_per_wide_prefix_per_hour, c["wide_oldest"], 3600),
    ]
    if not known:
        checks.append(("day", c["day_n"] >= e.codes_per_day, c["day_oldest"], 86400))
    for limit, hit, oldest, window in checks:
        if hit:
            metrics.ENROLMENT_REFUSALS.labels(limit).inc()
            raise refusal(
                429,
                "too-many-code-requests",
                "Er zijn te veel codes aangevraagd. Probeer het later opnieuw.",
                "Too many codes were requested. Please try again later.",
                retry_after=_retry_after(oldest, c["now"], window),
            )
    return c["budget_hour_n"]


def _watch_budget(settings: Settings, last_hour: int) -> None:
    """One warning (and a metric) when this code took the codes sent on the daily
    budget within an hour past ``enrolment.budget_alert_share`` of it: someone may be
    spending the budget to lock genuine residents out. Counts only, no numbers."""
    e = settings.enrolment
    threshold = e.codes_per_day * e.budget_alert_share
    if last_hour - 1 <= threshold < last_hour:
        metrics.ENROLMENT_BUDGET_ALERTS.inc()
        log.warning(
            "enrolment code budget burning fast: %d of the daily %d codes went out in the last hour",
            last_hour,
            e.codes_per_day,
        )


async def start_enrolment(
    pool: asyncpg.Pool, provider: TwilioProvider, settings: Settings, body: EnrolmentIn, ip: str
) -> PendingEnrolment:
    try:
        phone = parse_phone(body.phone, settings.enrolment.allowed_countries)
    except PhoneError as exc:
        raise refusal(422, "invalid-phone", exc.message_nl, exc.message_en, field="phone") from None
    try:
        query = _parse_address(body)
    except AddressError as exc:
        raise refusal(422, "invalid-address", exc.message_nl, exc.message_en, field=exc.field) from None
    channels = _channels_for(phone, body.channels if not body.sms_only else body.channels or ["sms"])
    code = f"{secrets.randbelow(10**6):06d}"
    budget_hour: int | None = None

    async with pool.acquire() as conn, conn.transaction():
        address = await store.find_address(
            conn, query.postcode, query.house_number, query.house_letter, query.addition
        )
        if address is None:
            raise refusal(
                422,
                "unknown-address",
                text("address_unknown", "nl", address=query.label),
                text("address_unknown", "en", address=query.label),
                field="postcode",
            )
        existing = await store.resident_by_phone(conn, phone.e164)
        if existing is not None:
            ids = await store.address_ids(conn, existing["id"])
            if address["id"] not in ids and len(ids) >= settings.enrolment.max_addresses:
                raise _too_many(settings)
        # a number that proved itself before is not held to (nor counted in) the budget
        known = existing is not None and existing["status"] == "active"
        await store.lock_code_issuance(conn)
        last_hour = await _check_limits(conn, settings, phone.e164, ip, known=known)
        await store.record_code_request(conn, phone.e164, ip, budget=not known)
        budget_hour = None if known else last_hour + 1
        by_voice = not phone.can_sms
        row = await store.create_enrolment(
            conn,
            phone=phone.e164,
            phone_kind=phone.kind,
            address_id=address["id"],
            label=body.label,
            channels=channels,
            quiet_start=body.quiet_hours.start if body.quiet_hours else None,
            quiet_end=body.quiet_hours.end if body.quiet_hours else None,
            language=body.language,
            code_hash=_code_hash(settings, phone.e164, code),
            ttl_minutes=settings.enrolment.code_ttl_minutes,
            slow_speech=body.slow_speech,
            repeat_message=body.repeat_message,
            sms_only=body.sms_only,
        )
        if by_voice:
            await store.set_code_cipher(
                conn, row["id"], crypto.encrypt(settings.security.secret_key, CODE_PURPOSE, code)
            )

    if budget_hour is not None:
        _watch_budget(settings, budget_hour)
    try:
        if by_voice:
            await provider.start_call(phone.e164, url=f"{settings.public_base}/twilio/voice/code/{row['id']}")
        else:
            await provider.send_sms(
                phone.e164,
                text("code", body.language, code=code, minutes=settings.enrolment.code_ttl_minutes),
                validity_period=settings.enrolment.code_ttl_minutes * 60,
            )
    except ProviderError as exc:
        async with pool.acquire() as conn:
            await store.delete_enrolment(conn, row["id"])
        log.warning("enrolment code not sent: %s", type(exc).__name__, extra={"enrolment": str(row["id"])})
        if isinstance(exc, InvalidNumber | NotMobile | OptedOut):
            raise refusal(
                422,
                "undeliverable",
                "Naar dit nummer kan geen code worden gestuurd.",
                "A code cannot be sent to this number.",
                field="phone",
            ) from None
        raise refusal(
            503,
            "provider-unavailable",
            "De code kon nu niet worden verstuurd. Probeer het zo opnieuw.",
            "The code could not be sent right now. Please try again shortly.",
            retry_after=30,
        ) from None
    log.info("enrolment code sent", extra={"enrolment": str(row["id"]), "by": "voice" if by_voice else "sms"})
    return PendingEnrolment(
        row["id"], row["expires_at"], phone, address_label(address), channels, "voice" if by_voice else "sms"
    )


async def limit_code_request(
    conn: asyncpg.Connection, settings: Settings, phone: str, ip: str, *, known: bool
) -> None:
    """The enrolment code limits for another code to ``phone`` (the /mijn login code):
    refuses with 429 when one is reached, else counts this one. Call in a transaction."""
    await store.lock_code_issuance(conn)
    last_hour = await _check_limits(conn, settings, phone, ip, known=known)
    await store.record_code_request(conn, phone, ip, budget=not known)
    if not known:
        _watch_budget(settings, last_hour + 1)


def _too_many(settings: Settings) -> DomainError:
    m = settings.enrolment.max_addresses
    return refusal(
        422,
        "too-many-addresses",
        text("too_many_addresses", "nl", max=m),
        text("too_many_addresses", "en", max=m),
    )


async def verify_enrolment(pool: asyncpg.Pool, settings: Settings, enrolment_id: UUID, code: str) -> int:
    """Check the code; on success activate the resident with the address. Returns the
    resident id. A wrong code is counted even though the request fails."""
    code = code.strip()
    failed_attempts: int | None = None
    async with pool.acquire() as conn:
        async with conn.transaction():
            e = await store.enrolment_for_update(conn, enrolment_id)
            if e is None:
                raise refusal(
                    404,
                    "unknown-enrolment",
                    "Deze aanmelding bestaat niet.",
                    "This enrolment does not exist.",
                )
            good = hmac.compare_digest(bytes(e["code_hash"]), _code_hash(settings, e["phone"], code))
            if e["verified_at"] is not None:
                if good and e["resident_id"] is not None:
                    return e["resident_id"]  # a repeated verify is idempotent
                raise refusal(
                    410, "enrolment-used", "Deze code is al gebruikt.", "This code was already used."
                )
            if e["expired"]:
                raise refusal(
                    410,
                    "code-expired",
                    "De code is verlopen. Vraag een nieuwe code aan.",
                    "The code has expired. Please request a new one.",
                )
            if e["attempts"] >= settings.enrolment.code_max_attempts:
                raise refusal(
                    410,
                    "too-many-attempts",
                    "Te vaak een verkeerde code ingevuld. Vraag een nieuwe code aan.",
                    "Too many wrong codes. Please request a new one.",
                )
            if not good:
                failed_attempts = await store.count_failed_attempt(conn, enrolment_id)
            else:
                resident_id = await store.upsert_active_resident(
                    conn, e["phone"], e["phone_kind"], e["language"]
                )
                ids = await store.address_ids(conn, resident_id)
                if e["address_id"] not in ids and len(ids) >= settings.enrolment.max_addresses:
                    raise _too_many(settings)
                await store.upsert_resident_address(
                    conn,
                    resident_id,
                    e["address_id"],
                    e["label"],
                    list(e["channels"]),
                    e["quiet_start"],
                    e["quiet_end"],
                )
                await store.set_accessibility(
                    conn, resident_id, e["slow_speech"], e["repeat_message"], e["sms_only"], add=True
                )
                await store.mark_verified(conn, enrolment_id, resident_id)
                await store.set_code_cipher(conn, enrolment_id, None)
                await store.bump_counter(conn, "enrolments_verified")
                return resident_id
    left = max(0, settings.enrolment.code_max_attempts - (failed_attempts or 0))
    raise refusal(
        422,
        "wrong-code",
        f"De code klopt niet. Nog {left} poging(en).",
        f"The code is not correct. {left} attempt(s) left.",
        attempts_left=left,
        field="code",
    )


async def voice_code(pool: asyncpg.Pool, settings: Settings, enrolment_id: UUID) -> tuple[str, str] | None:
    """The code to read out on the verification call (and the language), if pending."""
    async with pool.acquire() as conn:
        row = await store.pending_code(conn, enrolment_id)
    if row is None or row["code_cipher"] is None:
        return None
    code = crypto.decrypt(settings.security.secret_key, CODE_PURPOSE, row["code_cipher"])
    return (code, row["language"]) if code else None


# ------------------------------------------------------------------ reading residents


async def resident_view(conn: asyncpg.Connection, resident_id: int) -> ResidentOut | None:
    r = await store.resident_by_id(conn, resident_id)
    if r is None:
        return None
    addresses = [
        ResidentAddressOut(
            label=a["label"],
            address=address_label(a),
            buurt_code=a["buurt_code"],
            channels=list(a["channels"]),
            quiet_hours=QuietHours(start=a["quiet_start"], end=a["quiet_end"]) if a["quiet_start"] else None,
        )
        for a in await store.resident_addresses(conn, resident_id)
    ]
    return ResidentOut(
        id=r["id"],
        status=r["status"],
        phone=mask(r["phone"]),
        language=r["language"],
        addresses=addresses,
        exercise=r["exercise"],
    )


# ------------------------------------------------------------------ erasure


def _erasure_hooks() -> list[ErasureHook]:
    """What each domain must remove or unlink when a resident is erased (its
    ``DOMAIN.erasure_hooks``); they run in the erasure transaction, before the resident
    row is deleted."""
    from burgerwacht.domains import DOMAINS  # the domains import this module

    return [hook for domain in DOMAINS for hook in domain.erasure_hooks]


def _export_hooks() -> dict[str, ExportHook]:
    from burgerwacht.domains import DOMAINS

    return {name: hook for domain in DOMAINS for name, hook in domain.export_hooks.items()}


async def erase(conn: asyncpg.Connection, resident_id: int, phone: str, settings: Settings) -> None:
    async with conn.transaction():
        for hook in _erasure_hooks():
            await hook(conn, resident_id, phone, settings)
        await store.erase(conn, resident_id, phone)


async def erase_by_phone(conn: asyncpg.Connection, phone: str, settings: Settings) -> bool:
    async with conn.transaction():
        r = await store.resident_by_phone(conn, phone, lock=True)
        if r is None:
            # nothing enrolled, but pending codes and request logs may still hold the number
            await store.erase_unenrolled(conn, phone)
            for hook in _erasure_hooks():
                await hook(conn, 0, phone, settings)
            return False
        await erase(conn, r["id"], phone, settings)
        return True


async def export(conn: asyncpg.Connection, phone: str) -> dict[str, Any]:
    """Everything held about a number (AVG access request)."""
    r = await store.resident_by_phone(conn, phone)
    doc: dict[str, Any] = {"phone": phone, "exported_at": datetime.now(UTC).isoformat(), "resident": None}
    if r is not None:
        doc["resident"] = {
            k: r[k]
            for k in (
                "id",
                "status",
                "language",
                "phone_kind",
                "created_at",
                "stopped_at",
                "paused_until",
                "pause_all",
                "bulletins_opt_in",
                "slow_speech",
                "repeat_message",
                "sms_only",
            )
        }
        doc["addresses"] = [
            {
                "label": a["label"],
                "address": address_label(a),
                "buurt_code": a["buurt_code"],
                "channels": list(a["channels"]),
                "quiet_hours": [str(a["quiet_start"]), str(a["quiet_end"])] if a["quiet_start"] else None,
                "time_windows": a["time_windows"],
                "visit_until": a["visit_until"],
                "since": a["created_at"],
            }
            for a in await store.resident_addresses(conn, r["id"])
        ]
        for name, hook in _export_hooks().items():
            doc[name] = await hook(conn, r["id"], phone)
    doc["pending_enrolments"] = [dict(e) for e in await store.enrolments_of(conn, phone)]
    doc["code_requests"] = await store.code_requests_of(conn, phone)
    return doc


# ------------------------------------------------------------------ SMS keywords


async def sms_enrol(conn: asyncpg.Connection, settings: Settings, phone: str, cmd: keywords.Enrol) -> str:
    """AANMELDEN <adres>: the checks and writes are one database call (store.sms_enrol),
    so an enrolment burst's transactions stay short."""
    try:
        parsed = parse_phone(phone, settings.enrolment.allowed_countries) if cmd.address is not None else None
    except PhoneError as exc:
        parsed, error = None, exc
    else:
        error = None
    if parsed is None:  # a usage hint or a number we do not take, in the resident's language
        existing = await store.resident_by_phone(conn, phone)
        lang = existing["language"] if existing else "nl"
        if error is not None:
            return error.message_en if lang == "en" else error.message_nl
        return text("enrol_usage", lang)
    q = cmd.address
    assert q is not None
    r = await store.sms_enrol(conn, phone, parsed.kind, q, max_addresses=settings.enrolment.max_addresses)
    lang = r["language"]
    if r["outcome"] == "address_unknown":
        return text("address_unknown", lang, address=q.label)
    if r["outcome"] == "too_many_addresses":
        return text("too_many_addresses", lang, max=settings.enrolment.max_addresses)
    return text(r["outcome"], lang, address=address_label(r))


def sms_enrolment(
    settings: Settings, sid: str, phone: str, phone_kind: str, cmd: keywords.Enrol
) -> store.SmsEnrolment:
    """AANMELDEN <adres> from a number we take, for the webhook's fast path (one
    statement that claims the MessageSid, enrols and remembers the reply; the same as
    :func:`sms_enrol` within the ordinary transaction). The replies are made for every
    outcome and language up front so the database can pick and remember the one that
    applies."""
    q = cmd.address
    assert q is not None
    found = AddressQuery(q.postcode, q.house_number, (q.house_letter or "").upper() or None,
                         (q.addition or "").upper() or None).label  # fmt: skip
    m = settings.enrolment.max_addresses
    replies = {
        lang: {
            "enrolled": text("enrolled", lang, address=found),
            "already_enrolled": text("already_enrolled", lang, address=found),
            "address_unknown": text("address_unknown", lang, address=q.label),
            "too_many_addresses": text("too_many_addresses", lang, max=m),
        }
        for lang in LANGUAGES
    }
    return store.SmsEnrolment(sid, keywords.kind(cmd), phone, phone_kind, q, m, replies)


async def handle_keyword(
    conn: asyncpg.Connection, settings: Settings, phone: str, cmd: keywords.Command
) -> str | None:
    """The resident keywords; returns the reply, or None when another domain handles it."""
    match cmd:
        case keywords.Enrol():
            return await sms_enrol(conn, settings, phone, cmd)
        case keywords.Stop():
            r = await store.resident_by_phone(conn, phone, lock=True)
            if r is not None:
                await store.set_status(conn, r["id"], "stopped")
            return text("stopped", r["language"] if r else "nl")
        case keywords.Resume():
            r = await store.resident_by_phone(conn, phone, lock=True)
            if r is None:
                return text("not_enrolled")
            await store.set_status(conn, r["id"], "active")
            return text("resumed", r["language"])
        case keywords.Erase():
            r = await store.resident_by_phone(conn, phone)
            lang = r["language"] if r else "nl"
            await erase_by_phone(conn, phone, settings)
            return text("erased", lang)
        case keywords.Help():
            r = await store.resident_by_phone(conn, phone)
            return text("help", r["language"] if r else "nl")
    return await selfservice.handle(conn, settings, phone, cmd)


async def awaits_confirmation(pool: asyncpg.Pool, phone: str) -> bool:
    """A VERHUIS of this number is waiting for JA (else JA is an ordinary tip)."""
    async with pool.acquire() as conn:
        r = await store.resident_by_phone(conn, phone)
        return r is not None and r["move_address_id"] is not None


async def language_of(conn: asyncpg.Connection, phone: str) -> str:
    r = await store.resident_by_phone(conn, phone)
    return r["language"] if r else "nl"


# ------------------------------------------------------------------- for other domains
# Signals (SIGNAAL by SMS, Open311) read residents and addresses here, not in the store.


async def resident_by_phone(conn: asyncpg.Connection, phone: str) -> asyncpg.Record | None:
    """The resident enrolled with ``phone`` (None: not enrolled)."""
    return await store.resident_by_phone(conn, phone)


async def find_address(conn: asyncpg.Connection, query: AddressQuery) -> asyncpg.Record | None:
    """The address a parsed postcode and house number name (None: not in the register)."""
    return await store.find_address(
        conn, query.postcode, query.house_number, query.house_letter, query.addition
    )


async def home_buurt(conn: asyncpg.Connection, resident_id: int) -> str | None:
    """The buurt of a resident's home: the address labelled ``thuis``, else the first."""
    addresses = await store.resident_addresses(conn, resident_id)
    home = next((a for a in addresses if a["label"] == "thuis"), addresses[0] if addresses else None)
    return home["buurt_code"] if home else None
