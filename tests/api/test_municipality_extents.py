"""Which municipalities a target touches (``alerts.store.municipalities_in_target``).

A target with many addresses (a region, the whole country) is asked per municipality,
inside the municipality's extent (sql/0035) instead of reading every address inside it.
Both ways must give the same answer, also after addresses are added, moved to another
municipality or removed: an extent that is too large is harmless, one that misses an
address would leave its municipality out of the alert's scope.
"""

from __future__ import annotations

import random

import asyncpg
from asyncpg.types import Circle, Point, Polygon

from burgerwacht.alerts import store
from burgerwacht.alerts.targets import CIRCLE, POLYGON, Resolved

# five municipalities: four side by side (1 km squares round their centres) and one
# spread thinly over all of them, so its extent overlaps every other one
CENTRES = {
    "GM0101": (100_000, 400_000),
    "GM0102": (101_000, 400_000),
    "GM0103": (100_000, 401_000),
    "GM0104": (101_000, 401_000),
}


async def add_addresses(db: asyncpg.Connection, rows: list[tuple[str, float, float]]) -> None:
    """(municipality code, x, y) each, in one statement (as an import writes them)."""
    start = await db.fetchval(
        "SELECT coalesce(max(house_number), 0) FROM addresses WHERE postcode = '9999ZZ'"
    )
    await db.execute(
        """INSERT INTO addresses (postcode, house_number, location, municipality_code)
           SELECT '9999ZZ', $1 + n, point(x, y), code
           FROM unnest($2::text[], $3::float8[], $4::float8[]) WITH ORDINALITY AS u (code, x, y, n)""",
        start,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )


def town(rng: random.Random) -> list[tuple[str, float, float]]:
    rows = [
        (code, cx + rng.uniform(-500, 500), cy + rng.uniform(-500, 500))
        for code, (cx, cy) in CENTRES.items()
        for _ in range(150)
    ]
    rows += [("GM0105", rng.uniform(99_500, 101_500), rng.uniform(399_500, 401_500)) for _ in range(12)]
    return rows


def targets(rng: random.Random) -> list[Resolved]:
    out = [
        Resolved(CIRCLE, Circle(Point(rng.uniform(99_400, 101_600), rng.uniform(399_400, 401_600)), r))
        for r in (50, 200, 400, 700, 1200)
        for _ in range(8)
    ]
    for _ in range(12):  # triangles and thin bands: not convex together, not box-shaped
        x, y = rng.uniform(99_500, 101_500), rng.uniform(399_500, 401_500)
        out.append(
            Resolved(
                POLYGON,
                Polygon(
                    Point(x, y),
                    Point(x + rng.uniform(-1500, 1500), y + 40),
                    Point(x + rng.uniform(-1500, 1500), y + rng.uniform(-1500, 1500)),
                ),
            )
        )
    out.append(
        Resolved(
            POLYGON,
            Polygon(
                Point(99_000, 399_000),
                Point(102_000, 399_000),
                Point(102_000, 402_000),
                Point(99_000, 402_000),
            ),
        )
    )
    return out


async def both_ways(db: asyncpg.Connection, target: Resolved) -> tuple[list[str], list[str]]:
    read_all = await store.municipalities_in_target(db, target, direct_read=10**9)
    per_municipality = await store.municipalities_in_target(db, target, direct_read=0)
    return read_all, per_municipality


async def assert_same(db: asyncpg.Connection, rng: random.Random) -> int:
    """Every target gives the same municipalities both ways; how many touched any."""
    touched = 0
    for target in targets(rng):
        read_all, per_municipality = await both_ways(db, target)
        assert per_municipality == read_all, target
        touched += bool(read_all)
    return touched


async def test_large_targets_are_asked_per_municipality_with_the_same_answer(db):
    rng = random.Random(16)
    await add_addresses(db, town(rng))
    assert await assert_same(db, rng) > 30  # most targets touch something, some touch nothing

    # the country: every municipality with an address, the demo town's too
    everything = Resolved(
        POLYGON,
        Polygon(Point(0, 280_000), Point(300_000, 280_000), Point(300_000, 630_000), Point(0, 630_000)),
    )
    read_all, per_municipality = await both_ways(db, everything)
    assert per_municipality == read_all == ["GM0101", "GM0102", "GM0103", "GM0104", "GM0105", "GM9999"]


async def test_extents_follow_addresses_added_moved_and_removed(db):
    rng = random.Random(17)
    await add_addresses(db, town(rng))
    far = Resolved(CIRCLE, Circle(Point(120_000, 420_000), 300))
    assert await both_ways(db, far) == ([], [])

    # an import adds an address far from GM0101's others: its extent widens
    await add_addresses(db, [("GM0101", 120_000, 420_100)])
    assert await both_ways(db, far) == (["GM0101"], ["GM0101"])

    # the area pass moves it to another municipality: that one's extent widens
    await db.execute(
        "UPDATE addresses SET municipality_code = 'GM0102' WHERE location ~= point(120000, 420100)"
    )
    assert await both_ways(db, far) == (["GM0102"], ["GM0102"])
    assert await assert_same(db, rng) > 30

    # removed: the extent stays as large, the answer does not keep the municipality
    await db.execute("DELETE FROM addresses WHERE location ~= point(120000, 420100)")
    assert await both_ways(db, far) == ([], [])
    await db.execute("DELETE FROM addresses WHERE municipality_code = 'GM0104'")
    assert await assert_same(db, rng) > 30
    square = Resolved(CIRCLE, Circle(Point(*CENTRES["GM0104"]), 400))
    read_all, per_municipality = await both_ways(db, square)
    assert "GM0104" not in per_municipality and per_municipality == read_all
