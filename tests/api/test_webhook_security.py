"""Every provider webhook refuses what the provider did not sign, before it does
anything: unsigned, wrongly signed, replayed with a changed, added or removed field,
replayed to another URL. All 403 problem documents, and the database is byte for byte
what it was. The genuine request is then accepted, so the refusals were for the
signature and nothing else."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from burgerwacht.messaging import sign
from tests.helpers.alerting import address, alert_body, create_and_send, enrol, settled
from tests.helpers.service import SERVICE_NUMBER, TEST_TOKEN
from tests.helpers.snapshot import snapshot

PHONE = "+31612340001"
CALL_SID = "CA" + "1" * 32


@pytest.fixture
def service_roles():
    return {"web", "worker"}


def webhooks(delivery_id: int, enrolment_id: str) -> list[tuple[str, dict[str, str], int]]:
    """(path with query, genuine params, status of the genuine request)."""
    return [
        (
            "/twilio/sms",
            {"MessageSid": "SM" + "f" * 32, "From": PHONE, "To": SERVICE_NUMBER, "Body": "ANONIEM vals"},
            200,
        ),
        (
            f"/twilio/sms/status?d={delivery_id}&a=1",
            {"MessageSid": "SM" + "e" * 32, "MessageStatus": "undelivered", "ErrorCode": "30003"},
            204,
        ),
        (f"/twilio/voice/status?d={delivery_id}&a=1", {"CallSid": CALL_SID, "CallStatus": "completed"}, 204),
        (f"/twilio/voice/alert/{delivery_id}", {"CallSid": CALL_SID, "AnsweredBy": "human"}, 200),
        (f"/twilio/voice/menu/{delivery_id}", {"CallSid": CALL_SID, "Digits": "2"}, 200),
        ("/twilio/voice/tipline", {"CallSid": CALL_SID, "From": PHONE, "To": SERVICE_NUMBER}, 200),
        (f"/twilio/voice/tip/{delivery_id}", {"CallSid": CALL_SID, "From": SERVICE_NUMBER, "To": PHONE}, 200),
        (
            "/twilio/voice/recording",
            {
                "RecordingSid": "RE" + "d" * 32,
                "RecordingUrl": "https://api.twilio.com/recordings/RE1",
                "RecordingDuration": "7",
                "RecordingStatus": "completed",
                "CallSid": CALL_SID,
            },
            204,
        ),
        ("/twilio/voice/recorded", {"CallSid": CALL_SID}, 200),
        (f"/twilio/voice/code/{enrolment_id}", {"CallSid": CALL_SID}, 200),
    ]


def forgeries(base: str, path: str, params: dict[str, str]) -> list[tuple[str, str, dict[str, str], dict]]:
    """(name, path, params, headers) of requests the provider never signed."""
    url = base + path
    good = sign(TEST_TOKEN, url, params)
    first = sorted(params)[0]
    changed = {**params, first: params[first] + "0"}
    added = {**params, "Extra": "1"}
    removed = {k: v for k, v in params.items() if k != first}
    other_url = path + ("&" if "?" in path else "?") + "x=1"
    return [
        ("unsigned", path, params, {}),
        ("empty signature", path, params, {"X-Twilio-Signature": ""}),
        ("garbage signature", path, params, {"X-Twilio-Signature": "!!not-base64!!"}),
        ("wrong token", path, params, {"X-Twilio-Signature": sign("another-token-abcdef", url, params)}),
        ("changed field", path, changed, {"X-Twilio-Signature": good}),
        ("added field", path, added, {"X-Twilio-Signature": good}),
        ("removed field", path, removed, {"X-Twilio-Signature": good}),
        ("other url", other_url, params, {"X-Twilio-Signature": good}),
        (
            "signed for the local url",
            path,
            params,
            {"X-Twilio-Signature": sign(TEST_TOKEN, url + "/", params)},
        ),
        ("lower-case header twin", path, changed, {"x-twilio-signature": good}),
    ]


async def test_forged_and_tampered_webhooks_are_403_and_store_nothing(client, sandbox, db, staff, settings):
    home = await address(db, "9991AA", 75)
    await enrol(db, PHONE, home["id"], channels=("sms", "voice"))
    op = await staff("operator", "GM9999")
    await sandbox.scenario(callbacks=False)  # the delivery stays 'sent': a status callback would move it
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": [home["buurt"]]}))
    await settled(client, op, alert["id"])
    delivery_id = await db.fetchval("SELECT id FROM deliveries WHERE alert_id = $1", alert["id"])
    resp = await client.post(
        "/api/v1/enrolments", json={"phone": "0612340002", "postcode": "9991AA", "house_number": 75}
    )
    assert resp.status == 202, await resp.text()
    enrolment_id = (await resp.json())["id"]

    base = settings.public_base
    before = await snapshot(db)
    refused: list[str] = []
    for path, params, _ in webhooks(delivery_id, enrolment_id):
        for name, target, form, headers in forgeries(base, path, params):
            resp = await client.post(target, data=form, headers=headers)
            body: Any = await resp.text()
            if resp.status != 403 or resp.content_type != "application/problem+json":
                refused.append(f"{path} {name}: {resp.status} {body[:120]}")
    assert not refused, "\n".join(refused)
    assert await snapshot(db) == before

    # the same requests, genuinely signed, are accepted: the refusals were the signature's
    for path, params, status in webhooks(delivery_id, enrolment_id):
        resp = await client.post(
            path, data=params, headers={"X-Twilio-Signature": sign(TEST_TOKEN, base + path, params)}
        )
        assert resp.status == status, (path, await resp.text())
    assert await snapshot(db) != before


@pytest.mark.parametrize(
    "path",
    [
        f"/twilio/voice/code/{uuid.UUID(int=7)}",
        "/twilio/voice/code/not-a-uuid",
        "/twilio/voice/alert/999999999",
        "/twilio/sms/status?d=999999999&a=1",
        "/twilio/voice/tip/99999999999999999999999",
        "/twilio/voice/alert/99999999999999999999999",
        "/twilio/voice/menu/99999999999999999999999",
        "/twilio/sms/status?d=99999999999999999999999&a=1",
        "/twilio/sms/status?d=1&a=99999999999",
        "/twilio/voice/status?d=99999999999999999999999&a=1",
        "/twilio/voice/alert/%C2%B2",
    ],
)
async def test_a_signed_webhook_for_an_unknown_or_absurd_id_is_not_a_500(client, settings, path):
    base = settings.public_base
    params = {
        "CallSid": CALL_SID,
        "CallStatus": "completed",
        "MessageSid": "SM" + "0" * 32,
        "MessageStatus": "delivered",
    }
    signature = sign(TEST_TOKEN, base + path, params)
    resp = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert resp.status < 500, (path, resp.status, await resp.text())
