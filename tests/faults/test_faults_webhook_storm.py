"""Webhook storms: the provider delivers the same status callbacks and inbound messages
three times, in a random order, concurrently. Every message and tip is stored once,
every reply is the same for all copies, and delivery states only ever move forward
(watched while the storm lasts, not only at the end)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter, defaultdict

import pytest

from burgerwacht.alerts.states import RANK
from burgerwacht.messaging import sign
from tests.helpers.alerting import alert_body, create_and_send, settled, wait_until
from tests.helpers.dispatch import assert_each_once, enrol_many
from tests.helpers.service import TEST_TOKEN

COPIES = 3


@pytest.fixture
def service_roles():
    return {"web", "worker"}


class StateWatcher:
    """Polls every delivery's state while a storm lasts; records each change."""

    def __init__(self, db) -> None:
        self.db = db
        self.history: dict[int, list[str]] = defaultdict(list)
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            for r in await self.db.fetch("SELECT id, state FROM deliveries"):
                seen = self.history[r["id"]]
                if not seen or seen[-1] != r["state"]:
                    seen.append(r["state"])
            await asyncio.sleep(0.005)

    def __enter__(self) -> StateWatcher:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def backwards(self) -> dict[int, list[str]]:
        return {
            d: states
            for d, states in self.history.items()
            if any(RANK[b] < RANK[a] for a, b in itertools.pairwise(states))
        }


async def test_status_callbacks_three_times_in_random_order(client, sandbox, db, staff):
    op = await staff("operator", "GM9999")
    expected = await enrol_many(db, 60)
    # every step (queued, sending, sent, delivered) three times, each message's in random order
    await sandbox.scenario(
        seed=21,
        full_status_callbacks=True,
        duplicate_rate=1.0,
        duplicate_copies=COPIES,
        shuffle_callbacks=True,
        callback_delay=0.01,
    )
    with StateWatcher(db) as watcher:
        alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
        await settled(client, op, alert["id"], timeout=30)
        flushed = await sandbox.client.post("/sandbox/flush", params={"timeout": "20"})
        assert flushed.status == 200
        await asyncio.sleep(0.2)
        await watcher.stop()
    callbacks = (await (await sandbox.client.get("/sandbox/callbacks")).json())["items"]
    per_step = Counter((c["sid"], c["event"]) for c in callbacks if c["kind"] == "message-status")
    assert len(per_step) == 60 * 4 and set(per_step.values()) == {COPIES}  # the storm happened
    assert all(c["http_status"] in (200, 204) for c in callbacks)
    assert not watcher.backwards(), watcher.backwards()
    rows = await db.fetch("SELECT state, provider_sid FROM deliveries WHERE alert_id = $1", alert["id"])
    assert Counter(r["state"] for r in rows) == {"delivered": 60}
    assert len({r["provider_sid"] for r in rows}) == 60
    assert_each_once(await sandbox.outbound(), expected)

    # the whole recorded storm once more, three times over, shuffled across messages
    replay = [c for c in callbacks for _ in range(COPIES)]
    random.Random(5).shuffle(replay)
    before = [
        tuple(r)
        for r in await db.fetch("SELECT id, state, provider_sid, updated_at FROM deliveries ORDER BY id")
    ]
    sem = asyncio.Semaphore(16)

    async def post(c) -> int:
        async with sem:
            headers = {"X-Twilio-Signature": sign(TEST_TOKEN, c["url"], c["params"])}
            path = c["url"].split(str(client.server.port), 1)[1]
            resp = await client.post(path, data=c["params"], headers=headers)
            return resp.status

    statuses = await asyncio.gather(*(post(c) for c in replay))
    assert set(statuses) <= {200, 204}
    after = [
        tuple(r)
        for r in await db.fetch("SELECT id, state, provider_sid, updated_at FROM deliveries ORDER BY id")
    ]
    assert after == before  # terminal rows are not touched at all


async def test_inbound_messages_three_times_in_random_order(client, sandbox, db, staff):
    op = await staff("operator", "GM9999")
    residents = await enrol_many(db, 10)
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    await settled(client, op, alert["id"], timeout=20)

    rng = random.Random(8)
    messages: list[tuple[str, str, str, str]] = []  # (kind, sid, from, body)

    def sid() -> str:
        return "SM" + rng.getrandbits(128).to_bytes(16, "big").hex()

    for i, phone in enumerate(residents):
        messages.append(("tip", sid(), phone, f"Ik zag de man bij de bakker, nummer {i}"))
    for i in range(8):
        messages.append(("anonymous", sid(), f"+3161234{i:04d}", f"ANONIEM rode fiets bij de kerk {i}"))
    for i, phone in enumerate(residents[:5]):
        messages.append(("signal", sid(), phone, f"SIGNAAL graffiti op de muur {i}"))
    for i in range(5):
        messages.append(("enrol", sid(), f"+3162345{i:04d}", "AANMELDEN 9991AA 75"))
    for i in range(4):
        messages.append(("info", sid(), f"+3163456{i:04d}", "INFO"))
    for i in range(3):
        messages.append(("stop", sid(), residents[5 + i], "STOP"))

    storm = [m for m in messages for _ in range(COPIES)]
    rng.shuffle(storm)
    sem = asyncio.Semaphore(12)

    async def deliver(m) -> tuple[str, str | None, int]:
        _, message_sid, phone, body = m
        async with sem:
            result = await sandbox.sms(phone, body, message_sid=message_sid)
        return message_sid, result["reply"], result["status"]

    results = await asyncio.gather(*(deliver(m) for m in storm))
    assert {status for _, _, status in results} == {200}
    replies: dict[str, set[str | None]] = defaultdict(set)
    for message_sid, reply, _ in results:
        replies[message_sid].add(reply)
    assert all(len(r) == 1 for r in replies.values()), {k: v for k, v in replies.items() if len(v) > 1}

    sids_of = defaultdict(list)
    for kind, message_sid, _, _ in messages:
        sids_of[kind].append(message_sid)
    tips = Counter(
        r[0]
        for r in await db.fetch(
            "SELECT provider_sid FROM tips WHERE provider_sid = ANY($1)", [m[1] for m in messages]
        )
    )
    assert set(tips.values()) == {1}  # no tip stored twice
    assert set(tips) == set(sids_of["tip"]) | set(sids_of["anonymous"])
    linked = await db.fetchval("SELECT count(*) FROM tips WHERE alert_id = $1", alert["id"])
    assert linked == len(sids_of["tip"])  # the residents' tips went to the alert they received
    assert (
        await db.fetchval(
            "SELECT count(*) FROM tips WHERE anonymous AND provider_sid = ANY($1)", sids_of["anonymous"]
        )
        == 8
    )
    assert await db.fetchval("SELECT count(*) FROM signals WHERE source = 'sms'") == 5
    handled = Counter(
        r[0]
        for r in await db.fetch(
            "SELECT sid FROM inbound_messages WHERE sid = ANY($1)", [m[1] for m in messages]
        )
    )
    assert set(handled.values()) <= {1}
    assert set(sids_of["signal"]) | set(sids_of["enrol"]) | set(sids_of["info"]) | set(
        sids_of["stop"]
    ) <= set(handled)
    enrolled = await db.fetchval(
        "SELECT count(*) FROM residents WHERE phone = ANY($1) AND status = 'active'",
        [m[2] for m in messages if m[0] == "enrol"],
    )
    assert enrolled == 5
    assert await db.fetchval("SELECT value FROM stats_counters WHERE name = 'enrolments_sms'") == 5
    stopped = await db.fetchval(
        "SELECT count(*) FROM residents WHERE phone = ANY($1) AND status = 'stopped'", residents[5:8]
    )
    assert stopped == 3

    # the operator sees each tip once
    async def listed():
        body = await (await client.get(f"/api/v1/alerts/{alert['id']}/tips", headers=op)).json()
        return body["items"] if len(body["items"]) >= len(sids_of["tip"]) else None

    items = await wait_until(listed, timeout=5)
    assert len(items) == len(sids_of["tip"]) and len({t["id"] for t in items}) == len(items)


async def test_recording_callbacks_three_times_in_random_order(client, sandbox, db, settings):
    """Voice tips: the recording status callback three times each, shuffled."""
    base = settings.public_base
    rng = random.Random(13)
    calls = []
    for i in range(10):
        call_sid = "CA" + rng.getrandbits(128).to_bytes(16, "big").hex()
        params = {"CallSid": call_sid, "From": f"+3164567{i:04d}", "To": "+3197010000001"}
        resp = await client.post(
            "/twilio/voice/tipline",
            data=params,
            headers={"X-Twilio-Signature": sign(TEST_TOKEN, base + "/twilio/voice/tipline", params)},
        )
        assert resp.status == 200
        calls.append(
            {
                "CallSid": call_sid,
                "RecordingSid": "RE" + rng.getrandbits(128).to_bytes(16, "big").hex(),
                "RecordingUrl": f"https://api.twilio.com/recordings/{i}",
                "RecordingDuration": "9",
                "RecordingStatus": "completed",
            }
        )
    storm = [c for c in calls for _ in range(COPIES)]
    rng.shuffle(storm)
    url = base + "/twilio/voice/recording"

    async def post(params):
        resp = await client.post(
            "/twilio/voice/recording",
            data=params,
            headers={"X-Twilio-Signature": sign(TEST_TOKEN, url, params)},
        )
        return resp.status

    statuses = await asyncio.gather(*(post(p) for p in storm))
    assert set(statuses) == {204}
    rows = await db.fetch(
        "SELECT provider_sid, count(*) FROM tips WHERE channel = 'voice' GROUP BY provider_sid"
    )
    assert len(rows) == 10 and {r[1] for r in rows} == {1}
