"""A resident's number never outlives VERWIJDER in free text.

Numbers in inbound SMS texts (tips, signals) are masked on arrival; on erasure the
sender's number is also taken out of texts stored before masking existed, in every
notation people write."""

from __future__ import annotations

import re

import pytest

from burgerwacht.phone import number_pattern
from tests.helpers.alerting import enrol
from tests.helpers.snapshot import all_text

PHONE = "+31612345678"
DIGITS = "12345678"  # the number's last eight digits: in no notation may they survive


async def _all_text(db) -> str:
    """All stored text with the separators people put between digits removed."""
    return re.sub(r"[ ./()\-]", "", await all_text(db))


@pytest.mark.parametrize(
    "written", ["+31612345678", "06-12345678", "0031 6 1234 5678", "(0)6 12 34 56 78", "%2B31612345678"]
)
def test_the_pattern_finds_every_notation(written):
    assert re.search(number_pattern(PHONE), f"bel mij op {written} vanavond")
    assert not re.search(number_pattern(PHONE), "bel mij op 06-12345679 vanavond")


async def test_numbers_in_sms_texts_are_masked_on_arrival_and_gone_after_erasure(client, sandbox, db):
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    await enrol(db, PHONE, aid)
    await sandbox.sms(PHONE, "SIGNAAL +31612345678 belt mij, er staat steeds een busje")
    await sandbox.sms(PHONE, "ANONIEM verdachte man, bel 06-12345678 of 06 8765 4321")
    await sandbox.sms(PHONE, "ik zag iets, bel me terug op 0031 6 1234 5678")
    signal_text = await db.fetchval("SELECT text FROM signals")
    assert "busje" in signal_text and DIGITS not in signal_text and "5678" in signal_text  # masked, not lost
    tips = [r["text"] for r in await db.fetch("SELECT text FROM tips ORDER BY id")]
    assert len(tips) == 2 and all("1234" not in re.sub(r"\D", "", t) for t in tips), tips
    assert "87654321" not in re.sub(r"\D", "", tips[0])  # a third party's number is masked too
    # texts stored before masking existed (or by another path) still hold the number
    await db.execute("UPDATE signals SET text = 'oud bericht, bel 06-12345678'")
    await db.execute("UPDATE tips SET text = text || ' (+31 6 12345678)'")
    await db.execute(
        "INSERT INTO tips (provider_sid, channel, text, anonymous, status) "
        "VALUES ('SM' || repeat('0', 32), 'sms', 'anoniem: bel (0)6 12 34 56 78', true, 'new')"
    )
    assert DIGITS in await _all_text(db)
    await sandbox.sms(PHONE, "VERWIJDER")
    assert await db.fetchval("SELECT count(*) FROM residents WHERE phone = $1", PHONE) == 0
    everything = await _all_text(db)
    assert DIGITS not in everything and PHONE[1:] not in everything
    assert await db.fetchval("SELECT count(*) FROM signals") == 1  # the signal (a count) stays
    assert "[nummer verwijderd]" in await db.fetchval("SELECT text FROM signals")
