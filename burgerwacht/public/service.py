"""The public page per alert: which alerts have one, what it shows, and tips from its form.

An alert's page exists once it was sent (``sending``, ``active``, ``closed``,
``expired``); drafts, alerts awaiting approval and cancelled alerts answer 404 like an
unknown token. ``public.page_days_after_close`` days after the alert was closed (or
expired) the page answers 410. Tips from the form go to the tips domain's intake
(``channel: web``), linked to the alert, only while it is live, and rate-limited per
client network (per hour) and per alert (per minute).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
from pydantic import ValidationError

from burgerwacht import crypto
from burgerwacht.alerts.service import area_of
from burgerwacht.config import Settings
from burgerwacht.media.images import Photo, PhotoRejected, reencode_async
from burgerwacht.phone import PhoneError, parse_phone
from burgerwacht.public import store
from burgerwacht.public.links import SHOWN, TOKEN_RE
from burgerwacht.public.models import TipFormIn
from burgerwacht.public.page import FormState, View, message_page, render, t
from burgerwacht.tips import service as tips

log = logging.getLogger(__name__)


class PageError(Exception):
    """Answered as a small HTML page: 404 (no page), 410 (ended), 422, 429."""

    def __init__(self, status: int, html: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.html, self.headers = status, html, headers or {}


@dataclass
class Rendered:
    html: str
    etag: str
    modified: datetime | None


class PageCache:
    """Rendered pages (and their 404/410 answers) kept for ``ttl`` seconds in one web
    process, so a burst of visitors after a mass SMS costs one render per page, language
    and second instead of one per visitor; visitors asking for a page being rendered
    wait for that render (single flight). At most ``size`` entries (then it starts over)."""

    def __init__(self, ttl: float, size: int = 2000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: dict[tuple[str, str, bool], tuple[float, asyncio.Future[Rendered]]] = {}

    async def get(self, key: tuple[str, str, bool], render: Callable[[], Awaitable[Rendered]]) -> Rendered:
        if self.ttl <= 0:
            return await render()
        loop = asyncio.get_running_loop()
        now = loop.time()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return await asyncio.shield(entry[1])
        if len(self._entries) >= self.size:
            self._entries.clear()
        future: asyncio.Future[Rendered] = loop.create_future()
        self._entries[key] = (now + self.ttl, future)
        try:
            future.set_result(await render())
        except PageError as err:  # 404 and 410 are answers too
            future.set_exception(err)
        except Exception as exc:  # not kept: the next visitor tries again
            self._entries.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        except BaseException:
            self._entries.pop(key, None)
            future.cancel()
            raise
        return future.result()


def _state(row: asyncpg.Record, now: datetime) -> str:
    if row["status"] == "closed":
        return "closed"
    if row["status"] == "expired" or (row["expires_at"] is not None and row["expires_at"] <= now):
        return "expired"
    return "live"


async def alert_for(
    conn: asyncpg.Connection | asyncpg.Pool, settings: Settings, token: str, lang: str
) -> tuple[asyncpg.Record, str]:
    """The alert behind ``token`` and its state (live, closed, expired); PageError 404
    without a page, 410 ``page_days_after_close`` days after it ended."""
    row = await store.alert_by_token(conn, token) if TOKEN_RE.fullmatch(token) else None
    if row is None or row["status"] not in SHOWN or row["sent_at"] is None:
        raise PageError(404, message_page(lang, "not_found_title", "not_found"))
    now = datetime.now(UTC)
    state = _state(row, now)
    ended = {"closed": row["closed_at"], "expired": row["expires_at"]}.get(state)
    if ended is not None and now >= ended + timedelta(days=settings.public.page_days_after_close):
        raise PageError(410, message_page(lang, "gone_title", "gone"))
    return row, state


def _distance(metres: float, lang: str) -> str:
    if metres < 1000:
        return f"{round(metres / 10) * 10:.0f} meter" if lang == "nl" else f"{round(metres / 10) * 10:.0f} m"
    km = f"{metres / 1000:.1f}".rstrip("0").rstrip(".")
    return (km.replace(".", ",") if lang == "nl" else km) + " km"


def _join(names: list[str], lang: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + t(lang, "and") + names[-1]


async def area_words(conn: asyncpg.Connection | asyncpg.Pool, row: asyncpg.Record, lang: str) -> str:
    """The area in words: the named CBS areas; a circle by its radius and the buurt at
    its centre; any other shape by its municipalities. Never an address or coordinates."""
    if row["target_codes"]:
        names = [
            t(lang, a["level"], name=a["name"])
            for a in await store.area_names(conn, list(row["target_codes"]))
        ]
        if names:
            return t(lang, "areas", names=_join(names, lang))
    circle = row["target_circle"]
    if circle is not None:
        near = await store.buurt_near(conn, circle.center)
        if near is not None:
            words = t(lang, "circle", distance=_distance(circle.radius, lang), buurt=near["buurt"])
            if near["municipality"]:
                words += t(lang, "in_gemeente", name=near["municipality"])
            return words
    codes = list(row["municipalities"] or [])
    found = {a["code"]: a["name"] for a in await store.area_names(conn, codes)}
    names = [found.get(c, c) for c in codes]
    return t(lang, "region" if len(names) <= 1 else "region_many", names=_join(names, lang))


async def page(
    db: asyncpg.Connection | asyncpg.Pool,
    settings: Settings,
    token: str,
    lang: str,
    *,
    thanks: bool = False,
    form: FormState | None = None,
) -> Rendered:
    """The page of ``token`` in ``lang`` (nl, en); PageError 404 or 410."""
    row, state = await alert_for(db, settings, token, lang)
    updates = await store.updates(db, row["id"]) if row["update_number"] else []
    area = await area_words(db, row, lang)
    english = lang == "en" and bool(row["message_en"])
    view = View(
        token=token,
        lang=lang,
        state=state,
        reference=row["reference"],
        title=row["title"],
        message=row["message_en"] if english else row["message"],
        dutch_only=not english,
        closing_message=row["closing_message"],
        updates=[(u["number"], u["message"], u["created_at"]) for u in updates],
        area=area,
        sent_at=row["sent_at"],
        expires_at=row["expires_at"],
        closed_at=row["closed_at"],
        number=settings.twilio.from_number,
        thanks=thanks,
        form=form,
        shape=(area_of(row) or {}).get("geometry"),
        exercise=row["mode"] == "exercise",
        photo=row["photo"],
    )
    html = render(view)
    etag = '"' + hashlib.sha256(html.encode()).hexdigest()[:24] + '"'
    return Rendered(html, etag, row["modified_at"])


def _form_errors(exc: ValidationError, lang: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_context=False):
        name = str(err["loc"][0]) if err["loc"] else "text"
        if name == "text":
            kind = err["type"]
            key = (
                "text_missing"
                if kind in ("string_too_short", "missing")
                else "text_too_long"
                if kind == "string_too_long"
                else "text_invalid"
            )
            errors.setdefault("text", t(lang, key))
        elif name == "phone":
            errors.setdefault("phone", t(lang, "phone_invalid"))
    return errors


def _rate_key(settings: Settings, bucket: str) -> str:
    return "ip:" + crypto.keyed_hash(settings.security.secret_key, "public-tip-rate", bucket).hex()[:32]


async def _photo(photo: bytes | Literal[False] | None, lang: str) -> tuple[Photo | None, str | None]:
    """The form's photo re-encoded (EXIF and GPS gone), or the message why not."""
    if photo is False:
        return None, t(lang, "photo_too_large")
    if not photo:
        return None, None
    try:
        return await reencode_async(photo), None
    except PhotoRejected as exc:
        key = "photo_too_large" if "larger than" in exc.reason else "photo_invalid"
        return None, t(lang, key)


async def form_open(pool: asyncpg.Pool, settings: Settings, token: str, lang: str) -> None:
    """PageError 404/410 unless the page behind ``token`` still takes tips."""
    _row, state = await alert_for(pool, settings, token, lang)
    if state != "live":
        back = f"/a/{token}" + ("?lang=en" if lang == "en" else "")
        raise PageError(410, message_page(lang, "gone_title", "tip_closed", back=back))


async def submit_tip(
    pool: asyncpg.Pool,
    settings: Settings,
    token: str,
    lang: str,
    client: str,
    data: dict[str, Any],
    photo: bytes | Literal[False] | None = None,
) -> int | None:
    """A tip from the page's form → its id (None when the honeypot caught a bot).
    ``photo``: the uploaded bytes, None without one, False when it was over 5 MB.
    PageError 404/410 (no page, or the alert ended), 429 (rate limit), 422 (the page
    again, with the problems and the visitor's text, never their number nor photo)."""
    async with pool.acquire() as conn:
        row, state = await alert_for(conn, settings, token, lang)
        back = f"/a/{token}" + ("?lang=en" if lang == "en" else "")
        if state != "live":
            raise PageError(410, message_page(lang, "gone_title", "tip_closed", back=back))
        p = settings.public
        for bucket, window, limit in (
            (_rate_key(settings, client), "hour", p.tips_per_ip_per_hour),
            (f"alert:{row['id']}", "minute", p.tips_per_alert_per_minute),
        ):
            hits, left = await store.rate_hit(conn, bucket, window)
            if hits > limit:
                minutes = str(max(1, -(-left // 60)))
                raise PageError(
                    429,
                    message_page(lang, "too_many_title", "too_many", back=back, minutes=minutes),
                    {"Retry-After": str(left)},
                )
        try:
            form = TipFormIn.model_validate(data)
        except ValidationError as exc:
            errors = _form_errors(exc, lang)
            if photo is False:
                errors["photo"] = t(lang, "photo_too_large")
            raise PageError(422, await _again(conn, settings, token, lang, data, errors)) from None
        if form.website:
            log.info("public tip form: honeypot filled; dropped", extra={"alert": row["id"]})
            return None
    # The photo is decoded with no database connection held (it takes a CPU and memory
    # for a moment, and decodes wait their turn: media.images.reencode_async).
    clean, problem = await _photo(photo, lang)
    async with pool.acquire() as conn:
        if problem:
            raise PageError(422, await _again(conn, settings, token, lang, data, {"photo": problem}))
        phone = None
        if form.phone:
            try:
                phone = parse_phone(form.phone, ("*",)).e164
            except PhoneError as exc:
                message = exc.message_en if lang == "en" else exc.message_nl
                raise PageError(
                    422, await _again(conn, settings, token, lang, data, {"phone": message})
                ) from None
        return await tips.intake_web(conn, row["id"], list(row["municipalities"]), form.text, phone, clean)


async def _again(
    conn: asyncpg.Connection,
    settings: Settings,
    token: str,
    lang: str,
    data: dict[str, Any],
    errors: dict[str, str],
) -> str:
    text = data.get("text") if isinstance(data.get("text"), str) else ""
    shown = text[:2000].replace("\x00", "")
    return (await page(conn, settings, token, lang, form=FormState(text=shown, errors=errors))).html
