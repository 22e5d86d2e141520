"""Building CAP 1.2 documents for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from burgerwacht.cap import CAP_NS

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


SENT = "2026-05-01T14:00:00+02:00"  # == NOW


EXPIRES = "2026-05-01T15:30:00+02:00"  # NOW + 90 minutes


SENDER = "meldkamer-oost@politie.example.nl"


CIRCLE = "<circle>52.05545,5.78865 0.3</circle>"


def info(
    *,
    language: str = "nl-NL",
    event: str = "Inbraak",
    headline: str | None = "Inbrekers gevlucht",
    description: str | None = "Twee mannen in donkere kleding, op een scooter richting station.",
    instruction: str | None = None,
    expires: str | None = EXPIRES,
    params: dict[str, str] | None = None,
    areas: list[str] | None = None,
    category: str = "Security",
) -> str:
    parts = [
        f"<language>{language}</language>",
        f"<category>{category}</category>",
        f"<event>{escape(event)}</event>",
        "<urgency>Immediate</urgency><severity>Moderate</severity><certainty>Likely</certainty>",
    ]
    if expires is not None:
        parts.append(f"<expires>{expires}</expires>")
    parts.append("<senderName>Meldkamer Oost-Nederland</senderName>")
    if headline is not None:
        parts.append(f"<headline>{escape(headline)}</headline>")
    if description is not None:
        parts.append(f"<description>{escape(description)}</description>")
    if instruction is not None:
        parts.append(f"<instruction>{escape(instruction)}</instruction>")
    for name, value in (params or {}).items():
        parts.append(f"<parameter><valueName>{name}</valueName><value>{escape(value)}</value></parameter>")
    for area in [CIRCLE] if areas is None else areas:
        parts.append(f"<area><areaDesc>Demostad</areaDesc>{area}</area>")
    return "<info>" + "".join(parts) + "</info>"


def cap(
    *infos: str,
    msg_type: str = "Alert",
    status: str = "Actual",
    sent: str = SENT,
    ns: str = CAP_NS,
    references: str | None = None,
) -> bytes:
    refs = f"<references>{references}</references>" if references else ""
    body = "".join(infos) if infos else info()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<alert xmlns="{ns}"><identifier>MK-ON-2026-0042</identifier><sender>{SENDER}</sender>'
        f"<sent>{sent}</sent><status>{status}</status><msgType>{msg_type}</msgType>"
        f"<scope>Public</scope>{refs}{body}</alert>"
    ).encode()


def alert(target: dict | None = None, **overrides) -> dict:
    base = {
        "id": 42,
        "status": "active",
        "level": "regular",
        "title": "Inbrekers gevlucht",
        "message": "Twee mannen op een scooter richting station.",
        "voice_message": None,
        "target": target or {"type": "circle", "center": {"lat": 52.05545, "lon": 5.78865}, "radius_m": 300},
        "channels": ["sms", "voice"],
        "reference": "BW-K7Q",
        "created_at": NOW - timedelta(minutes=2),
        "sent_at": NOW,
        "closed_at": None,
        "expires_at": NOW + timedelta(minutes=90),
        "counts": {"queued": 0},
    }
    base.update(overrides)
    return base
