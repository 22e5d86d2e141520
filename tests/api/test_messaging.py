"""The provider boundary against the bundled simulator, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from burgerwacht.messaging import (
    DeliveryErrorClass,
    InvalidNumber,
    NotMobile,
    OptedOut,
    PermanentFailure,
    ProviderError,
    ProviderRejected,
    ProviderUnreachable,
    QueueOverflow,
    RateLimited,
    SentMessage,
    TwilioProvider,
    UnknownOutcome,
    classify_delivery_error,
    sign,
    sms_reply,
    verify_signature,
)
from burgerwacht.messaging.errors import error_from_response
from burgerwacht.messaging.provider import RoutedAsyncHttpClient
from burgerwacht.sandbox import SandboxConfig, create_sandbox_app

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token"
SERVICE_NUMBER = "+3197010000000"
RESIDENT = "+31612345678"

ServerFactory = Callable[..., Awaitable[TestServer]]


# --- fixtures -----------------------------------------------------------------------


class Receiver:
    """A stand-in for the Burgerwacht service: validates signatures, records webhooks."""

    def __init__(self) -> None:
        self.public_url = ""
        self.received: list[tuple[str, dict[str, str]]] = []

    def of(self, path: str) -> list[dict[str, str]]:
        return [params for p, params in self.received if p == path]

    async def handle(self, request: web.Request) -> web.Response:
        params = await verify_signature(request, auth_token=AUTH_TOKEN, public_url=self.public_url)
        self.received.append((request.path, dict(params)))
        if request.path == "/twilio/sms":
            return sms_reply(f"Ontvangen: {params['Body']}")
        return web.Response(text="")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        return app


@pytest.fixture
async def receiver(aiohttp_server: ServerFactory) -> Receiver:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    receiver.public_url = str(server.make_url("")).rstrip("/")
    return receiver


@pytest.fixture
async def sandbox(aiohttp_server: ServerFactory, receiver: Receiver) -> TestServer:
    config = SandboxConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        service_url=receiver.public_url,
        hang_seconds=2.0,
        invalid_numbers={"+31600000001"},
        opted_out_numbers={"+31600000002"},
        not_mobile_numbers={"+31200000003"},
        landline_numbers={"+31200000004"},
    )
    return await aiohttp_server(create_sandbox_app(config))


@pytest.fixture
async def provider(sandbox: TestServer) -> AsyncIterator[TwilioProvider]:
    provider = TwilioProvider(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=SERVICE_NUMBER,
        api_base=str(sandbox.make_url("")),
        timeout=0.3,
        max_connections=7,
    )
    yield provider
    await provider.close()


@pytest.fixture
async def control(sandbox: TestServer) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Call a /sandbox endpoint and return its JSON."""
    async with aiohttp.ClientSession() as session:

        async def call(method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
            async with session.request(method, sandbox.make_url(path), json=payload) as response:
                return await response.json()

        yield call


async def flush(control: Callable[..., Awaitable[Any]]) -> None:
    result = await control("POST", "/sandbox/flush?timeout=5")
    assert result["idle"], result


# --- sending ------------------------------------------------------------------------


async def test_send_sms_returns_sent_message(provider: TwilioProvider) -> None:
    sent = await provider.send_sms(RESIDENT, "Let op: vermist meisje (8), blauwe jas.")
    assert isinstance(sent, SentMessage)
    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert sent.status == "queued"
    assert sent.to == RESIDENT
    assert sent.segments == 1
    assert sent.date_created is not None and sent.date_created.tzinfo is not None


async def test_segments_follow_the_encoding(provider: TwilioProvider) -> None:
    assert (await provider.send_sms(RESIDENT, "a" * 161)).segments == 2
    assert (await provider.send_sms(RESIDENT, "ë" * 71)).segments == 2


async def test_validity_period_is_capped_and_stored(provider: TwilioProvider, control: Any) -> None:
    await provider.send_sms(RESIDENT, "kort", validity_period=600)
    await provider.send_sms(RESIDENT, "lang", validity_period=86_400)
    items = (await control("GET", f"/sandbox/messages?to={RESIDENT}"))["items"]  # unencoded + is fine
    assert [m["validity_period"] for m in items] == [600, 36_000]
    with pytest.raises(ValueError):
        await provider.send_sms(RESIDENT, "te laat", validity_period=0)


async def test_start_call_returns_started_call(provider: TwilioProvider, receiver: Receiver) -> None:
    call = await provider.start_call(RESIDENT, url=receiver.public_url + "/twilio/voice/alert/1")
    assert call.sid.startswith("CA") and len(call.sid) == 34
    assert call.status == "queued"
    assert call.to == RESIDENT


async def test_find_messages_by_recipient_and_time(provider: TwilioProvider) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    first = await provider.send_sms(RESIDENT, "een")
    second = await provider.send_sms(RESIDENT, "twee")
    await provider.send_sms("+31687654321", "ander")
    found = await provider.find_messages(RESIDENT, before)
    assert [m.sid for m in found] == [second.sid, first.sid]  # newest first, like Twilio
    assert await provider.find_messages(RESIDENT, datetime.now(UTC) + timedelta(minutes=1)) == []
    # A naive datetime is taken as UTC, an aware one is converted.
    local = before.astimezone(UTC).replace(tzinfo=None)
    assert len(await provider.find_messages(RESIDENT, local)) == 2


async def test_sdk_pagination_follows_next_page_uri(provider: TwilioProvider, sandbox: TestServer) -> None:
    sids = {(await provider.send_sms(RESIDENT, f"bericht {i}")).sid for i in range(7)}
    http = RoutedAsyncHttpClient(api_base=str(sandbox.make_url("")), timeout=2, max_connections=2)
    try:
        client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
        listed = await client.messages.list_async(to=RESIDENT, page_size=3)
        since = datetime.now(UTC) - timedelta(minutes=1)
        filtered = await client.messages.list_async(to=RESIDENT, date_sent_after=since, page_size=2)
    finally:
        await http.close()
    assert {m.sid for m in listed} == sids
    assert len(listed) == 7
    assert [m.sid for m in filtered] == [m.sid for m in listed]


# --- the HTTP client ----------------------------------------------------------------


def test_routing_rewrites_every_domain_and_keeps_path_and_query() -> None:
    async def build() -> RoutedAsyncHttpClient:
        return RoutedAsyncHttpClient(api_base="http://127.0.0.1:9999/sim", timeout=1, max_connections=3)

    client = asyncio.run(build())
    try:
        assert (
            client.route("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=%2B31&Page=1")
            == "http://127.0.0.1:9999/sim/2010-04-01/Accounts/AC1/Messages.json?To=%2B31&Page=1"
        )
        assert (
            client.route("https://messaging.twilio.com/v1/Services")
            == "http://127.0.0.1:9999/sim/v1/Services"
        )
        assert client.connector_limit == 3
    finally:
        asyncio.run(client.close())


def test_routing_rejects_a_base_without_host() -> None:
    with pytest.raises(ValueError):
        RoutedAsyncHttpClient(api_base="localhost:8080", timeout=1, max_connections=1)


async def test_connector_limit_is_max_connections(provider: TwilioProvider) -> None:
    assert provider.http_client.connector_limit == 7


# --- status callbacks and signatures --------------------------------------------------


async def test_status_callbacks_arrive_signed_and_in_order(
    provider: TwilioProvider, receiver: Receiver, control: Any
) -> None:
    sent = await provider.send_sms(
        RESIDENT, "Let op", status_callback=receiver.public_url + "/twilio/sms/status"
    )
    await flush(control)
    callbacks = receiver.of("/twilio/sms/status")
    assert [c["MessageStatus"] for c in callbacks] == ["sent", "delivered"]
    assert {c["MessageSid"] for c in callbacks} == {sent.sid}
    assert callbacks[0]["To"] == RESIDENT and callbacks[0]["From"] == SERVICE_NUMBER
    posted = (await control("GET", "/sandbox/callbacks?kind=message-status"))["items"]
    assert [c["http_status"] for c in posted] == [200, 200]  # the receiver accepted both signatures


async def test_landline_is_undelivered_with_30006(
    provider: TwilioProvider, receiver: Receiver, control: Any
) -> None:
    await provider.send_sms(
        "+31200000004", "Let op", status_callback=receiver.public_url + "/twilio/sms/status"
    )
    await flush(control)
    final = receiver.of("/twilio/sms/status")[-1]
    assert (final["MessageStatus"], final["ErrorCode"]) == ("undelivered", "30006")
    assert classify_delivery_error(final["ErrorCode"]).fallback_to_voice


@pytest.fixture
async def guarded(aiohttp_server: ServerFactory) -> TestServer:
    """An app behind a 'TLS proxy': it validates against a public URL it is not served on."""

    async def handler(request: web.Request) -> web.Response:
        params = await verify_signature(request, auth_token=AUTH_TOKEN, public_url="https://bw.example.nl/")
        return web.json_response(dict(params))

    app = web.Application()
    app.router.add_post("/twilio/sms", handler)
    return await aiohttp_server(app)


async def test_verify_signature_uses_the_public_url(guarded: TestServer) -> None:
    params = {"From": RESIDENT, "Body": "Ik zag hem bij het station", "MessageSid": "SM" + "0" * 32}
    good = sign(AUTH_TOKEN, "https://bw.example.nl/twilio/sms?x=1", params)
    local = sign(AUTH_TOKEN, str(guarded.make_url("/twilio/sms?x=1")), params)
    async with aiohttp.ClientSession() as session:
        url = guarded.make_url("/twilio/sms?x=1")
        async with session.post(url, data=params, headers={"X-Twilio-Signature": good}) as response:
            assert response.status == 200
            assert (await response.json())["Body"] == params["Body"]
        for headers in ({"X-Twilio-Signature": local}, {"X-Twilio-Signature": "Zm9yZ2Vk"}, {}):
            async with session.post(url, data=params, headers=headers) as response:
                assert response.status == 403
                assert response.reason == "invalid Twilio signature"
        tampered = {**params, "Body": "iets anders"}
        async with session.post(url, data=tampered, headers={"X-Twilio-Signature": good}) as response:
            assert response.status == 403


def test_sign_matches_the_sdk_validator() -> None:
    params = {"b": "2", "a": "1"}
    signature = sign(AUTH_TOKEN, "https://bw.example.nl/x", params)
    assert RequestValidator(AUTH_TOKEN).validate("https://bw.example.nl/x", params, signature)


# --- failures become typed errors -----------------------------------------------------


async def test_rate_limit_is_rate_limited_and_nothing_created(provider: TwilioProvider, control: Any) -> None:
    await control("POST", "/sandbox/scenario", {"sms_per_second": 1})
    await provider.send_sms(RESIDENT, "een")
    with pytest.raises(RateLimited) as caught:
        await provider.send_sms(RESIDENT, "twee")
    assert (caught.value.status, caught.value.code, caught.value.retry) == (429, 20429, True)
    assert len((await control("GET", "/sandbox/messages"))["items"]) == 1


async def test_server_error_is_unknown_outcome(provider: TwilioProvider, control: Any) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    await control("POST", "/sandbox/scenario", {"error_rate": 1.0})
    with pytest.raises(UnknownOutcome) as caught:
        await provider.send_sms(RESIDENT, "Let op")
    assert caught.value.status == 500
    assert caught.value.reconcile and not caught.value.retry
    assert await provider.find_messages(RESIDENT, start) == []


async def test_timeouts_are_unknown_outcomes_resolved_by_find_messages(
    provider: TwilioProvider, control: Any
) -> None:
    await control("POST", "/sandbox/scenario", {"timeout_rate": 1.0, "seed": 3})
    start = datetime.now(UTC) - timedelta(seconds=1)
    began = time.monotonic()
    results = await asyncio.gather(
        *(provider.send_sms(RESIDENT, f"poging {i}") for i in range(6)), return_exceptions=True
    )
    assert time.monotonic() - began < 1.5  # the per-request timeout held (hang is 2 s)
    assert all(isinstance(r, UnknownOutcome) for r in results), results
    await control("POST", "/sandbox/scenario", {"timeout_rate": 0.0})
    found = {m.body for m in await provider.find_messages(RESIDENT, start)}
    created = {m["body"] for m in (await control("GET", "/sandbox/messages"))["items"]}
    assert found == created
    assert 0 < len(created) < 6  # some hung before creating, some after


@pytest.mark.parametrize(
    ("number", "error", "code"),
    [
        ("+31600000001", InvalidNumber, 21211),
        ("+31600000002", OptedOut, 21610),
        ("+31200000003", NotMobile, 21614),
        ("+15005550001", InvalidNumber, 21211),  # Twilio's magic test number
        ("0612345678", InvalidNumber, 21211),  # not E.164
    ],
)
async def test_recipient_errors_are_permanent(
    provider: TwilioProvider, number: str, error: type[ProviderError], code: int
) -> None:
    with pytest.raises(error) as caught:
        await provider.send_sms(number, "Let op")
    assert isinstance(caught.value, PermanentFailure)
    assert (caught.value.status, caught.value.code, caught.value.retry) == (400, code, False)


async def test_wrong_credentials_are_rejected(sandbox: TestServer) -> None:
    async with TwilioProvider(
        account_sid=ACCOUNT_SID,
        auth_token="wrong-token",
        from_number=SERVICE_NUMBER,
        api_base=str(sandbox.make_url("")),
    ) as provider:
        with pytest.raises(ProviderRejected) as caught:
            await provider.send_sms(RESIDENT, "Let op")
        assert (caught.value.status, caught.value.code) == (401, 20003)
        with pytest.raises(ProviderRejected) as listed:
            await provider.find_messages(RESIDENT, datetime.now(UTC))
        assert (listed.value.status, listed.value.code) == (401, 20003)


async def test_unreachable_provider_is_a_safe_unknown_outcome() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with TwilioProvider(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=SERVICE_NUMBER,
        api_base=f"http://127.0.0.1:{port}",
        timeout=1,
    ) as provider:
        with pytest.raises(ProviderUnreachable) as caught:
            await provider.send_sms(RESIDENT, "Let op")
    assert isinstance(caught.value, UnknownOutcome)


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (429, 20429, RateLimited),
        (429, None, RateLimited),
        (400, 21611, QueueOverflow),
        (400, 21211, InvalidNumber),
        (400, 21614, NotMobile),
        (400, 21610, OptedOut),
        (400, 21408, ProviderRejected),
        (401, 20003, ProviderRejected),
        (500, 20500, UnknownOutcome),
        (503, None, UnknownOutcome),
    ],
)
def test_error_mapping(status: int, code: int | None, error: type[ProviderError]) -> None:
    mapped = error_from_response(status, code, "boom")
    assert type(mapped) is error
    assert (mapped.status, mapped.code, mapped.message) == (status, code, "boom")


def test_retry_semantics() -> None:
    assert RateLimited.retry and QueueOverflow.retry
    assert not any(e.retry for e in (InvalidNumber, NotMobile, OptedOut, ProviderRejected, UnknownOutcome))
    assert UnknownOutcome.reconcile and not RateLimited.reconcile


@pytest.mark.parametrize(
    ("code", "cls", "retry_once", "voice", "permanent"),
    [
        (30003, DeliveryErrorClass.UNREACHABLE, True, True, False),
        (30006, DeliveryErrorClass.LANDLINE, False, True, True),
        (30005, DeliveryErrorClass.UNKNOWN_HANDSET, False, False, True),
        (30007, DeliveryErrorClass.FILTERED, False, False, True),
        (30008, DeliveryErrorClass.UNKNOWN, True, False, False),
        (30001, DeliveryErrorClass.QUEUE_OVERFLOW, True, False, False),
        (21611, DeliveryErrorClass.QUEUE_OVERFLOW, True, False, False),
        (21610, DeliveryErrorClass.OPTED_OUT, False, False, True),
        (21211, DeliveryErrorClass.INVALID, False, False, True),
        (21614, DeliveryErrorClass.INVALID, False, False, True),
        (30410, DeliveryErrorClass.OTHER, False, False, False),
        (None, DeliveryErrorClass.OTHER, False, False, False),
    ],
)
def test_classify_delivery_error(
    code: int | None, cls: DeliveryErrorClass, retry_once: bool, voice: bool, permanent: bool
) -> None:
    result = classify_delivery_error(code)
    assert result is cls
    assert (result.retry_once, result.fallback_to_voice, result.permanent) == (retry_once, voice, permanent)
    assert classify_delivery_error(str(code) if code else "") is cls
    assert result.slow_down == (cls is DeliveryErrorClass.QUEUE_OVERFLOW)


# --- TwiML --------------------------------------------------------------------------


def test_sms_reply_twiml() -> None:
    response = sms_reply("Bedankt & tot ziens <3")
    assert response.content_type == "text/xml"
    assert response.text is not None
    assert "<Response><Message>Bedankt &amp; tot ziens &lt;3</Message></Response>" in response.text
    empty = sms_reply(None)
    assert empty.text is not None and empty.text.endswith("<Response />")


async def test_a_messaging_service_sends_instead_of_from(provider: TwilioProvider, control) -> None:
    service = "MG" + "1" * 32
    await provider.send_sms(RESIDENT, "via the service", sender=service)
    await provider.send_sms(RESIDENT, "from a pool number", sender="+3197010000099")
    items = (await control("GET", f"/sandbox/messages?to={RESIDENT}"))["items"]
    assert [(m["body"], m["from"]) for m in items] == [
        ("via the service", service),
        ("from a pool number", "+3197010000099"),
    ]


async def test_a_per_sender_limit_answers_20429_with_retry_after(provider: TwilioProvider, control) -> None:
    await control("POST", "/sandbox/scenario", {"sms_per_sender_per_second": 1})
    await provider.send_sms(RESIDENT, "first", sender="+3197010000098")
    with pytest.raises(RateLimited) as refused:
        await provider.send_sms(RESIDENT, "second", sender="+3197010000098")
    assert refused.value.code == 20429 and refused.value.retry_after == 1
    await provider.send_sms(RESIDENT, "another sender has its own bucket", sender="+3197010000097")
    counters = (await control("GET", "/sandbox/stats"))["requests"]
    assert counters["rate_limited_sender"] == 1 and counters["rate_limited"] == 1
    assert "rate_limited_account" not in counters
