"""API shapes for alerts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from burgerwacht.alerts.targets import Target  # the target types, one class each
from burgerwacht.fields import NO_CONTROL_PATTERN, VISIBLE_TEXT_PATTERN, string_pattern

Level = Literal["regular", "missing_child", "amber_regional", "amber_national"]
Channel = Literal["sms", "voice"]
AlertStatus = Literal["draft", "sending", "active", "closed", "cancelled", "expired"]
MISSING_PERSON_LEVELS = frozenset({"missing_child", "amber_regional", "amber_national"})
QUIET_OVERRIDE_LEVELS = MISSING_PERSON_LEVELS


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def no_control_characters(value: str | None) -> str | None:
    """Texts go out as SMS, speech and CAP XML: control characters (but tab and line
    breaks) have no place there and would make the CAP export malformed."""
    if value is not None and _CONTROL.search(value):
        raise ValueError("control characters are not allowed (tab and line breaks are)")
    return value


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    level: Level
    title: str = Field(min_length=1, max_length=120, json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN))
    message: str = Field(
        min_length=1,
        max_length=640,
        description="SMS text; the reference is put in front",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
    )
    voice_message: str | None = Field(
        default=None, max_length=1500, json_schema_extra=string_pattern(NO_CONTROL_PATTERN)
    )
    target: Target
    channels: list[Channel] = Field(min_length=1, max_length=2)
    expires_in_minutes: int = Field(gt=0, description="At most alerts.max_expires_minutes")
    family_consent: bool = False
    message_en: str | None = Field(
        default=None,
        min_length=1,
        max_length=640,
        description="English SMS text for residents who chose English (else they get the Dutch)",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
    )
    voice_message_en: str | None = Field(
        default=None,
        max_length=1500,
        description="English text for calls (else message_en, else the Dutch, in a Dutch voice)",
        json_schema_extra=string_pattern(NO_CONTROL_PATTERN),
    )

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, v: list[Channel]) -> list[Channel]:
        return sorted(set(v))

    _texts = field_validator("title", "message", "voice_message", "message_en", "voice_message_en")(
        no_control_characters
    )

    @model_validator(mode="after")
    def _consent(self) -> AlertIn:
        if self.level in MISSING_PERSON_LEVELS and not self.family_consent:
            raise ValueError(f"level {self.level} needs the family's consent: family_consent must be true")
        return self


class Counts(BaseModel):
    queued: int = 0
    sending: int = 0
    sent: int = 0
    delivered: int = 0
    undelivered: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    skipped: int = 0


class CapSource(BaseModel):
    """The CAP message an alert was imported from (its export's ``<references>`` name it)."""

    identifier: str | None
    sender: str | None
    sent: datetime | None


class AlertOut(BaseModel):
    id: int
    status: AlertStatus
    level: Level
    title: str
    message: str
    voice_message: str | None
    message_en: str | None = None
    voice_message_en: str | None = None
    target: dict[str, Any]
    channels: list[Channel]
    reference: str
    municipalities: list[str]
    expires_in_minutes: int
    created_at: datetime
    sent_at: datetime | None
    closed_at: datetime | None
    expires_at: datetime | None
    closing_message: str | None = None
    cap_source: CapSource | None = Field(
        default=None, description="The CAP message the alert was imported from; null if not imported"
    )
    counts: Counts
    # the same per channel (only channels with deliveries), for a progress bar per channel
    counts_by_channel: dict[Channel, Counts] = {}
    closing_counts: Counts | None = None
    area: dict[str, Any] | None = Field(
        default=None,
        description="The targeted area as a GeoJSON Feature (WGS84) for a map: a geometry, or "
        "properties.codes for CBS areas. In single-alert answers, not in lists.",
    )


class AlertList(BaseModel):
    items: list[AlertOut]
    next: str | None = None


class AlertListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: AlertStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    before: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Cursor: the id to continue below"
    )


class Recipients(BaseModel):
    total: int
    sms: int
    voice: int


class QuietHoursCount(BaseModel):
    deferred: int
    skipped: int


class SmsInfo(BaseModel):
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    characters: int
    ucs2_characters: list[str]
    text: str = Field(description="The SMS exactly as residents will get it")
    gsm7_suggestion: str | None = Field(
        default=None, description="A GSM-7 version when look-alikes forced UCS-2"
    )


class PreviewWarning(BaseModel):
    code: str = Field(description="Stable slug, e.g. english-gets-dutch, plain-long-word")
    message: str


class Preview(BaseModel):
    recipients: Recipients
    recipients_by_language: dict[str, int] = Field(
        default={}, description="Residents reached per language (nl, en)"
    )
    warnings: list[PreviewWarning] = Field(
        default=[], description="Things to check before sending; never a block"
    )
    quiet_hours: QuietHoursCount
    over_budget: int
    outside_scope: int = Field(
        description="Residents in the target outside your municipalities (not reached)"
    )
    sms: SmsInfo
    estimated_seconds: float = Field(
        description="Until the last immediate recipient is reached at the configured rates"
    )
    area: dict[str, Any] | None = Field(
        default=None,
        description="The targeted area as a GeoJSON Feature (WGS84) for a map: a geometry, or "
        "properties.codes for CBS areas",
    )


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    message: str = Field(min_length=1, max_length=640, json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN))

    _text = field_validator("message")(no_control_characters)


class CapQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    msg_type: Literal["Alert", "Update", "Cancel"] | None = None
