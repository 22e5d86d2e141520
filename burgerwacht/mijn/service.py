"""Signing in to /mijn: a phone number, a 6-digit code by SMS, a short session.

- The code goes out through the provider boundary like an enrolment code and under the
  same limits (per number, client network, number prefixes, daily budget): the login
  is one more code request (``residents.service.limit_code_request``).
- Whether a number is enrolled is not revealed: an unknown number gets the same answer
  (and no SMS); its code can never be right.
- A code allows ``enrolment.code_max_attempts`` tries and lives
  ``enrolment.code_ttl_minutes``; the session lives ``enrolment.mijn_session_minutes``
  and is a random token in an HttpOnly, SameSite=Strict cookie (only its hash is kept).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from burgerwacht import crypto
from burgerwacht.audit import store as audit
from burgerwacht.config import Settings
from burgerwacht.messaging import ProviderError, TwilioProvider
from burgerwacht.mijn import store
from burgerwacht.phone import PhoneError, mask, parse_phone
from burgerwacht.residents import service as residents
from burgerwacht.residents.service import refusal
from burgerwacht.texts import text

log = logging.getLogger(__name__)
CODE_PURPOSE = "mijn-login-code"
SESSION_PURPOSE = "mijn-session"


@dataclass(frozen=True)
class Login:
    id: UUID
    expires_at: datetime
    phone: str  # masked


@dataclass(frozen=True)
class Session:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Current:
    resident_id: int
    phone: str
    expires_at: datetime


def _code_hash(settings: Settings, phone: str, code: str) -> bytes:
    return crypto.keyed_hash(settings.security.secret_key, CODE_PURPOSE, phone, code)


def token_hash(settings: Settings, token: str) -> bytes:
    return crypto.keyed_hash(settings.security.secret_key, SESSION_PURPOSE, token)


async def start_login(
    pool: asyncpg.Pool, provider: TwilioProvider, settings: Settings, raw_phone: str, ip: str, language: str
) -> Login:
    try:
        phone = parse_phone(raw_phone, settings.enrolment.allowed_countries)
    except PhoneError as exc:
        raise refusal(422, "invalid-phone", exc.message_nl, exc.message_en, field="phone") from None
    e = settings.enrolment
    code = f"{secrets.randbelow(10**6):06d}"
    async with pool.acquire() as conn, conn.transaction():
        r = await residents.resident_by_phone(conn, phone.e164)
        known = r is not None and r["status"] == "active"
        await residents.limit_code_request(conn, settings, phone.e164, ip, known=known)
        # an unknown number gets a login whose code cannot match (a random secret)
        secret = code if r is not None else secrets.token_hex(16)
        row = await store.create_login(
            conn, phone.e164, _code_hash(settings, phone.e164, secret), e.code_ttl_minutes
        )
    if r is not None and phone.can_sms:
        try:
            await provider.send_sms(
                phone.e164,
                text("mijn_code", r["language"], code=code, minutes=e.code_ttl_minutes),
                validity_period=e.code_ttl_minutes * 60,
            )
        except ProviderError as exc:
            async with pool.acquire() as conn:
                await store.delete_login(conn, row["id"])
            log.warning("mijn login code not sent: %s", type(exc).__name__)
            raise refusal(
                503,
                "provider-unavailable",
                "De code kon nu niet worden verstuurd. Probeer het zo opnieuw.",
                "The code could not be sent right now. Please try again shortly.",
                retry_after=30,
            ) from None
    return Login(row["id"], row["expires_at"], mask(phone.e164))


async def verify_login(pool: asyncpg.Pool, settings: Settings, login_id: UUID, code: str) -> Session:
    e = settings.enrolment
    failed: int | None = None
    async with pool.acquire() as conn:
        async with conn.transaction():
            login = await store.login_for_update(conn, login_id)
            if login is None or login["used_at"] is not None:
                raise refusal(
                    404,
                    "unknown-login",
                    "Deze inlogpoging bestaat niet (meer).",
                    "This sign-in does not exist.",
                )
            if login["expired"]:
                raise refusal(
                    410, "code-expired", "De code is verlopen. Vraag een nieuwe aan.", "The code has expired."
                )
            if login["attempts"] >= e.code_max_attempts:
                raise refusal(
                    410,
                    "too-many-attempts",
                    "Te vaak een verkeerde code ingevuld. Vraag een nieuwe code aan.",
                    "Too many wrong codes. Please request a new one.",
                )
            good = hmac.compare_digest(
                bytes(login["code_hash"]), _code_hash(settings, login["phone"], code.strip())
            )
            r = await residents.resident_by_phone(conn, login["phone"]) if good else None
            if r is None:
                failed = await store.count_failed(conn, login_id)
            else:
                await store.mark_used(conn, login_id)
                token = secrets.token_urlsafe(32)
                session = await store.create_session(
                    conn, token_hash(settings, token), r["id"], e.mijn_session_minutes
                )
                await audit.append(conn, "resident", "resident.mijn.login", "resident", r["id"], {})
                return Session(token, session["expires_at"])
    left = max(0, e.code_max_attempts - (failed or 0))
    raise refusal(
        422,
        "wrong-code",
        f"De code klopt niet. Nog {left} poging(en).",
        f"The code is not correct. {left} attempt(s) left.",
        attempts_left=left,
        field="code",
    )


async def current(conn: asyncpg.Connection, settings: Settings, token: str | None) -> Current:
    if token and len(token) <= 100:
        row = await store.session(conn, token_hash(settings, token))
        if row is not None:
            return Current(row["resident_id"], row["phone"], row["expires_at"])
    raise refusal(401, "signed-out", "U bent niet (meer) ingelogd.", "You are not signed in (any more).")


async def logout(conn: asyncpg.Connection, settings: Settings, token: str | None) -> None:
    if token and len(token) <= 100:
        await store.end_session(conn, token_hash(settings, token))


async def export_logins(conn: asyncpg.Connection, resident_id: int, phone: str) -> Any:
    """The /mijn sign-ins held for the number (AVG export hook)."""
    return [dict(r) for r in await store.logins_of(conn, phone)]


async def erase_logins(conn: asyncpg.Connection, resident_id: int, phone: str, settings: Settings) -> None:
    """Erasure hook: the number's login codes and the resident's sessions."""
    await store.erase(conn, resident_id, phone)
