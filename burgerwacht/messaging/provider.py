"""The provider boundary: the only code that talks to Twilio.

Built on the official SDK, used asynchronously, with an HTTP client that fixes the
SDK's sharp edges for a bulk sender:

* every request goes to ``api_base`` (the real API or the bundled simulator), for all
  Twilio domains and for pagination links, by rewriting scheme and host per request;
* every request has a timeout (the SDK ignores its constructor timeout, twilio-python
  issue 925), so a hung provider cannot stall a worker;
* nothing is retried here (the SDK's ``max_retries`` resends POSTs on 5xx and so sends
  SMS twice); the caller decides from the typed errors in :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from burgerwacht.messaging.errors import (
    ProviderError,
    ProviderUnreachable,
    RateLimited,
    UnknownOutcome,
    error_from_response,
)

__all__ = ["MAX_VALIDITY_PERIOD", "FetchedMedia", "SentMessage", "StartedCall", "TwilioProvider"]

log = logging.getLogger(__name__)

#: Twilio's upper bound for ValidityPeriod (seconds).
MAX_VALIDITY_PERIOD = 36_000
#: Reconciliation looks at a short window; this bounds a pathological listing.
_FIND_LIMIT = 1000


@dataclass(frozen=True)
class SentMessage:
    """A message as Twilio knows it (created, or found while reconciling)."""

    sid: str
    status: str
    to: str
    segments: int
    date_created: datetime | None = None
    body: str | None = None
    error_code: int | None = None


@dataclass(frozen=True)
class StartedCall:
    """An outbound call Twilio accepted."""

    sid: str
    status: str
    to: str


@dataclass(frozen=True)
class FetchedMedia:
    """The answer to a media fetch: ``data`` is None when the body was larger than the
    limit (the read stopped there) or the answer was not a success."""

    status: int
    content_type: str
    data: bytes | None
    too_large: bool = False


class RoutedAsyncHttpClient(AsyncTwilioHttpClient):
    """SDK HTTP client that sends every request to ``api_base`` with a timeout.

    The session is created here, so construct it inside the running event loop and
    ``await close()`` it.
    """

    def __init__(self, *, api_base: str, timeout: float, max_connections: int) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        # pool_connections=False: the parent would build a session with its own
        # 100-connection connector; ours honours max_connections. No max_retries.
        super().__init__(pool_connections=False, timeout=timeout)
        base = urlsplit(api_base)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(f"api_base must be an http(s) URL, not {api_base!r}")
        self._scheme = base.scheme
        self._netloc = base.netloc
        self._prefix = base.path.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        #: Retry-After of the latest 429 (read right after it by the provider, before
        #: the event loop runs anything else: the SDK raises without awaiting).
        self.last_retry_after: float | None = None
        self.session = aiohttp.ClientSession(
            # limit_per_host 0: every connection may go to the one API host
            connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=0),
            timeout=self._timeout,
        )

    @property
    def connector_limit(self) -> int:
        """The connection pool size actually in force."""
        assert isinstance(self.session, aiohttp.ClientSession)
        connector = self.session.connector
        return connector.limit if connector is not None else 0

    def route(self, url: str) -> str:
        """Rewrite scheme and host (and prefix the path) to the configured base."""
        parts = urlsplit(url)
        return urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, ""))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's HttpClient signature
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request; never logs URLs or bodies (they contain phone numbers)."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        assert isinstance(self.session, aiohttp.ClientSession)
        client_timeout = self._timeout if timeout is None else aiohttp.ClientTimeout(total=timeout)
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = _basic_auth(auth)
        body = _form(data)
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with self.session.request(
            method.upper(),
            self.route(url),
            params=_query(params),
            data=body,
            headers=headers,
            timeout=client_timeout,
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
        if response.status == 429:
            self.last_retry_after = _seconds(response.headers.get("Retry-After"))
        return Response(response.status, text, response.headers)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def _seconds(value: str | None) -> float | None:
    """A Retry-After in seconds (the HTTP-date form is not used by Twilio)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


@functools.lru_cache(maxsize=8)
def _basic_auth(auth: tuple[str, str]) -> str:
    """The Authorization header value (aiohttp's ``auth=`` is deprecated)."""
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")


def _query(params: dict[str, object] | None) -> dict[str, str] | None:
    if not params:
        return None
    return {key: str(value) for key, value in params.items() if value is not None}


def _form(data: dict[str, object] | None) -> bytes | None:
    """The form body, list values (StatusCallbackEvent, MediaUrl) as repeated fields,
    encoded as aiohttp's FormData would (urlencode), without building a FormData and a
    multipart writer for every message (~8 % of a dispatch worker's CPU)."""
    if not data:
        return None
    fields: list[tuple[str, str]] = []
    for key, value in data.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            if item is not None:
                fields.append((key, str(item)))
    return urlencode(fields).encode()


@contextmanager
def _provider_errors(http: RoutedAsyncHttpClient | None = None) -> Iterator[None]:
    """Translate SDK and transport exceptions into :mod:`.errors` types (a 429 carries
    the Retry-After ``http`` saw with it)."""
    try:
        yield
    except ProviderError:
        raise
    except TwilioRestException as exc:
        error = error_from_response(exc.status, _int_or_none(exc.code), str(exc.msg))
        if isinstance(error, RateLimited) and http is not None:
            error.retry_after, http.last_retry_after = http.last_retry_after, None
        raise error from exc
    except TwilioServiceException as exc:
        raise error_from_response(exc.status, exc.code, exc.detail or exc.title) from exc
    except TwilioException as exc:
        raise _from_page_exception(exc) from exc
    except aiohttp.ClientConnectorError as exc:
        raise ProviderUnreachable(f"cannot connect to provider: {exc}") from exc
    except TimeoutError as exc:
        raise UnknownOutcome("provider request timed out") from exc
    except aiohttp.ClientError as exc:
        raise UnknownOutcome(f"provider connection failed: {type(exc).__name__}") from exc
    except ValueError as exc:  # unparsable JSON in a 2xx answer
        raise UnknownOutcome(f"unreadable provider response: {exc}") from exc


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _from_page_exception(exc: TwilioException) -> ProviderError:
    """List pages fail with a bare TwilioException carrying the HTTP response."""
    response = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], Response) else None
    if response is None:
        return UnknownOutcome(str(exc))
    code, message = None, f"HTTP {response.status_code}"
    try:
        payload = json.loads(response.text)
        code = _int_or_none(payload.get("code"))
        message = str(payload.get("message") or message)
    except (ValueError, AttributeError):
        pass
    return error_from_response(response.status_code, code, message)


def _utc(moment: datetime) -> datetime:
    """The SDK formats datetimes with strftime and a literal Z: give it UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _sent_message(instance: Any) -> SentMessage:
    return SentMessage(
        sid=instance.sid,
        status=instance.status or "",
        to=instance.to or "",
        segments=_int_or_none(instance.num_segments) or 0,
        date_created=instance.date_created,
        body=instance.body,
        error_code=_int_or_none(instance.error_code),
    )


class TwilioProvider:
    """Send SMS and start calls through Twilio (or the simulator at ``api_base``).

    Must be constructed inside a running event loop (the HTTP session is created in
    the constructor); call :meth:`close` when done.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str = "https://api.twilio.com",
        timeout: float = 10.0,
        max_connections: int = 100,
    ) -> None:
        self.from_number = from_number
        self.http_client = RoutedAsyncHttpClient(
            api_base=api_base, timeout=timeout, max_connections=max_connections
        )
        self._client = Client(account_sid, auth_token, http_client=self.http_client)

    async def send_sms(
        self,
        to: str,
        body: str,
        *,
        status_callback: str | None = None,
        validity_period: int | None = None,
        sender: str | None = None,
        media_url: Sequence[str] | None = None,
    ) -> SentMessage:
        """Create one outbound SMS. Raises a :class:`ProviderError` subclass on failure.

        ``validity_period`` (seconds) is capped at Twilio's 36,000; below 1 the message
        would already be stale, which is the caller's bug, so it raises ValueError.
        ``sender`` is the From number (default ``from_number``), or a Messaging Service
        SID (``MG…``), then sent as ``MessagingServiceSid`` instead of From.
        ``media_url`` makes it an MMS: Twilio fetches each URL (``MediaUrl``, at most 10)
        and sends the picture with the text (twilio.mms; not to Dutch mobile numbers).
        """
        sender = sender or self.from_number
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if sender.startswith("MG"):
            kwargs["messaging_service_sid"] = sender
        else:
            kwargs["from_"] = sender
        if status_callback:
            kwargs["status_callback"] = status_callback
        if validity_period is not None:
            if validity_period < 1:
                raise ValueError("validity_period must be at least 1 second")
            kwargs["validity_period"] = min(int(validity_period), MAX_VALIDITY_PERIOD)
        if media_url:
            kwargs["media_url"] = list(media_url)[:10]
        with _provider_errors(self.http_client):
            instance = await self._client.messages.create_async(**kwargs)
        log.debug("sms created sid=%s segments=%s", instance.sid, instance.num_segments)
        return _sent_message(instance)

    async def start_call(
        self,
        to: str,
        *,
        url: str,
        status_callback: str | None = None,
        machine_detection: bool = False,
        timeout: int | None = None,  # noqa: ASYNC109 - Twilio's ring timeout, not ours
        status_callback_events: Sequence[str] | None = None,
        time_limit: int | None = None,
    ) -> StartedCall:
        """Start an outbound call that fetches its TwiML from ``url``.

        ``machine_detection`` asks for AnsweredBy with ``DetectMessageEnd``, so a
        voicemail gets the message after the beep. ``status_callback_events``
        defaults to Twilio's default (``completed`` only).
        """
        kwargs: dict[str, Any] = {"to": to, "from_": self.from_number, "url": url}
        if status_callback:
            kwargs["status_callback"] = status_callback
            if status_callback_events:
                kwargs["status_callback_event"] = list(status_callback_events)
        if machine_detection:
            kwargs["machine_detection"] = "DetectMessageEnd"
        if timeout is not None:
            kwargs["timeout"] = timeout
        if time_limit is not None:  # seconds the call may last (Twilio's TimeLimit)
            kwargs["time_limit"] = time_limit
        with _provider_errors(self.http_client):
            instance = await self._client.calls.create_async(**kwargs)
        log.debug("call created sid=%s", instance.sid)
        return StartedCall(sid=instance.sid, status=instance.status or "", to=instance.to or to)

    async def find_messages(self, to: str, sent_after: datetime) -> list[SentMessage]:
        """Outbound messages to ``to`` sent at or after ``sent_after`` (whole seconds).

        Used to reconcile a send whose outcome is unknown before resending it. Listed by
        recipient alone (newest first) and filtered on the creation time here: Twilio's
        DateSent filter may leave out a message still queued (it has no date_sent yet),
        which would be resent.
        """
        since = _utc(sent_after).replace(microsecond=0)
        with _provider_errors():
            instances = await self._client.messages.list_async(to=to, page_size=100, limit=_FIND_LIMIT)
        return [
            _sent_message(i)
            for i in instances
            if not (i.direction or "").startswith("inbound")
            and (i.date_created is None or _utc(i.date_created) >= since)
        ]

    async def find_calls(self, to: str, started_after: datetime) -> list[StartedCall]:
        """Outbound calls to ``to`` created at or after ``started_after``: reconciles a
        call whose outcome is unknown, so nobody is rung twice for one alert."""
        since = _utc(started_after).replace(microsecond=0)
        with _provider_errors():
            instances = await self._client.calls.list_async(to=to, page_size=100, limit=_FIND_LIMIT)
        return [
            StartedCall(sid=i.sid, status=i.status or "", to=i.to or to)
            for i in instances
            if not (i.direction or "").startswith("inbound")
            and (i.date_created is None or _utc(i.date_created) >= since)
        ]

    async def fetch_message(self, sid: str) -> SentMessage:
        """One message by SID (status checks, tests)."""
        with _provider_errors():
            instance = await self._client.messages(sid).fetch_async()
        return _sent_message(instance)

    async def fetch_call(self, sid: str) -> StartedCall:
        """One call by SID, with its current status (status checks)."""
        with _provider_errors():
            instance = await self._client.calls(sid).fetch_async()
        return StartedCall(sid=instance.sid, status=instance.status or "", to=instance.to or "")

    @property
    def api_origin(self) -> tuple[str, str, str]:
        """Scheme, host[:port] and path prefix of the API base: the only place media are
        fetched from (a media URL anywhere else is never requested)."""
        http = self.http_client
        return http._scheme, http._netloc, http._prefix

    async def fetch_media(self, url: str, *, max_bytes: int, timeout: float) -> FetchedMedia:  # noqa: ASYNC109
        """GET one inbound message's media with the account's credentials (HTTP Basic, as
        Twilio requires when "HTTP Basic Auth for media" is on), reading at most
        ``max_bytes`` (streamed: a longer body, or a Content-Length above it, stops the
        read) within ``timeout`` seconds for the whole exchange. The caller checks that
        ``url`` is on :attr:`api_origin`. Redirects (Twilio answers with one to its
        media store) are followed, at most 3; aiohttp drops the credentials when one
        leaves the origin. Transport failures raise :class:`ProviderUnreachable` or
        :class:`UnknownOutcome` (both worth a retry)."""
        http = self.http_client
        assert isinstance(http.session, aiohttp.ClientSession)
        headers = {"Authorization": _basic_auth((self._client.username, self._client.password))}
        try:
            async with asyncio.timeout(timeout):
                async with http.session.get(
                    url,
                    headers=headers,
                    allow_redirects=True,
                    max_redirects=3,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                ) as response:
                    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                    if response.status != 200:
                        return FetchedMedia(response.status, content_type, None)
                    if (response.content_length or 0) > max_bytes:
                        return FetchedMedia(response.status, content_type, None, too_large=True)
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.content.iter_chunked(65536):
                        size += len(chunk)
                        if size > max_bytes:
                            return FetchedMedia(response.status, content_type, None, too_large=True)
                        chunks.append(chunk)
                    return FetchedMedia(response.status, content_type, b"".join(chunks))
        except aiohttp.ClientConnectorError as exc:
            raise ProviderUnreachable(f"cannot connect to the media host: {type(exc).__name__}") from exc
        except TimeoutError as exc:
            raise UnknownOutcome("media fetch timed out") from exc
        except aiohttp.ClientError as exc:
            raise UnknownOutcome(f"media fetch failed: {type(exc).__name__}") from exc

    async def delete_media(self, message_sid: str, media_sid: str) -> None:
        """DELETE the Media resource of an inbound message (Twilio keeps media until
        deleted; a 404 means it is gone already and counts as done)."""
        try:
            with _provider_errors(self.http_client):
                await self._client.messages(message_sid).media(media_sid).delete_async()
        except ProviderError as exc:
            if exc.status != 404:
                raise

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http_client.close()

    async def __aenter__(self) -> TwilioProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
