"""The Twilio simulator: REST shapes and codes, scenarios, callbacks, calls, injection."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.twiml.voice_response import Gather, VoiceResponse

from burgerwacht.messaging import sms_reply, twiml_response, verify_signature
from burgerwacht.sandbox import SandboxConfig, ScenarioError, apply_scenario, create_sandbox_app
from burgerwacht.sandbox.voice import take_digits

ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "sandbox-test-token"
SERVICE_NUMBER = "+3197010000000"
RESIDENT = "+31611111111"
API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()}
SID = re.compile(r"^(SM|CA|RE)[0-9a-f]{32}$")

ServerFactory = Callable[..., Awaitable[TestServer]]


# --- a tiny service that speaks TwiML -----------------------------------------------------


class Service:
    """Stands in for Burgerwacht's webhooks; every request must carry a valid signature."""

    def __init__(self) -> None:
        self.public_url = ""
        self.received: list[tuple[str, dict[str, str]]] = []
        self.sms_status = 200

    def of(self, path: str) -> list[dict[str, str]]:
        return [params for p, params in self.received if p == path]

    async def _verified(self, request: web.Request) -> dict[str, str]:
        params = dict(await verify_signature(request, auth_token=AUTH_TOKEN, public_url=self.public_url))
        self.received.append((request.path, params))
        return params

    async def sms(self, request: web.Request) -> web.Response:
        params = await self._verified(request)
        if self.sms_status != 200:
            raise web.HTTPInternalServerError()
        return sms_reply(f"Bedankt voor uw tip: {params['Body']}")

    async def plain(self, request: web.Request) -> web.Response:
        await self._verified(request)
        return web.Response(text="")

    async def alert(self, request: web.Request) -> web.Response:
        await self._verified(request)
        response = VoiceResponse()
        response.say("Dit is Burgernet.", voice="Polly.Lotte", language="nl-NL")
        gather = Gather(num_digits=1, action="/twilio/voice/menu/1")
        gather.say("Toets 2 als u iets heeft gezien.", voice="Polly.Lotte", language="nl-NL")
        response.append(gather)
        response.say("Geen keuze ontvangen.")
        return twiml_response(response)

    async def menu(self, request: web.Request) -> web.Response:
        params = await self._verified(request)
        response = VoiceResponse()
        if params.get("Digits") == "2":
            response.say("Spreek uw tip in na de toon.", language="nl-NL")
            response.record(
                max_length=60,
                action="/twilio/voice/recorded",
                recording_status_callback="/twilio/voice/recording",
            )
        else:
            response.say("Tot ziens.")
            response.hangup()
        return twiml_response(response)

    async def recorded(self, request: web.Request) -> web.Response:
        await self._verified(request)
        response = VoiceResponse()
        response.say("Bedankt.")
        response.hangup()
        return twiml_response(response)

    async def tipline(self, request: web.Request) -> web.Response:
        await self._verified(request)
        response = VoiceResponse()
        response.say("Welkom bij de tiplijn.")
        response.record(
            max_length=120,
            action="/twilio/voice/recorded",
            recording_status_callback="/twilio/voice/recording",
        )
        return twiml_response(response)

    async def loop(self, request: web.Request) -> web.Response:
        await self._verified(request)
        response = VoiceResponse()
        response.say("Nog eens.")
        response.redirect("/twilio/voice/loop")
        return twiml_response(response)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/twilio/sms", self.sms)
        app.router.add_post("/twilio/voice/alert/1", self.alert)
        app.router.add_post("/twilio/voice/menu/1", self.menu)
        app.router.add_post("/twilio/voice/recorded", self.recorded)
        app.router.add_post("/twilio/voice/tipline", self.tipline)
        app.router.add_post("/twilio/voice/loop", self.loop)
        app.router.add_post("/{tail:.*}", self.plain)
        return app


@pytest.fixture
async def service(aiohttp_server: ServerFactory) -> Service:
    service = Service()
    server = await aiohttp_server(service.app())
    service.public_url = str(server.make_url("")).rstrip("/")
    return service


@pytest.fixture
async def sandbox(aiohttp_server: ServerFactory, service: Service) -> TestServer:
    config = SandboxConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        service_url=service.public_url,
        phone_number=SERVICE_NUMBER,
    )
    return await aiohttp_server(create_sandbox_app(config))


class Api:
    """Raw HTTP against the simulator."""

    def __init__(self, server: TestServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session

    async def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> tuple[int, Any]:
        headers = AUTH if auth else {}
        async with self.session.request(method, self.server.make_url(path), headers=headers, **kwargs) as r:
            return r.status, await r.json(content_type=None)

    async def create_sms(self, to: str = RESIDENT, body: str = "Let op", **extra: str) -> tuple[int, Any]:
        return await self.request(
            "POST", f"{API}/Messages.json", data={"To": to, "From": SERVICE_NUMBER, "Body": body, **extra}
        )

    async def scenario(self, **changes: Any) -> Any:
        status, body = await self.request("POST", "/sandbox/scenario", json=changes)
        assert status == 200, body
        return body

    async def flush(self) -> None:
        status, body = await self.request("POST", "/sandbox/flush?timeout=5")
        assert status == 200, body


@pytest.fixture
async def api(sandbox: TestServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(sandbox, session)


# --- REST: auth, validation, shapes -----------------------------------------------------


async def test_requires_basic_auth(api: Api) -> None:
    status, body = await api.request("POST", f"{API}/Messages.json", auth=False, data={"To": RESIDENT})
    assert status == 401
    assert body == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


async def test_other_account_in_path_is_not_found(api: Api) -> None:
    status, body = await api.request("GET", f"/2010-04-01/Accounts/AC{'9' * 32}/Messages.json")
    assert (status, body["code"]) == (404, 20404)


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": SERVICE_NUMBER, "Body": "x"}, 21604),
        ({"To": RESIDENT, "Body": "x"}, 21603),
        ({"To": RESIDENT, "From": SERVICE_NUMBER}, 21602),
        ({"To": "not-a-number", "From": SERVICE_NUMBER, "Body": "x"}, 21211),
        ({"To": RESIDENT, "From": SERVICE_NUMBER, "Body": "x" * 1601}, 21617),
        ({"To": RESIDENT, "From": SERVICE_NUMBER, "Body": "x", "ValidityPeriod": "36001"}, 21620),
        ({"To": RESIDENT, "From": SERVICE_NUMBER, "Body": "x", "StatusCallback": "nope"}, 21609),
    ],
)
async def test_message_validation_codes(api: Api, form: dict[str, str], code: int) -> None:
    status, body = await api.request("POST", f"{API}/Messages.json", data=form)
    assert (status, body["code"], body["status"]) == (400, code, 400)
    assert body["more_info"].endswith(str(code))


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": SERVICE_NUMBER, "Url": "http://x.example/t"}, 21201),
        ({"To": RESIDENT, "Url": "http://x.example/t"}, 21213),
        ({"To": RESIDENT, "From": SERVICE_NUMBER}, 21205),
        ({"To": "12", "From": SERVICE_NUMBER, "Url": "http://x.example/t"}, 21211),
    ],
)
async def test_call_validation_codes(api: Api, form: dict[str, str], code: int) -> None:
    status, body = await api.request("POST", f"{API}/Calls.json", data=form)
    assert (status, body["code"]) == (400, code)


async def test_message_resource_shape(api: Api) -> None:
    status, created = await api.create_sms(body="Vermist: Zoë (8)", ValidityPeriod="900")
    assert status == 201
    assert SID.match(created["sid"]) and created["sid"].startswith("SM")
    assert created["account_sid"] == ACCOUNT_SID
    assert (created["to"], created["from"], created["status"]) == (RESIDENT, SERVICE_NUMBER, "queued")
    assert created["num_segments"] == "1" and created["num_media"] == "0"
    assert created["direction"] == "outbound-api"
    assert created["error_code"] is None and created["price"] is None
    assert created["uri"] == f"{API}/Messages/{created['sid']}.json"
    assert parsedate_to_datetime(created["date_created"]).utcoffset() is not None
    status, fetched = await api.request("GET", created["uri"])
    assert status == 200 and fetched["sid"] == created["sid"]
    status, missing = await api.request("GET", f"{API}/Messages/SM{'0' * 32}.json")
    assert (status, missing["code"]) == (404, 20404)


async def test_list_paging_newest_first(api: Api) -> None:
    sids = [(await api.create_sms(body=f"{i}"))[1]["sid"] for i in range(5)]
    await api.create_sms(to="+31622222222")
    status, page = await api.request("GET", f"{API}/Messages.json", params={"To": RESIDENT, "PageSize": "2"})
    assert status == 200
    paging = {
        "end",
        "first_page_uri",
        "next_page_uri",
        "page",
        "page_size",
        "previous_page_uri",
        "start",
        "uri",
    }
    assert set(page) == paging | {"messages"}
    seen = [m["sid"] for m in page["messages"]]
    while page["next_page_uri"]:
        status, page = await api.request("GET", page["next_page_uri"])
        seen += [m["sid"] for m in page["messages"]]
    assert seen == list(reversed(sids))
    assert page["page"] == 2 and page["start"] == 4


async def test_list_date_filters(api: Api) -> None:
    await api.create_sms()
    params = {"To": RESIDENT}
    _, today = await api.request("GET", f"{API}/Messages.json", params={**params, "DateSent>": "2000-01-01"})
    _, future = await api.request(
        "GET", f"{API}/Messages.json", params={**params, "DateSent>": "2999-01-01T00:00:00Z"}
    )
    _, past = await api.request("GET", f"{API}/Messages.json", params={**params, "DateSent<": "2000-01-01"})
    assert (len(today["messages"]), len(future["messages"]), len(past["messages"])) == (1, 0, 0)


# --- scenarios ---------------------------------------------------------------------------


async def test_rate_limit_answers_429_and_creates_nothing(api: Api) -> None:
    await api.scenario(sms_per_second=2)
    statuses = [(await api.create_sms())[0] for _ in range(4)]
    assert statuses[:2] == [201, 201]
    assert 429 in statuses[2:]
    status, body = await api.create_sms()
    assert (status, body["code"]) == (429, 20429)
    _, stats = await api.request("GET", "/sandbox/stats")
    assert stats["messages"]["total"] == statuses.count(201)
    assert stats["requests"]["rate_limited"] >= 2


async def test_scenario_validation_and_reset(api: Api) -> None:
    status, body = await api.request("POST", "/sandbox/scenario", json={"nonsense": 1})
    assert status == 400 and "nonsense" in body["error"]
    status, _ = await api.request("POST", "/sandbox/scenario", json={"error_rate": 2})
    assert status == 400
    updated = await api.scenario(opted_out_numbers=[RESIDENT], call_digits={RESIDENT: "2"})
    assert updated["opted_out_numbers"] == [RESIDENT]
    assert (await api.create_sms())[1]["code"] == 21610
    await api.request("POST", "/sandbox/reset")
    assert (await api.create_sms())[0] == 201
    _, messages = await api.request("GET", "/sandbox/messages")
    assert len(messages["items"]) == 1


def test_apply_scenario_coerces_json() -> None:
    config = apply_scenario(
        SandboxConfig(), {"landline_numbers": ["+31201234567"], "latency": 1, "sms_per_second": None}
    )
    assert config.landline_numbers == {"+31201234567"}
    assert isinstance(config.latency, float)
    with pytest.raises(ScenarioError):
        apply_scenario(SandboxConfig(), {"callbacks": "yes"})


async def test_callbacks_reordered_and_duplicated(api: Api, service: Service) -> None:
    await api.scenario(reorder_rate=1.0, duplicate_rate=1.0)
    _, created = await api.create_sms(StatusCallback=service.public_url + "/twilio/sms/status")
    await api.flush()
    statuses = [c["MessageStatus"] for c in service.of("/twilio/sms/status")]
    assert statuses == ["delivered", "delivered", "sent", "sent"]
    _, fetched = await api.request("GET", created["uri"])
    assert fetched["status"] == "delivered"  # the record never moves backwards


async def test_callback_delay_spaces_steps(api: Api, service: Service) -> None:
    await api.scenario(callback_delay=0.2, full_status_callbacks=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await api.create_sms(StatusCallback=service.public_url + "/twilio/sms/status")
    await api.flush()
    assert loop.time() - started >= 0.55
    assert [c["MessageStatus"] for c in service.of("/twilio/sms/status")] == [
        "queued",
        "sending",
        "sent",
        "delivered",
    ]


async def test_failed_callback_is_recorded(api: Api) -> None:
    await api.create_sms(StatusCallback="http://127.0.0.1:9/unreachable")
    await api.flush()
    _, callbacks = await api.request("GET", "/sandbox/callbacks")
    assert len(callbacks["items"]) == 2
    assert all(c["http_status"] is None and c["error"] for c in callbacks["items"])


async def test_no_callbacks_lost_under_load(api: Api, service: Service) -> None:
    url = service.public_url + "/twilio/sms/status"
    results = await asyncio.gather(
        *(api.create_sms(to=f"+316{i:08d}", StatusCallback=url) for i in range(300))
    )
    assert all(status == 201 for status, _ in results)
    await api.flush()
    callbacks = service.of("/twilio/sms/status")
    assert len(callbacks) == 600
    delivered = {c["MessageSid"] for c in callbacks if c["MessageStatus"] == "delivered"}
    assert delivered == {body["sid"] for _, body in results}


# --- voice -------------------------------------------------------------------------------


async def test_outbound_call_runs_the_twiml(api: Api, service: Service) -> None:
    await api.scenario(call_digits={RESIDENT: "2"}, record_seconds=7)
    status, call = await api.request(
        "POST",
        f"{API}/Calls.json",
        data=[
            ("To", RESIDENT),
            ("From", SERVICE_NUMBER),
            ("Url", service.public_url + "/twilio/voice/alert/1"),
            ("StatusCallback", service.public_url + "/twilio/voice/status"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "answered completed"),
            ("MachineDetection", "DetectMessageEnd"),
        ],
    )
    assert status == 201 and SID.match(call["sid"]) and call["status"] == "queued"
    await api.flush()

    first = service.of("/twilio/voice/alert/1")[0]
    assert (first["CallSid"], first["CallStatus"], first["Direction"]) == (
        call["sid"],
        "in-progress",
        "outbound-api",
    )
    assert first["AnsweredBy"] == "human"
    assert service.of("/twilio/voice/menu/1")[0]["Digits"] == "2"
    recording = service.of("/twilio/voice/recording")[0]
    assert recording["RecordingSid"].startswith("RE") and recording["RecordingStatus"] == "completed"
    assert recording["RecordingUrl"].endswith(recording["RecordingSid"] + ".mp3")
    assert recording["RecordingDuration"] == "7"
    assert service.of("/twilio/voice/recorded")[0]["RecordingSid"] == recording["RecordingSid"]
    statuses = service.of("/twilio/voice/status")
    assert [(s["CallStatus"], s["SequenceNumber"]) for s in statuses] == [
        ("queued", "0"),
        ("in-progress", "1"),
        ("completed", "2"),
    ]
    assert int(statuses[-1]["CallDuration"]) > 0

    _, calls = await api.request("GET", "/sandbox/calls")
    (inspected,) = calls["items"]
    said = [t["text"] for t in inspected["transcript"]]
    assert said == [
        "Dit is Burgernet.",
        "Toets 2 als u iets heeft gezien.",
        "Spreek uw tip in na de toon.",
        "Bedankt.",
    ]
    assert inspected["transcript"][0]["voice"] == "Polly.Lotte"
    assert inspected["digits"] == ["2"] and inspected["status"] == "completed"
    async with api.session.get(inspected["recordings"][0]["url"]) as audio:
        assert audio.status == 200 and audio.content_type == "audio/mpeg"
    status, fetched = await api.request("GET", f"{API}/Calls/{call['sid']}.json")
    assert fetched["status"] == "completed" and fetched["answered_by"] == "human"


async def test_call_without_digits_falls_through_gather(api: Api, service: Service) -> None:
    await api.request(
        "POST",
        f"{API}/Calls.json",
        data={"To": RESIDENT, "From": SERVICE_NUMBER, "Url": service.public_url + "/twilio/voice/alert/1"},
    )
    await api.flush()
    _, calls = await api.request("GET", "/sandbox/calls")
    assert calls["items"][0]["transcript"][-1]["text"] == "Geen keuze ontvangen."
    assert not service.of("/twilio/voice/menu/1")


@pytest.mark.parametrize(
    ("scenario", "call_status", "answered_by"),
    [
        ({"busy_numbers": [RESIDENT]}, "busy", None),
        ({"no_answer_numbers": [RESIDENT]}, "no-answer", None),
        ({"machine_numbers": [RESIDENT]}, "completed", "machine_end_beep"),
    ],
)
async def test_call_outcomes(
    api: Api, service: Service, scenario: dict[str, Any], call_status: str, answered_by: str | None
) -> None:
    await api.scenario(**scenario)
    await api.request(
        "POST",
        f"{API}/Calls.json",
        data={
            "To": RESIDENT,
            "From": SERVICE_NUMBER,
            "Url": service.public_url + "/twilio/voice/alert/1",
            "StatusCallback": service.public_url + "/twilio/voice/status",
            "MachineDetection": "DetectMessageEnd",
        },
    )
    await api.flush()
    (completed,) = service.of("/twilio/voice/status")
    assert completed["CallStatus"] == call_status
    assert completed.get("AnsweredBy") == answered_by
    assert bool(service.of("/twilio/voice/alert/1")) == (call_status == "completed")


async def test_twiml_loops_are_bounded(api: Api, service: Service) -> None:
    await api.scenario(max_call_steps=5)
    await api.request(
        "POST",
        f"{API}/Calls.json",
        data={"To": RESIDENT, "From": SERVICE_NUMBER, "Url": service.public_url + "/twilio/voice/loop"},
    )
    await api.flush()
    _, calls = await api.request("GET", "/sandbox/calls")
    assert len(calls["items"][0]["transcript"]) == 5
    assert calls["items"][0]["events"][-1]["detail"] == "step limit reached"


def test_digit_script_consumption() -> None:
    class Call:
        digit_script = "12,3 45#6"

    call: Any = Call()
    assert take_digits(call, 1, "#") == "1"
    assert take_digits(call, 1, "#") == "2"
    assert take_digits(call, None, "#") == "3"
    assert take_digits(call, None, "#") == "45"
    assert take_digits(call, None, "#") == "6"
    assert take_digits(call, 1, "#") == ""


# --- inbound injection -----------------------------------------------------------------


async def test_inbound_sms_returns_the_reply(api: Api, service: Service) -> None:
    status, result = await api.request(
        "POST", "/sandbox/inbound/sms", json={"from": RESIDENT, "body": "Ik zag hem bij het station, Zoë €5"}
    )
    assert status == 200
    assert result["status"] == 200
    assert result["reply"] == "Bedankt voor uw tip: Ik zag hem bij het station, Zoë €5"
    assert SID.match(result["message_sid"])
    (posted,) = service.of("/twilio/sms")
    assert (posted["From"], posted["To"], posted["NumMedia"]) == (RESIDENT, SERVICE_NUMBER, "0")
    assert posted["MessageSid"] == posted["SmsSid"] == result["message_sid"]

    # The provider retrying the same webhook: same MessageSid, no new inbound record.
    again = await api.request(
        "POST",
        "/sandbox/inbound/sms",
        json={"from": RESIDENT, "body": "x", "message_sid": result["message_sid"]},
    )
    assert again[1]["message_sid"] == result["message_sid"]
    assert [p["MessageSid"] for p in service.of("/twilio/sms")] == [result["message_sid"]] * 2
    _, messages = await api.request("GET", "/sandbox/messages")
    directions = sorted(m["direction"] for m in messages["items"])
    assert directions == ["inbound", "outbound-reply", "outbound-reply"]


async def test_inbound_sms_reports_service_errors(api: Api, service: Service) -> None:
    service.sms_status = 500
    _, result = await api.request("POST", "/sandbox/inbound/sms", json={"from": RESIDENT, "body": "hallo"})
    assert result["status"] == 500 and result["reply"] is None


async def test_inbound_needs_a_service_url(aiohttp_server: ServerFactory) -> None:
    server = await aiohttp_server(create_sandbox_app(SandboxConfig()))
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.make_url("/sandbox/inbound/sms"), json={"from": RESIDENT, "body": "x"}
        ) as r:
            assert r.status == 409


async def test_inbound_call_to_the_tipline(api: Api, service: Service) -> None:
    status, call = await api.request(
        "POST", "/sandbox/inbound/call", json={"from": RESIDENT, "record_seconds": 12}
    )
    assert status == 200
    assert call["direction"] == "inbound" and call["status"] == "completed"
    assert [t["text"] for t in call["transcript"]] == ["Welkom bij de tiplijn.", "Bedankt."]
    assert call["recordings"][0]["duration"] == 12
    first = service.of("/twilio/voice/tipline")[0]
    assert (first["From"], first["To"], first["CallStatus"]) == (RESIDENT, SERVICE_NUMBER, "ringing")
    assert service.of("/twilio/voice/recording")[0]["RecordingDuration"] == "12"


# --- faithful to Twilio's API description (issue 20) ------------------------------------


async def test_date_sent_is_null_until_the_message_is_sent(api: Api, service: Service) -> None:
    await api.scenario(callback_delay=0.3, full_status_callbacks=True)  # queued, then sending, …
    status, created = await api.create_sms(StatusCallback=service.public_url + "/twilio/sms/status")
    assert status == 201 and created["status"] == "queued"
    assert created["date_sent"] is None and created["date_created"]
    _, queued = await api.request("GET", created["uri"])
    assert queued["date_sent"] is None
    await api.flush()
    _, delivered = await api.request("GET", created["uri"])
    assert delivered["status"] == "delivered"
    assert parsedate_to_datetime(delivered["date_sent"]) >= parsedate_to_datetime(delivered["date_created"])


async def test_delivery_callbacks_carry_raw_dlr_done_date(api: Api, service: Service) -> None:
    await api.create_sms(StatusCallback=service.public_url + "/twilio/sms/status")
    await api.flush()
    callbacks = {c["MessageStatus"]: c for c in service.of("/twilio/sms/status")}
    assert re.fullmatch(r"\d{10}", callbacks["delivered"]["RawDlrDoneDate"])  # YYMMDDhhmm
    assert "RawDlrDoneDate" not in callbacks["sent"]


async def test_message_update_redacts_and_delete_removes(api: Api, service: Service) -> None:
    await api.scenario(callback_delay=0.3, full_status_callbacks=True)
    _, created = await api.create_sms(StatusCallback=service.public_url + "/twilio/sms/status")
    uri = created["uri"]
    # still on its way: neither redacted nor deleted, with Twilio's error document
    status, body = await api.request("POST", uri, data={"Body": ""})
    assert (status, body["status"]) == (400, 400) and body["code"] and body["more_info"]
    status, body = await api.request("DELETE", uri)
    assert (status, body["status"]) == (400, 400) and body["code"]
    status, body = await api.request("POST", uri, data={"Status": "canceled"})  # not scheduled
    assert status == 400 and body["code"]
    await api.flush()
    status, redacted = await api.request("POST", uri, data={"Body": ""})
    assert status == 200 and redacted["body"] == "" and redacted["sid"] == created["sid"]
    status, body = await api.request("POST", uri, data={"Body": "iets anders"})
    assert status == 400 and body["code"] == 20001
    async with api.session.delete(api.server.make_url(uri), headers=AUTH) as resp:
        assert resp.status == 204
    status, body = await api.request("GET", uri)
    assert (status, body["code"]) == (404, 20404)
    status, body = await api.request("DELETE", f"{API}/Messages/SM{'0' * 32}.json")
    assert (status, body["code"]) == (404, 20404)
    _, listed = await api.request("GET", f"{API}/Messages.json?To={RESIDENT.replace('+', '%2B')}")
    assert listed["messages"] == []
