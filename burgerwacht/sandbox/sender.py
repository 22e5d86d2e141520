"""Signed webhook delivery from the simulator to the service.

One shared ``aiohttp.ClientSession`` and a fixed pool of sender tasks drain a queue of
status-callback jobs, so a REST create only appends to the queue and stays fast; at
very high load callbacks wait in the queue rather than being dropped. Each job holds
the steps of one message in order and is handled by one sender at a time, so without
injected reordering a message's callbacks always arrive in lifecycle order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from urllib.parse import urlencode

import aiohttp

from burgerwacht.messaging.webhooks import SIGNATURE_HEADER, sign
from burgerwacht.sandbox.state import API_VERSION, MessageRecord, SandboxState, iso

__all__ = ["CallbackJob", "WebhookResult", "WebhookSender"]

log = logging.getLogger(__name__)

_USER_AGENT = "TwilioProxy/1.1"
#: Twilio fetches at most 5 MB per MMS; more is not read.
MEDIA_MAX_BYTES = 5 * 1024 * 1024
MEDIA_TIMEOUT = 10.0


class WebhookResult:
    """What the service answered to one webhook."""

    __slots__ = ("error", "http_status", "text")

    def __init__(self, http_status: int | None, text: str, error: str | None) -> None:
        self.http_status = http_status
        self.text = text
        self.error = error

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


class CallbackJob:
    """The ordered status callbacks of one message."""

    __slots__ = ("generation", "index", "record", "steps", "url")

    def __init__(
        self, url: str, record: MessageRecord, steps: list[tuple[str, int | None]], generation: int
    ) -> None:
        self.url = url
        self.record = record
        self.steps = steps
        self.index = 0
        self.generation = generation


class WebhookSender:
    """Posts signed form-encoded webhooks and records every result."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.queue: asyncio.Queue[CallbackJob] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._session: aiohttp.ClientSession | None = None
        self._fetches: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            headers={"User-Agent": _USER_AGENT},
        )
        self.ensure_workers()

    def ensure_workers(self) -> None:
        """Grow the sender pool to the configured concurrency (it never shrinks)."""
        while len(self._workers) < self.state.config.callback_concurrency:
            self._workers.append(asyncio.create_task(self._worker()))

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for task in [*self._workers, *self._fetches]:
            task.cancel()
        for task in [*self._workers, *self._fetches]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        if self._session is not None:
            await self._session.close()

    # --- posting ------------------------------------------------------------------------

    async def post(
        self,
        url: str,
        params: dict[str, str],
        *,
        kind: str,
        sid: str,
        event: str | None = None,
        method: str = "POST",
    ) -> WebhookResult:
        """Sign and send one webhook the way Twilio does; never raises for HTTP trouble.

        For GET the parameters go in the query string and the signature covers the
        full URL only, as Twilio signs GET webhooks.
        """
        assert self._session is not None, "sender not started"
        generation = self.state.generation
        method = method.upper()
        if method == "GET":
            target = url + ("&" if "?" in url else "?") + urlencode(params)
            headers = {SIGNATURE_HEADER: sign(self.state.config.auth_token, target, {})}
            body: dict[str, str] | None = None
        else:
            target = url
            headers = {SIGNATURE_HEADER: sign(self.state.config.auth_token, url, params)}
            body = params
        headers["I-Twilio-Idempotency-Token"] = hashlib.sha1(  # noqa: S324 - an id, not security
            f"{sid}:{kind}:{event}".encode()
        ).hexdigest()
        started = time.time()
        try:
            async with self._session.request(
                method,
                target,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.state.config.callback_timeout),
                allow_redirects=False,
            ) as response:
                result = WebhookResult(response.status, await response.text(), None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            result = WebhookResult(None, "", f"{type(exc).__name__}: {exc}")
        if generation == self.state.generation:
            self.state.callbacks.append(
                {
                    "kind": kind,
                    "sid": sid,
                    "event": event,
                    "url": url,
                    "method": method,
                    "params": params,
                    "http_status": result.http_status,
                    "error": result.error,
                    "posted_at": iso(started),
                }
            )
        return result

    # --- MMS media ----------------------------------------------------------------------

    def fetch_media(self, record: MessageRecord) -> None:
        """Fetch each MediaUrl of an outbound MMS as Twilio does (a plain GET, redirects
        followed, at most 5 MB read) and record what came back on the media item; counted
        as pending work, so ``/sandbox/flush`` waits for it."""
        for item in record.media:
            self.state.begin()
            task = asyncio.create_task(self._fetch_one(item))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)

    async def _fetch_one(self, item: dict[str, object]) -> None:
        assert self._session is not None, "sender not started"
        try:
            async with self._session.get(
                str(item["url"]), timeout=aiohttp.ClientTimeout(total=MEDIA_TIMEOUT), allow_redirects=True
            ) as response:
                data = bytearray()
                while len(data) <= MEDIA_MAX_BYTES:
                    chunk = await response.content.read(MEDIA_MAX_BYTES + 1 - len(data))
                    if not chunk:
                        break
                    data += chunk
                item["http_status"] = response.status
                item["content_type"] = response.headers.get("Content-Type")
                item["bytes"] = len(data)
                if response.status != 200:
                    item["error"] = f"HTTP {response.status}"
                elif len(data) > MEDIA_MAX_BYTES:
                    item["error"] = "larger than 5 MB"
                self.state.counters["media_fetched" if item.get("error") is None else "media_failed"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            item["error"] = f"{type(exc).__name__}: {exc}"
            self.state.counters["media_failed"] += 1
        finally:
            item["fetched_at"] = iso(time.time())
            self.state.end()

    # --- message status callbacks -------------------------------------------------------

    def enqueue(self, job: CallbackJob) -> None:
        """Queue a message's callbacks (counted as pending until the last is posted)."""
        self.state.begin()
        delay = self.state.config.callback_first_delay
        if delay > 0:
            self._later(delay, job)
        else:
            self.queue.put_nowait(job)

    async def _worker(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self._run(job)
            except Exception:  # a bug here must not kill the sender pool
                log.exception("status callback job failed")
                self.state.end()
            finally:
                self.queue.task_done()

    async def _run(self, job: CallbackJob) -> None:
        state = self.state
        while job.index < len(job.steps):
            if job.generation != state.generation:
                break
            status, error_code = job.steps[job.index]
            job.index += 1
            job.record.advance(status, error_code)
            await self.post(
                job.url,
                message_status_params(job.record, status, error_code),
                kind="message-status",
                sid=job.record.sid,
                event=status,
            )
            delay = state.config.callback_delay
            if delay > 0 and job.index < len(job.steps):
                self._later(delay, job)
                return
        state.end()

    def _later(self, delay: float, job: CallbackJob) -> None:
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(timer)
            self.queue.put_nowait(job)

        timer = loop.call_later(delay, fire)
        self._timers.add(timer)


def message_status_params(record: MessageRecord, status: str, error_code: int | None) -> dict[str, str]:
    """The form fields of a message status callback."""
    params = {
        "AccountSid": record.account_sid,
        "ApiVersion": API_VERSION,
        "From": record.from_,
        "MessageSid": record.sid,
        "MessageStatus": status,
        "SmsSid": record.sid,
        "SmsStatus": status,
        "To": record.to,
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    if status in ("delivered", "undelivered"):
        # the carrier's delivery receipt "done date", passed through (YYMMDDhhmm, UTC)
        params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
    return params
