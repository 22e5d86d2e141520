"""Photos with tips (issue 17): picture messages and the public page's form.

An inbound picture message (``NumMedia``, ``MediaUrl0…``, ``MediaContentType0…``, at
most 10) is a tip like any other SMS; its media are noted with the tip
(:func:`attach_inbound`, ``tip_media`` rows, migration 0027) and fetched afterwards, so
the webhook answers without waiting for the provider's media store:

- only from the provider's own media URL: the origin of ``twilio.api_base`` and the path
  ``/2010-04-01/Accounts/{our AccountSid}/Messages/{this MessageSid}/Media/ME…``. Any
  other URL (another host, port, scheme or account) is never requested (no SSRF through
  a forged or misrouted webhook) and is noted as not kept;
- only JPEG, PNG and WebP (the declared type first, then the content itself): others are
  noted "not kept" without being fetched;
- with the account's credentials (HTTP Basic), at most ``tips.media_max_bytes`` (≤ 5 MB,
  the streamed read is cut off there) within ``tips.media_timeout_s``;
- re-encoded by :func:`burgerwacht.media.images.reencode` (EXIF and GPS gone, ≤ 1280 px,
  ≤ 300 kB JPEG) before it is stored;
- retried after transport errors, 429 and 5xx with a doubling backoff from
  ``tips.media_retry_s``, at most ``tips.media_max_attempts`` times, then ``failed``;
- then deleted at the provider (Twilio keeps media until they are deleted), whatever the
  outcome; that deletion is retried the same way.

Fetches run in the web process right after the webhook (:class:`Fetcher`, kicked by
the webhook) and in the scheduler's ``tips-media`` job, which picks up whatever is due
(a retry, a process that stopped mid-way). Rows are claimed with a lease, so the two
never fetch one medium at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from burgerwacht.config import Settings
from burgerwacht.media.images import ACCEPTED_TYPES, PhotoRejected, reencode_async
from burgerwacht.messaging import ProviderError, TwilioProvider
from burgerwacht.tips import store
from burgerwacht.web.keys import POOL, PROVIDER, SETTINGS, lazy

log = logging.getLogger(__name__)

MAX_MEDIA = 10  # Twilio: NumMedia is at most 10
CLAIM_BATCH = 4
STORED, PENDING, NOT_KEPT, FAILED = "stored", "pending", "not_kept", "failed"
_MEDIA_PATH = re.compile(
    r"/2010-04-01/Accounts/(?P<account>AC[0-9A-Za-z]{32})/Messages/(?P<message>(?:MM|SM)[0-9a-fA-F]{32})"
    r"/Media/(?P<media>ME[0-9a-fA-F]{32})"
)


def inbound_media(form: Mapping[str, str]) -> list[tuple[str, str]]:
    """(MediaUrl{n}, MediaContentType{n}) for n below NumMedia (at most 10)."""
    try:
        count = int(form.get("NumMedia", "0") or 0)
    except ValueError:
        return []
    return [
        (form.get(f"MediaUrl{n}", ""), form.get(f"MediaContentType{n}", "").strip().lower())
        for n in range(max(0, min(count, MAX_MEDIA)))
    ]


def media_sid(settings: Settings, url: str, message_sid: str) -> str | None:
    """The Media SID in ``url`` when it is this message's media on the provider's own host
    (the origin of ``twilio.api_base``, our account, this MessageSid); None otherwise:
    such a URL is never fetched."""
    base = urlsplit(str(settings.twilio.api_base))
    try:
        parts = urlsplit(url)
        port_ok = parts.port == base.port
    except ValueError:
        return None
    if (
        parts.scheme != base.scheme
        or (parts.hostname or "") != (base.hostname or "")
        or not port_ok
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
    ):
        return None
    prefix = base.path.rstrip("/")
    if not parts.path.startswith(prefix):
        return None
    found = _MEDIA_PATH.fullmatch(parts.path[len(prefix) :])
    if found is None or found["account"] != settings.twilio.account_sid or found["message"] != message_sid:
        return None
    return found["media"]


def _plan(settings: Settings, message_sid: str, media: list[tuple[str, str]]) -> list[tuple]:
    """The tip_media rows for a picture message: (n, status, source_url, type, error)."""
    rows = []
    for n, (url, declared) in enumerate(media):
        if media_sid(settings, url, message_sid) is None:
            rows.append(
                (n, NOT_KEPT, None, declared[:255] or None, "not kept: not on the provider's media host")
            )
        elif declared not in ACCEPTED_TYPES:
            # not fetched, but deleted at the provider like every medium
            rows.append((n, NOT_KEPT, url, declared[:255] or None, f"not kept: {declared[:80] or 'no type'}"))
        else:
            rows.append((n, PENDING, url, declared, None))
    return rows


async def attach_inbound(app: web.Application, message_sid: str, media: list[tuple[str, str]]) -> None:
    """Note a picture message's media with the tip it became (if it became one) and kick
    the fetcher; runs after the tip was stored, before the webhook answers."""
    if not media:
        return
    rows = _plan(app[SETTINGS], message_sid, media)
    pool = app[POOL]
    added = await store.add_inbound_media(pool, message_sid, rows)
    if added:
        await _announce(pool, added[0])
    elif not await store.is_tip(pool, message_sid):
        # a keyword or a signal with pictures: nothing keeps them, so they go at the provider
        sids = [sid for url, _ in media if (sid := media_sid(app[SETTINGS], url, message_sid))]
        if sids:
            await store.queue_media_deletions(pool, message_sid, sids)
            fetcher(app).kick()
        return
    if any(r[2] for r in rows):
        fetcher(app).kick()


async def _announce(pool: asyncpg.Pool, tip_id: int) -> None:
    """The tip again on the live feeds, now with its media (the console updates it)."""
    from burgerwacht.tips import service  # it imports this module

    async with pool.acquire() as conn:
        await service.announce(conn, tip_id)


# ------------------------------------------------------------------ fetching


def _backoff(settings: Settings, attempts: int) -> float:
    return min(settings.tips.media_retry_s * 2 ** max(0, attempts - 1), 6 * 3600)


async def _fetch(
    pool: asyncpg.Pool, provider: TwilioProvider, settings: Settings, row: asyncpg.Record
) -> None:
    tip_id, n, attempts = row["tip_id"], row["n"], row["attempts"]
    t = settings.tips
    sid = media_sid(settings, row["source_url"], row["provider_sid"])
    if sid is None:  # the configuration changed since the webhook: never fetched
        await store.media_fetched(
            pool, tip_id, n, NOT_KEPT, error="not kept: not on the provider's media host", keep_url=False
        )
        return
    transient: str | None = None
    try:
        got = await provider.fetch_media(
            row["source_url"], max_bytes=t.media_max_bytes, timeout=t.media_timeout_s
        )
    except ProviderError as exc:
        transient = type(exc).__name__
    else:
        if got.too_large:
            limit = t.media_max_bytes / (1024 * 1024)
            await store.media_fetched(pool, tip_id, n, NOT_KEPT, error=f"not kept: larger than {limit:g} MB")
            return
        if got.status == 429 or got.status >= 500:
            transient = f"the provider answered {got.status}"
        elif got.data is None:
            await store.media_fetched(pool, tip_id, n, FAILED, error=f"the provider answered {got.status}")
            return
        else:
            try:
                photo = await reencode_async(got.data, max_input_bytes=t.media_max_bytes)
            except PhotoRejected as exc:
                await store.media_fetched(pool, tip_id, n, NOT_KEPT, error=f"not kept: {exc.reason}")
                return
            await store.media_fetched(
                pool, tip_id, n, STORED, data=photo.data, width=photo.width, height=photo.height
            )
            log.info("tip photo stored", extra={"tip": tip_id, "n": n, "bytes": photo.size})
            return
    if attempts >= t.media_max_attempts:
        await store.media_fetched(
            pool, tip_id, n, FAILED, error=f"failed after {attempts} attempts ({transient})"
        )
    else:
        await store.media_retry(pool, tip_id, n, _backoff(settings, attempts), f"retrying: {transient}")


async def _delete_at_provider(
    pool: asyncpg.Pool, provider: TwilioProvider, settings: Settings, row: asyncpg.Record
) -> bool:
    tip_id, n = row["tip_id"], row["n"]
    sid = media_sid(settings, row["source_url"], row["provider_sid"])
    if sid is None:
        await store.media_released(pool, tip_id, n)
        return True
    try:
        await provider.delete_media(row["provider_sid"], sid)
    except ProviderError as exc:
        if row["attempts"] >= settings.tips.media_max_attempts:
            log.warning("tip media not deleted at the provider; given up", extra={"tip": tip_id, "n": n})
            await store.media_released(pool, tip_id, n)
            return False
        await store.media_retry(pool, tip_id, n, _backoff(settings, row["attempts"]), None)
        log.info("tip media deletion at the provider failed (%s); retried later", type(exc).__name__)
        return False
    await store.media_released(pool, tip_id, n)
    return True


async def process_due(app: web.Application) -> dict[str, int]:
    """Fetch the media that are due, then delete them at the provider; also the
    deletions that are due. Returns counts (the job's result)."""
    pool, provider, settings = app[POOL], app[PROVIDER], app[SETTINGS]
    # a claimed batch is fetched, re-encoded and deleted one by one: the lease covers a
    # fetch and a delete (each up to media_timeout_s) and a re-encode per row, so rows at
    # the end of a slow batch are not claimed a second time by another process
    lease = CLAIM_BATCH * (settings.tips.media_timeout_s * 2 + 5) + 30
    counts = {"fetched": 0, "deleted": 0}
    counts["deleted"] += await _discard_queued(pool, provider, settings)
    while True:
        rows = await store.claim_media(pool, CLAIM_BATCH, lease)
        for row in rows:
            if row["status"] == PENDING:
                await _fetch(pool, provider, settings, row)
                counts["fetched"] += 1
                await _announce(pool, row["tip_id"])
                # then deleted at the provider at once
                after = await store.media_row(pool, row["tip_id"], row["n"], row["provider_sid"])
                if after is None or after["status"] == PENDING or after["source_url"] is None:
                    continue
                row = after
            counts["deleted"] += await _delete_at_provider(pool, provider, settings, row)
        if len(rows) < CLAIM_BATCH:
            return counts


async def _discard_queued(pool: asyncpg.Pool, provider: TwilioProvider, settings: Settings) -> int:
    """Delete at the provider the queued media of messages that became no tip (keywords
    and signals with a picture): retried with a doubling wait up to media_max_attempts."""
    t = settings.tips
    deleted = 0
    while rows := await store.claim_media_deletions(
        pool, CLAIM_BATCH, CLAIM_BATCH * (t.media_timeout_s + 5) + 30
    ):
        for row in rows:
            try:
                await provider.delete_media(row["message_sid"], row["media_sid"])
            except ProviderError as exc:
                if row["attempts"] >= t.media_max_attempts:
                    log.warning(
                        "media of a message that is no tip not deleted at the provider after %d tries (%s)",
                        row["attempts"],
                        type(exc).__name__,
                    )
                    await store.media_deletion_done(pool, row["message_sid"], row["media_sid"])
                else:
                    wait = _backoff(settings, row["attempts"])
                    await store.media_deletion_retry(pool, row["message_sid"], row["media_sid"], wait)
                continue
            await store.media_deletion_done(pool, row["message_sid"], row["media_sid"])
            deleted += 1
        if len(rows) < CLAIM_BATCH:
            break
    return deleted


class Fetcher:
    """One background run of :func:`process_due` per web process at a time, started by
    the webhook (another kick during a run makes it go round once more)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.task: asyncio.Task[None] | None = None
        self.again = False

    def kick(self) -> None:
        if self.task is not None and not self.task.done():
            self.again = True
            return
        self.task = asyncio.get_running_loop().create_task(self._run(), name="tip-media-fetch")

    async def _run(self) -> None:
        while True:
            self.again = False
            try:
                await process_due(self.app)
            except Exception:  # the job picks up what is left
                log.exception("tip media fetch failed")
            if not self.again:
                return

    async def wait(self) -> None:
        """Until the current run is over (tests)."""
        while self.task is not None and not self.task.done():
            await asyncio.shield(self.task)

    async def aclose(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


def fetcher(app: web.Application) -> Fetcher:
    return lazy(app, "tip-media", lambda: Fetcher(app))


# ------------------------------------------------------------------ operators


def media_out(tip_id: int, items: Any) -> list[dict[str, Any]]:
    """The tip's media for its JSON: a url only for a stored photo."""
    return [
        {
            "n": m["n"],
            "status": m["status"],
            "url": f"/api/v1/tips/{tip_id}/media/{m['n']}" if m["status"] == STORED else None,
            "width": m["width"],
            "height": m["height"],
            "bytes": m["bytes"],
            "reason": m["reason"],
        }
        for m in items or []
    ]
