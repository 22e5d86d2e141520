"""Enrolment bursts (issue 16): many residents enrolling at once, by signed AANMELDEN
webhooks and through the API, with the SMS-pumping limits exact under concurrency."""

from __future__ import annotations

import asyncio

import pytest

N = 64  # concurrent requests, as the enrolment benchmark sends them


def mobile(i: int) -> str:
    return f"+3161{i:07d}"


async def test_a_burst_of_sms_enrolments_enrols_everyone_once(client, sandbox, db):
    phones = [mobile(1000 + i) for i in range(N)]
    results = await asyncio.gather(*(sandbox.sms(p, "AANMELDEN 9993 BL 12") for p in phones))
    assert {r["status"] for r in results} == {200}
    assert all(r["reply"].startswith("Welkom bij Burgerwacht") for r in results), results[0]
    enrolled = await db.fetchval(
        "SELECT count(*) FROM residents r JOIN resident_addresses ra ON ra.resident_id = r.id "
        "WHERE r.phone = ANY($1) AND r.status = 'active' AND ra.active",
        phones,
    )
    assert enrolled == N
    # the anonymous counter is kept in shards; its sum counts every one of them
    assert await db.fetchval("SELECT value FROM stats_counters WHERE name = 'enrolments_sms'") == N
    again = await sandbox.sms(phones[0], "AANMELDEN 9993 BL 12")
    assert again["reply"].startswith("U bent al aangemeld voor 9993 BL 12")
    assert await db.fetchval("SELECT value FROM stats_counters WHERE name = 'enrolments_sms'") == N


UNLIMITED = {
    "codes_per_phone_per_hour": 1000,
    "codes_per_ip_per_hour": 1000,
    "codes_per_prefix_per_hour": 1000,
    "codes_per_wide_prefix_per_hour": 1000,
    "codes_per_day": 100_000,
}


@pytest.mark.parametrize(
    ("settings_overrides", "phones"),
    [
        # the daily budget: 64 different numbers
        ({"enrolment": {**UNLIMITED, "codes_per_day": 10}}, [f"0613{i:06d}" for i in range(N)]),
        # a number range walked through (all but the last 4 digits shared)
        ({"enrolment": {**UNLIMITED, "codes_per_prefix_per_hour": 7}}, [f"061234{i:04d}" for i in range(N)]),
        # one number
        ({"enrolment": {**UNLIMITED, "codes_per_phone_per_hour": 3}}, ["0612345678"] * N),
    ],
    indirect=["settings_overrides"],
)
async def test_code_limits_hold_exactly_under_64_concurrent_requests(client, sandbox, db, settings, phones):
    limit = next(
        v for k, v in settings.enrolment.model_dump().items() if k.startswith("codes_per") and v < 1000
    )
    body = {"postcode": "9991 aa", "house_number": 75}
    results = await asyncio.gather(
        *(client.post("/api/v1/enrolments", json={"phone": p, **body}) for p in phones)
    )
    statuses = sorted(r.status for r in results)
    assert statuses == [202] * limit + [429] * (N - limit)
    assert len(await sandbox.outbound()) == limit  # exactly that many codes went out
    assert await db.fetchval("SELECT count(*) FROM code_requests") == limit


async def test_first_enrolments_in_two_transactions_at_once_keep_the_address_limit(db, db_url):
    # a new number's first AANMELDEN for two addresses, in two transactions at once
    # (a burst's group commits, or two web processes), with a maximum of one address: the
    # second cannot see the first's resident row until it commits, so it must check the
    # maximum again once it holds that row
    import asyncpg

    places = await db.fetch(
        "SELECT postcode, house_number FROM addresses WHERE house_letter = '' AND addition = '' ORDER BY id LIMIT 2"
    )
    phone = mobile(9000)
    enrol = "SELECT outcome FROM sms_enrol($1, 'mobile', $2, $3, NULL, NULL, 1)"
    first, second = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        tx = first.transaction()
        await tx.start()
        assert (
            await first.fetchval(enrol, phone, places[0]["postcode"], places[0]["house_number"]) == "enrolled"
        )
        racing = asyncio.ensure_future(
            second.fetchval(enrol, phone, places[1]["postcode"], places[1]["house_number"])
        )
        await asyncio.sleep(0.3)  # it waits on the first's resident row
        assert not racing.done()
        await tx.commit()
        assert await asyncio.wait_for(racing, 10) == "too_many_addresses"
    finally:
        await first.close()
        await second.close()
    assert (
        await db.fetchval(
            "SELECT count(*) FROM resident_addresses ra JOIN residents r ON r.id = ra.resident_id WHERE r.phone = $1",
            phone,
        )
        == 1
    )
