"""OASIS Common Alerting Protocol 1.2: import a CAP alert as a Burgerwacht alert draft,
export an alert (and its closing message or cancellation) as CAP.

Pure functions, no database and no web. See ``README.md`` beside this file for the
mapping in both directions.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Any, Literal
from xml.etree import ElementTree as ET  # only for building; parsing goes through defusedxml

import defusedxml.ElementTree as DET
import shapely
import shapely.errors
from defusedxml import DefusedXmlException
from pydantic import ValidationError

from burgerwacht.alerts.targets import DEFAULT_MIN_RADIUS_M, TARGETS, TargetBase
from burgerwacht.geo import RD_NEW, WGS84, transform_geometry, wgs84_to_rd

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
_N = f"{{{CAP_NS}}}"

LEVELS = ("regular", "missing_child", "amber_regional", "amber_national")
MISSING_PERSON_LEVELS = frozenset({"missing_child", "amber_regional", "amber_national"})
CHANNELS = ("sms", "voice")
DEFAULT_CHANNELS = ["sms", "voice"]
DEFAULT_EXPIRES_MINUTES = 60
#: ``AlertIn.title``'s maximum length: a title made from the event or description is trimmed to it
TITLE_MAX_LENGTH = 120
MAX_EXPIRES_MINUTES = 1440

# Parameters (and eventCodes, for the level) Burgerwacht reads and writes.
P_LEVEL = "BURGERWACHT_LEVEL"
P_CHANNELS = "BURGERWACHT_CHANNELS"
P_VOICE = "BURGERWACHT_VOICE_MESSAGE"
P_REFERENCE = "BURGERWACHT_REFERENCE"
P_CONSENT = "FAMILY_CONSENT"

#: Where each field of the draft body comes from, so an API can report a validation error
#: of the draft (e.g. a title that is too long) against the CAP element at fault.
FIELD_ELEMENTS = {
    "level": "info/event",
    "title": "info/headline",
    "message": "info/description",
    "voice_message": "info/parameter",
    "target": "info/area",
    "channels": "info/parameter",
    "expires_in_minutes": "info/expires",
    "family_consent": "info/parameter",
}

_EVENTS = {
    "regular": "Burgernet-actie",
    "missing_child": "Vermist kind",
    "amber_regional": "AMBER Alert (regionaal)",
    "amber_national": "AMBER Alert",
}
_FORBIDDEN_ID_CHARS = re.compile(r"[\s,<&]")


class CapError(ValueError):
    """A CAP document Burgerwacht cannot use (or cannot produce).

    ``element`` is the CAP element path at fault (``"info/area/circle"``); ``str()`` starts
    with it: ``"info/area/circle: expected 'lat,lon radius_km'"``.
    """

    def __init__(self, element: str, message: str) -> None:
        self.element = element
        self.detail = message
        super().__init__(f"{element}: {message}")


# ------------------------------------------------------------------ parsing


def _text(parent: ET.Element, name: str) -> str | None:
    child = parent.find(_N + name)
    if child is None or child.text is None:
        return None
    text = child.text.strip()
    return text or None


def _pairs(info: ET.Element, name: str) -> list[tuple[str, str]]:
    """``(valueName, value)`` of every ``parameter``/``eventCode`` (valueName upper-cased)."""
    found = []
    for element in info.findall(_N + name):
        value_name = _text(element, "valueName")
        if value_name:
            found.append((value_name.upper(), _text(element, "value") or ""))
    return found


def _first(pairs: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in pairs if key == name), None)


def _datetime(text: str, element: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CapError(
            element, f"expected a date-time like 2024-05-01T14:00:00+02:00 (got {text!r})"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise CapError(element, f"the date-time needs a UTC offset, e.g. +02:00 (got {text!r})")
    return value


def _choose_info(root: ET.Element) -> ET.Element:
    infos = root.findall(_N + "info")
    if not infos:
        raise CapError("info", "the alert has no info block")
    for info in infos:
        language = (_text(info, "language") or "en-US").lower()
        if language == "nl" or language.startswith("nl-"):
            return info
    return infos[0]


def _level(info: ET.Element, params: list[tuple[str, str]]) -> str:
    explicit = _first(params, P_LEVEL)
    where = "info/parameter"
    if explicit is None:
        explicit, where = _first(_pairs(info, "eventCode"), P_LEVEL), "info/eventCode"
    event = _text(info, "event") or ""
    if explicit is None and event.lower() in LEVELS:
        explicit, where = event, "info/event"
    if explicit is not None:
        level = explicit.strip().lower()
        if level not in LEVELS:
            raise CapError(where, f"{P_LEVEL} must be one of {', '.join(LEVELS)} (got {explicit!r})")
        return level
    words = event.lower()
    if "amber" in words:
        return "amber_regional"
    missing = any(w in words for w in ("vermist", "missing", "abduct", "ontvoer"))
    child = any(w in words for w in ("kind", "child", "minderjarig", "jongen", "meisje"))
    if missing and child:
        return "missing_child"
    return "regular"


def _channels(params: list[tuple[str, str]]) -> list[str]:
    given = _first(params, P_CHANNELS)
    if given is None:
        return list(DEFAULT_CHANNELS)
    channels: list[str] = []
    for part in re.split(r"[\s,;]+", given.strip().lower()):
        if part and part not in CHANNELS:
            raise CapError("info/parameter", f"{P_CHANNELS}: unknown channel {part!r} (sms, voice)")
        if part and part not in channels:
            channels.append(part)
    if not channels:
        raise CapError("info/parameter", f"{P_CHANNELS}: name at least one channel (sms, voice)")
    return channels


def _consent(params: list[tuple[str, str]], level: str) -> bool | None:
    given = _first(params, P_CONSENT)
    consent = None
    if given is not None:
        value = given.strip().lower()
        if value not in ("true", "false"):
            raise CapError("info/parameter", f"{P_CONSENT} must be true or false (got {given!r})")
        consent = value == "true"
    if level in MISSING_PERSON_LEVELS and not consent:
        raise CapError(
            "info/parameter",
            f"level {level} needs the family's consent: add a parameter {P_CONSENT} = true",
        )
    return consent


def _expires_in(info: ET.Element, now: datetime, sent: datetime | None, max_minutes: int) -> int:
    text = _text(info, "expires")
    if text is None:
        return DEFAULT_EXPIRES_MINUTES
    expires = _datetime(text, "info/expires")
    if expires <= now:
        raise CapError("info/expires", f"{text} is not in the future")
    if sent is not None and expires <= sent:
        raise CapError("info/expires", f"{text} is not after sent")
    minutes = math.ceil((expires - now).total_seconds() / 60)
    if minutes > max_minutes:
        raise CapError("info/expires", f"{text} is more than {max_minutes} minutes from now")
    return minutes


def _fallback_title(info: ET.Element, text: str) -> str:
    """The title of a message without the optional ``<headline>``: its ``<event>``, else
    the first line of its description, trimmed to the title length limit."""
    title = _text(info, "event") or next((line.strip() for line in text.splitlines() if line.strip()), text)
    title = " ".join(title.split())
    if len(title) > TITLE_MAX_LENGTH:
        title = title[: TITLE_MAX_LENGTH - 1].rstrip() + "…"
    return title


def _one_of(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def _area_items(area: ET.Element, element: str) -> list[Any]:
    """The ``<area>``'s children named ``element``: their texts, or ``(valueName, value)``
    for geocodes."""
    if element == "geocode":
        return _pairs(area, "geocode")
    return [(c.text or "").strip() for c in area.findall(_N + element)]


def _area_values(area: ET.Element, cls: type[TargetBase], where: str) -> list[Any]:
    try:
        return cls.cap_values(_area_items(area, cls.cap_element))
    except ValueError as exc:
        raise CapError(f"{where}/{cls.cap_element}", str(exc)) from None


def _from_cap(cls: type[TargetBase], value: Any, where: str, min_radius_m: float) -> dict[str, Any]:
    try:
        return cls.from_cap([value], min_radius_m=min_radius_m)
    except ValueError as exc:
        raise CapError(f"{where}/{cls.cap_element}", str(exc)) from None


def _shape_rd(body: dict[str, Any]) -> shapely.Geometry:
    """A circle or polygon target body as a shapely geometry in RD New (metres)."""
    if body["type"] == "circle":
        x, y = wgs84_to_rd(body["center"]["lon"], body["center"]["lat"])
        return shapely.Point(x, y).buffer(body["radius_m"], quad_segs=16)
    return transform_geometry(shapely.Polygon(body["coordinates"][0]), WGS84, RD_NEW)


def _union(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Several circles and polygons as one polygon target: their union, when it is one
    polygon without holes (what a target can be); else CapError saying so."""
    try:
        shapes = [shapely.make_valid(_shape_rd(b)) for b in bodies]
        union = shapely.unary_union(shapes)
    except (shapely.errors.GEOSException, ValueError) as exc:
        raise CapError("info/area", f"cannot combine the areas' polygons and circles: {exc}") from None
    if not isinstance(union, shapely.Polygon) or union.is_empty:
        parts = len(union.geoms) if hasattr(union, "geoms") else 0
        raise CapError(
            "info/area",
            f"the {len(bodies)} polygons and circles of the areas do not form one connected area "
            f"(their union has {parts} separate parts); Burgerwacht targets one area per alert: "
            "send one alert per separate area, or CBS geocodes",
        )
    if union.interiors:
        raise CapError(
            "info/area",
            f"the {len(bodies)} polygons and circles of the areas enclose a hole; a target has no holes: "
            "send one polygon that covers what you mean",
        )
    ring = list(transform_geometry(union, RD_NEW, WGS84).exterior.coords)
    coordinates = [[round(lon, 7), round(lat, 7)] for lon, lat in ring]
    coordinates[-1] = coordinates[0]
    return {"type": "polygon", "coordinates": [coordinates]}


def _target(info: ET.Element, min_radius_m: float) -> dict[str, Any]:
    """The one target the ``<area>``s describe, read by the target types whose CAP
    element they use (``burgerwacht/alerts/targets.py``).

    CAP 1.2: the area of an ``<info>`` is the union of its ``<area>``s, and an area's
    ``<polygon>``s and ``<circle>``s are its extent (its ``<geocode>``s, where it has them
    too, name the same place). So each area is its geometry, or its CBS codes when it has
    no geometry. All areas CBS codes: one ``areas`` target with every code. All areas
    geometry: the one circle or polygon, or the union of several as one polygon (refused
    when the union is not a single polygon). A mix of areas known only by CBS code and
    areas known only by geometry cannot be one target and is refused.
    """
    readers = [cls for cls in TARGETS.values() if cls.cap_import]
    shapes = [cls for cls in readers if cls.cap_element != "geocode"]
    coders = [cls for cls in readers if cls.cap_element == "geocode"]
    geometry: list[dict[str, Any]] = []
    codes: list[Any] = []
    code_cls: type[TargetBase] | None = None
    code_only = drawn = 0
    for area in info.findall(_N + "area"):
        where = "info/area"
        drawn_here = [
            _from_cap(cls, value, where, min_radius_m)
            for cls in shapes
            for value in _area_values(area, cls, where)
        ]
        codes_here = [(cls, v) for cls in coders for v in _area_values(area, cls, where)]
        if drawn_here:
            geometry += drawn_here
            drawn += 1
        elif codes_here:
            code_only += 1
            for cls, value in codes_here:
                code_cls = cls
                if value not in codes:
                    codes.append(value)
    if drawn and code_only:
        raise CapError(
            "info/area",
            f"{code_only} area(s) have only CBS geocodes and {drawn} have a polygon or circle: "
            "one alert targets either CBS areas or a drawn area; give every area a polygon or "
            "circle, or only CBS geocodes",
        )
    if geometry:
        return geometry[0] if len(geometry) == 1 else _union(geometry)
    if codes and code_cls is not None:
        try:
            return code_cls.from_cap(codes, min_radius_m=min_radius_m)
        except ValueError as exc:
            raise CapError(f"info/area/{code_cls.cap_element}", str(exc)) from None
    raise CapError("info/area", f"no {_one_of([cls.cap_label for cls in readers])} to target")


def _parse_xml(xml: bytes | str, max_bytes: int) -> ET.Element:
    """Parse with every XML attack closed (no DTDs, entities or external references)."""
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    if len(xml) > max_bytes:
        raise CapError("alert", f"the document is larger than {max_bytes} bytes")
    try:
        root = DET.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CapError(
            "alert", f"document type declarations, entities and external references are not allowed ({exc})"
        ) from None
    except ET.ParseError as exc:
        raise CapError("alert", f"not well-formed XML: {exc}") from None
    return root


def parse_cap(
    xml: bytes,
    *,
    max_bytes: int = 256_000,
    now: datetime | None = None,
    max_expires_minutes: int = MAX_EXPIRES_MINUTES,
    min_radius_m: float = DEFAULT_MIN_RADIUS_M,
) -> dict[str, Any]:
    """A CAP 1.2 ``Alert`` message as a Burgerwacht alert draft body.

    Returns ``{level, title, message, voice_message?, target, channels,
    expires_in_minutes, family_consent?, mode}`` (mode ``exercise`` for status Test or
    Exercise, else ``live``) plus metadata keys that are not part of the
    draft body: ``cap_status`` (Actual, Exercise or Test), ``cap_identifier`` and
    ``cap_sender``. Raises :class:`CapError` naming the element at fault.
    """
    root = _parse_xml(xml, max_bytes)
    if root.tag != _N + "alert":
        namespace, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
        if local == "alert":
            raise CapError("alert", f"expected the CAP 1.2 namespace {CAP_NS} (got {namespace or 'none'!r})")
        raise CapError("alert", f"the root element must be a CAP 1.2 alert (got {local!r})")

    msg_type = _text(root, "msgType")
    if msg_type != "Alert":
        raise CapError(
            "msgType",
            f"only Alert messages can start an alert (got {msg_type!r}); close or cancel it through the API",
        )
    status = _text(root, "status")
    if status not in ("Actual", "Exercise", "Test"):
        raise CapError("status", f"must be Actual, Exercise or Test (got {status!r})")
    sent_text = _text(root, "sent")
    sent = _datetime(sent_text, "sent") if sent_text else None
    now = now or datetime.now(UTC)

    info = _choose_info(root)
    params = _pairs(info, "parameter")
    parts = [t for t in (_text(info, "description"), _text(info, "instruction")) if t]
    if not parts:
        raise CapError("info/description", "required: it becomes the alert message")
    title = _text(info, "headline") or _fallback_title(info, parts[0])
    level = _level(info, params)
    draft: dict[str, Any] = {
        "level": level,
        "title": title,
        "message": "\n".join(parts),
        "target": _target(info, min_radius_m),
        "channels": _channels(params),
        "expires_in_minutes": _expires_in(info, now, sent, max_expires_minutes),
    }
    voice = _first(params, P_VOICE)
    if voice and voice.strip():
        draft["voice_message"] = voice.strip()
    consent = _consent(params, level)
    if consent is not None:
        draft["family_consent"] = consent
    # Test and Exercise messages become exercise drafts: an exercise never goes out as real
    draft["mode"] = "exercise" if status in ("Test", "Exercise") else "live"
    draft["cap_status"] = status
    draft["cap_identifier"] = _text(root, "identifier")
    draft["cap_sender"] = _text(root, "sender")
    draft["cap_sent"] = sent
    return draft


# ------------------------------------------------------------------ export


def _aware(value: Any, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{field}: not an ISO 8601 date-time: {value!r}") from None
    if not isinstance(value, datetime):
        raise TypeError(f"{field}: expected a datetime or an ISO 8601 string, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return value


def _cap_time(value: datetime) -> str:
    """CAP's dateTime: ``2024-05-01T14:00:00+02:00`` (no fraction, no ``Z``, whole-minute offset)."""
    offset = value.utcoffset() or timedelta(0)
    if offset.total_seconds() % 60:
        value = value.astimezone(UTC)
    return value.replace(microsecond=0).isoformat()


def _check_token(value: str, element: str) -> str:
    if not value or _FORBIDDEN_ID_CHARS.search(value):
        raise CapError(element, f"must be non-empty without spaces, commas, '<' or '&' (got {value!r})")
    return value


# What XML 1.0 cannot carry at all (C0 controls but tab, newline and carriage return;
# surrogates; U+FFFE/U+FFFF): dropped from exported text, which would otherwise be a
# malformed document.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _add(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, _N + name)
    if text is not None:
        child.text = _NOT_XML.sub("", text)
    return child


def _add_pair(parent: ET.Element, name: str, value_name: str, value: str) -> None:
    element = _add(parent, name)
    _add(element, "valueName", value_name)
    _add(element, "value", value)


def _area(info: ET.Element, alert: dict[str, Any]) -> None:
    target = alert.get("target") or {}
    kind = target.get("type")
    cls = TARGETS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise CapError("info/area", f"unknown target type {kind!r} ({_one_of(list(TARGETS))})")
    try:
        model = cls.model_validate(target, context={"as_given": True})
    except ValidationError as exc:
        raise CapError("info/area", f"not a valid {kind} target: {exc.errors()[0]['msg']}") from None
    try:
        content = model.cap_area()
    except ValueError as exc:
        raise CapError(f"info/area/{cls.cap_element}", str(exc)) from None
    area = _add(info, "area")
    _add(area, "areaDesc", alert.get("area_description") or content.description)
    for polygon in content.polygons:
        _add(area, "polygon", polygon)
    for circle in content.circles:
        _add(area, "circle", circle)
    for value_name, value in content.geocodes:
        _add_pair(area, "geocode", value_name, value)


def _source_reference(source: Any) -> tuple[str, str, datetime] | None:
    """The imported CAP message an alert came from (``cap_source``: identifier, sender,
    sent) as a reference, when it has all three and they can be written in one."""
    if not isinstance(source, dict):
        return None
    identifier, sender = source.get("identifier"), source.get("sender")
    try:
        sent = _aware(source.get("sent"), "cap_source.sent")
    except (TypeError, ValueError):
        return None
    if not identifier or not sender or sent is None:
        return None
    if _FORBIDDEN_ID_CHARS.search(identifier) or _FORBIDDEN_ID_CHARS.search(sender):
        return None  # CAP requires both without spaces or commas: cannot be referenced
    return (sender, identifier, sent)


def update_identifier(alert_id: int, number: int) -> str:
    """The CAP identifier of an alert's follow-up ``number``."""
    return f"burgerwacht-{alert_id}-update-{number}"


def export_cap(
    alert: dict[str, Any],
    *,
    msg_type: Literal["Alert", "Update", "Cancel"],
    sender: str,
    references: list[tuple[str, str, datetime]] | None = None,
    closing_message: str | None = None,
    now: datetime | None = None,
    update: dict[str, Any] | None = None,
    earlier_updates: list[tuple[int, datetime]] | None = None,
) -> bytes:
    """An alert (the service's Alert response) as a CAP 1.2 message, UTF-8 XML bytes.

    ``Alert`` announces it, ``Update`` carries the closing message (``closing_message``,
    else ``alert["closing_message"]``), ``Cancel`` withdraws it. Update and Cancel refer to
    the original Alert message unless ``references`` (sender, identifier, sent) are given.
    An alert imported from CAP (``alert["cap_source"]``) also refers to its source
    message. The Alert message's ``sent`` is ``alert["cap_sent"]`` when given (the first
    export's), else ``sent_at``, else ``created_at``.

    A follow-up (``update``: number, message, created_at) is an ``Update`` of its own:
    identifier ``burgerwacht-<id>-update-<n>``, sent its created_at (to the second, so
    every export is the same message), the follow-up as description; its references name
    the Alert message and the earlier follow-ups (``earlier_updates``: (number,
    created_at)) exactly as they are exported.

    A sent alert's public page is the info's ``web`` and its photo (``photo`` and
    ``photo_url``) a ``resource`` (image/jpeg, its size and address), except in a Cancel.
    """
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise ValueError(f"msg_type must be Alert, Update or Cancel (got {msg_type!r})")
    _check_token(sender, "sender")
    level = alert["level"]
    if level not in LEVELS:
        raise CapError("info/parameter", f"unknown level {level!r}")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    created = _aware(alert.get("created_at"), "created_at")
    # The Alert message's sent, as first exported (``cap_sent``, recorded by the API at the
    # first export and reused ever after): a draft exported before sending and the same
    # alert exported after sending are one message with one sent, so an Update's
    # references match whichever copy a receiver kept.
    original_sent = (
        _aware(alert.get("cap_sent"), "cap_sent") or _aware(alert.get("sent_at"), "sent_at") or created or now
    )
    closed = _aware(alert.get("closed_at"), "closed_at")
    expires = _aware(alert.get("expires_at"), "expires_at")
    identifier = f"burgerwacht-{alert['id']}"

    source = _source_reference(alert.get("cap_source"))
    if msg_type == "Alert":
        sent = original_sent
        if references is None and source is not None:
            references = [source]
        headline = alert["title"]
        description = alert.get("message") or ""
    elif update is not None:
        if msg_type != "Update":
            raise ValueError("a follow-up is exported as an Update")
        sent = _aware(update["created_at"], "update.created_at").replace(microsecond=0)
        identifier = update_identifier(alert["id"], update["number"])
        if references is None:
            references = [(sender, f"burgerwacht-{alert['id']}", original_sent)]
            references += [
                (
                    sender,
                    update_identifier(alert["id"], n),
                    _aware(at, "update.created_at").replace(microsecond=0),
                )
                for n, at in sorted(earlier_updates or [])
            ]
            if source is not None:
                references.append(source)
        headline = f"Vervolgbericht {update['number']}: {alert['title']}"
        description = update["message"]
    else:
        sent = closed or now
        identifier += "-update" if msg_type == "Update" else "-cancel"
        if references is None:
            references = [(sender, f"burgerwacht-{alert['id']}", original_sent)]
            if source is not None:
                references.append(source)
        if msg_type == "Update":
            description = closing_message or alert.get("closing_message")
            if not description:
                raise ValueError("an Update carries the closing message: pass closing_message")
            headline = f"Afgelopen: {alert['title']}"
        else:
            description = closing_message or "Deze actie is ingetrokken."
            headline = f"Ingetrokken: {alert['title']}"

    root = ET.Element(_N + "alert")
    _add(root, "identifier", identifier)
    _add(root, "sender", sender)
    _add(root, "sent", _cap_time(sent))
    _add(root, "status", "Exercise" if alert.get("mode") == "exercise" else "Actual")
    _add(root, "msgType", msg_type)
    _add(root, "scope", "Public")
    if references:
        refs = []
        for ref_sender, ref_identifier, ref_sent in references:
            ref_time = _aware(ref_sent, "references")
            if ref_time is None:
                raise ValueError("references: every reference needs its sent time")
            refs.append(
                f"{_check_token(ref_sender, 'references')},{_check_token(ref_identifier, 'references')},"
                f"{_cap_time(ref_time)}"
            )
        _add(root, "references", " ".join(refs))

    info = _add(root, "info")
    _add(info, "language", "nl-NL")
    _add(info, "category", "Rescue" if level in MISSING_PERSON_LEVELS else "Security")
    _add(info, "event", _EVENTS[level])
    live = msg_type == "Alert" or update is not None  # a follow-up: the incident goes on
    if not live:
        _add(info, "responseType", "AllClear")
    _add(info, "urgency", "Immediate" if live else "Past")
    _add(info, "severity", "Severe" if level.startswith("amber") else "Moderate")
    _add(info, "certainty", "Likely")
    if expires is not None:
        _add(info, "expires", _cap_time(expires))
    _add(info, "senderName", alert.get("sender_name") or "Burgerwacht")
    _add(info, "headline", headline)
    _add(info, "description", description)
    if alert.get("public_url") and msg_type != "Cancel":
        _add(info, "web", alert["public_url"])  # the public page: full text, follow-ups, photo
    _add_pair(info, "parameter", P_LEVEL, level)
    channels = alert.get("channels")
    if channels:
        _add_pair(info, "parameter", P_CHANNELS, ",".join(channels))
    if alert.get("voice_message") and msg_type == "Alert":
        _add_pair(info, "parameter", P_VOICE, alert["voice_message"])
    if level in MISSING_PERSON_LEVELS and alert.get("family_consent", True):
        _add_pair(info, "parameter", P_CONSENT, "true")
    if alert.get("reference"):
        _add_pair(info, "parameter", P_REFERENCE, str(alert["reference"]))
    photo, photo_url = alert.get("photo"), alert.get("photo_url")
    if photo and photo_url and msg_type != "Cancel":
        # the photo as a resource: its public address (it answers once the alert is sent)
        resource = _add(info, "resource")
        _add(resource, "resourceDesc", f"Foto: {photo['alt']}" if photo.get("alt") else "Foto")
        _add(resource, "mimeType", "image/jpeg")
        _add(resource, "size", str(photo["bytes"]))
        _add(resource, "uri", photo_url)
    _area(info, alert)

    ET.indent(root)
    body = ET.tostring(root, encoding="unicode", default_namespace=CAP_NS)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


# ------------------------------------------------------------------ schema validation


@cache
def _schema() -> Any:
    import xmlschema

    source = files("burgerwacht.cap").joinpath("CAP-v1.2.xsd").read_text(encoding="utf-8")
    return xmlschema.XMLSchema(source)


def _cap_path(path: str | None) -> str:
    """``/cap:alert/cap:info[1]/cap:area/cap:circle`` → ``info/area/circle``."""
    if not path:
        return "alert"
    steps = []
    for step in path.strip("/").split("/"):
        step = re.sub(r"\[\d+\]$", "", step)
        step = step.rsplit("}", 1)[-1].rsplit(":", 1)[-1]
        if step:
            steps.append(step)
    if steps and steps[0] == "alert":
        steps = steps[1:]
    return "/".join(steps) or "alert"


def validate_cap(xml: bytes, *, max_bytes: int = 1_000_000) -> None:
    """Check a CAP message against the OASIS CAP 1.2 schema; raise :class:`CapError`."""
    root = _parse_xml(xml, max_bytes)
    if root.tag != _N + "alert":
        raise CapError("alert", f"the root element must be a CAP 1.2 alert in namespace {CAP_NS}")
    error = next(iter(_schema().iter_errors(root)), None)
    if error is not None:
        raise CapError(_cap_path(error.path), error.reason or str(error).splitlines()[0])
