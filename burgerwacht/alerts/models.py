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
LinkMode = Literal["auto", "always", "never"]
AlertStatus = Literal["draft", "awaiting_approval", "sending", "active", "closed", "cancelled", "expired"]
Mode = Literal["live", "exercise"]
MODE_DESCRIPTION = (
    "exercise: reaches only residents flagged as exercise participants, every SMS starts with "
    "OEFENING and every call with 'Dit is een oefening', CAP status Exercise, in no statistic"
)
Outcome = Literal["found_safe", "found_other", "arrested", "not_found", "false_alarm", "other"]
OUTCOMES: tuple[Outcome, ...] = ("found_safe", "found_other", "arrested", "not_found", "false_alarm", "other")
# Text limits of an alert (and of a template's texts, burgerwacht/templates/models.py).
TITLE_MAX, SMS_TEXT_MAX, VOICE_TEXT_MAX = 120, 640, 1500
MISSING_PERSON_LEVELS = frozenset({"missing_child", "amber_regional", "amber_national"})
QUIET_OVERRIDE_LEVELS = MISSING_PERSON_LEVELS


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def no_control_characters(value: str | None) -> str | None:
    """Texts go out as SMS, speech and CAP XML: control characters (but tab and line
    breaks) have no place there and would make the CAP export malformed."""
    if value is not None and _CONTROL.search(value):
        raise ValueError("control characters are not allowed (tab and line breaks are)")
    return value


class AutoWiden(BaseModel):
    """Auto-widening: a wave every ``every_minutes``, the circle's radius growing by
    ``step_m`` each time, until ``max_radius_m`` (or expiry, close, cancel, widen/stop)."""

    model_config = ConfigDict(extra="forbid")
    every_minutes: float = Field(ge=0.1, le=1440, description="Minutes between waves (fractions down to 0.1)")
    step_m: float = Field(gt=0, le=10000, description="Metres the radius grows per wave")
    max_radius_m: float = Field(
        gt=0, le=100000, description="The last wave's radius; at most alerts.max_radius_m"
    )


MAX_WIDEN_STEPS = 100


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    level: Level
    title: str = Field(
        min_length=1, max_length=TITLE_MAX, json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN)
    )
    message: str = Field(
        min_length=1,
        max_length=SMS_TEXT_MAX,
        description="SMS text; the reference is put in front",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
    )
    voice_message: str | None = Field(
        default=None, max_length=VOICE_TEXT_MAX, json_schema_extra=string_pattern(NO_CONTROL_PATTERN)
    )
    target: Target
    channels: list[Channel] = Field(min_length=1, max_length=2)
    expires_in_minutes: int = Field(gt=0, description="At most alerts.max_expires_minutes")
    family_consent: bool = False
    mode: Mode = Field(default="live", description=MODE_DESCRIPTION)
    widen: AutoWiden | None = Field(default=None, description="Auto-widening (circle targets only)")
    follows: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="An earlier alert for the same incident: residents it reached get only what is new",
    )
    message_en: str | None = Field(
        default=None,
        min_length=1,
        max_length=SMS_TEXT_MAX,
        description="English SMS text for residents who chose English (else they get the Dutch)",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
    )
    voice_message_en: str | None = Field(
        default=None,
        max_length=VOICE_TEXT_MAX,
        description="English text for calls (else message_en, else the Dutch, in a Dutch voice)",
        json_schema_extra=string_pattern(NO_CONTROL_PATTERN),
    )
    link: LinkMode = Field(
        default="auto",
        description="When the start SMS ends with the link to the alert's public page: always; never; "
        "auto (default): when the SMS without it needs more than one segment, or when a follow-up folded "
        "into it shortened the start text",
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

    @model_validator(mode="after")
    def _widen(self) -> AlertIn:
        if self.widen is None:
            return self
        radius = getattr(self.target, "radius_m", None)
        if getattr(self.target, "type", None) != "circle" or radius is None:
            raise ValueError("widen: auto-widening needs a circle target")
        if self.widen.max_radius_m <= radius:
            raise ValueError("widen: max_radius_m must be larger than target.radius_m")
        steps = -(-(self.widen.max_radius_m - radius) // self.widen.step_m)
        if steps > MAX_WIDEN_STEPS:
            raise ValueError(f"widen: at most {MAX_WIDEN_STEPS} waves (take a larger step_m)")
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


class PhotoInfo(BaseModel):
    """The alert's photo as stored: re-encoded to a JPEG without metadata."""

    width: int = Field(description="Pixels (the longest side is at most 1280)")
    height: int
    bytes: int = Field(description="Size of the JPEG (at most 300,000)")
    alt: str = Field(description="Alt text on the public page; empty: the alert's title is used")
    created_at: datetime


class UpdateOut(BaseModel):
    id: int
    number: int
    message: str
    voice_message: str | None = None
    created_at: datetime
    counts: Counts = Field(default_factory=Counts, description="Deliveries of this follow-up per state")


class WaveOut(BaseModel):
    id: int
    number: int
    target: dict[str, Any]
    added: int = Field(description="Residents who get the alert through this wave")
    auto: bool = Field(default=False, description="Added by auto-widening")
    created_at: datetime
    counts: Counts = Field(default_factory=Counts, description="This wave's start messages per state")
    area: dict[str, Any] | None = Field(
        default=None, description="The wave's area as a GeoJSON Feature (WGS84)"
    )


class WidenState(BaseModel):
    every_minutes: float
    step_m: float
    max_radius_m: float
    radius_m: float | None = Field(description="The radius reached so far")
    next_at: datetime | None = Field(description="The next automatic wave; null when none will come")
    ended: str | None = Field(
        description="Why auto-widening ended: max_radius, stopped, alert_ended, expired"
    )


class AlertOut(BaseModel):
    id: int
    status: AlertStatus
    mode: Mode = Field(default="live", description=MODE_DESCRIPTION)
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
    outcome: Outcome | None = Field(default=None, description="Set when the alert was closed")
    outcome_note: str | None = None
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
    follows: int | None = Field(default=None, description="The earlier alert for the same incident")
    template_id: int | None = Field(
        default=None, description="The template it was made from (null when none, or deleted since)"
    )
    widen: WidenState | None = None
    updates: list[UpdateOut] = Field(
        default=[], description="Follow-ups, oldest first (single-alert answers)"
    )
    waves: list[WaveOut] = Field(default=[], description="Waves, oldest first (single-alert answers)")
    link: LinkMode = Field(default="auto", description="When the start SMS carries the public page link")
    public_url: str | None = Field(
        default=None,
        description="The alert's public page (public.short_url + /a/{token}); null until sent, and for a "
        "cancelled alert",
    )
    photo_url: str | None = Field(
        default=None,
        description="The alert's photo (public.short_url + /a/{token}/photo.jpg, a JPEG); null without a "
        "photo. It answers once the alert was sent (before that: GET /api/v1/alerts/{id}/photo for "
        "operators) and goes public.page_days_after_close days after the alert ended",
    )
    photo: PhotoInfo | None = Field(default=None, description="The photo's size and alt text; null without")
    approval: Approval | None = Field(
        default=None,
        description="The send request of a level that needs a second person (alerts.approval_levels), "
        "with the preview frozen at that moment, and who approved it; null when never requested or rejected",
    )
    rejection: Rejection | None = Field(default=None, description="The last rejection of a send request")
    materialising: bool = Field(
        default=False,
        description="True while a large alert's deliveries are still being written in chunks (alerts."
        "materialise_chunk resident ids each, the first with the send, the rest by the workers, "
        "alerts.materialise_parallel chunks at once per worker): its counts are not the whole "
        "audience yet, it stays 'sending' and cannot be widened. False otherwise.",
    )
    materialised_at: datetime | None = Field(
        default=None,
        description="When all of the alert's start messages were written (its sent_at unless written in "
        "chunks); null before sending, while materialising, and when it ended first",
    )


class AlertList(BaseModel):
    items: list[AlertOut]
    next: str | None = None


class AlertListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: AlertStatus | None = Field(default=None, description="awaiting_approval: the approval queue")
    mode: Mode | None = Field(default=None, description="Only live alerts or only exercises")
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


class WidenStep(BaseModel):
    number: int
    radius_m: float
    added: int = Field(description="Residents this wave would add")
    sms: int
    voice: int
    starts_after_seconds: float = Field(description="After the send")
    done_after_seconds: float = Field(
        description="When its last immediate message is out at the configured rates"
    )


class PreviewWarning(BaseModel):
    """Something the operator should know before sending (the alert can still be sent)."""

    code: Literal[
        "low-coverage",
        "english-gets-dutch",
        "plain-long-sentence",
        "plain-long-word",
        "plain-abbreviation",
        "plain-ambiguous-time",
    ] = Field(
        description="low-coverage: few residents reached per 1,000 inhabitants "
        "(participation.low_coverage_per_1000), use other channels too; english-gets-dutch: residents "
        "who chose English get the Dutch text (no message_en); plain-*: the plain-Dutch check "
        "([plain_dutch] in the configuration)"
    )
    message: str
    per_1000: float | None = Field(
        default=None, description="low-coverage: reached residents per 1,000 inhabitants"
    )
    threshold_per_1000: float | None = Field(default=None, description="low-coverage: the threshold")
    inhabitants: int | None = Field(
        default=None, description="low-coverage: estimated inhabitants of the target (CBS KWB)"
    )


class VoiceEstimate(BaseModel):
    """How long the immediate calls take under the provider's two voice limits."""

    calls: int = Field(description="Calls that go out now (recipients.voice less quiet hours)")
    expected_call_seconds: float = Field(
        description="What one alert call lasts: ring time + the spoken message and menu (alerts/estimate.py)"
    )
    calls_per_second: float = Field(description="twilio.calls_per_second: calls started per second")
    max_concurrent_calls: int = Field(description="twilio.max_concurrent_calls: calls in progress at once")
    seconds: float = Field(
        description="max(calls / calls_per_second, calls × expected_call_seconds / max_concurrent_calls)"
    )
    limited_by: Literal["calls_per_second", "max_concurrent_calls"] = Field(
        description="The limit that sets the pace"
    )


class Preview(BaseModel):
    recipients: Recipients
    recipients_by_language: dict[str, int] = Field(
        default={}, description="Residents reached per language (nl, en)"
    )
    warnings: list[PreviewWarning] = Field(
        default=[], description="Things to weigh before sending; never a block (codes: PreviewWarning)"
    )
    quiet_hours: QuietHoursCount
    over_budget: int
    outside_scope: int = Field(
        description="Residents in the target outside your municipalities (not reached)"
    )
    sms: SmsInfo
    estimated_seconds: float = Field(
        description="Until the last immediate recipient is reached at the configured rates: the longer "
        "of the SMS (recipients / twilio.sms_per_second) and the calls (voice_estimate.seconds)"
    )
    voice_estimate: VoiceEstimate | None = Field(
        default=None,
        description="The calls' part of the estimate: calls per second and calls in progress at once "
        "are separate provider limits (absent in previews frozen before it existed)",
    )
    area: dict[str, Any] | None = Field(
        default=None,
        description="The targeted area as a GeoJSON Feature (WGS84) for a map: a geometry, or "
        "properties.codes for CBS areas",
    )
    related_reached: int = Field(
        default=0, description="Residents already reached by a related alert (follows): only what is new"
    )
    widen: list[WidenStep] | None = Field(
        default=None, description="Auto-widening: the reach of each wave, projected"
    )


class Approval(BaseModel):
    requested_by: int = Field(description="The staff user who asked to send")
    requested_by_name: str | None = Field(
        default=None, description="That user's name, for the approval queue (absent on older requests)"
    )
    requested_at: datetime
    preview: Preview = Field(description="The preview when the send was requested (recipient counts frozen)")
    approved_by: int | None = Field(default=None, description="The second person who approved (and sent) it")
    approved_at: datetime | None = None


class Rejection(BaseModel):
    rejected_by: int
    rejected_at: datetime
    reason: str


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why the alert goes back to draft (shown to the author)",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
    )

    _text = field_validator("reason")(no_control_characters)


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    message: str = Field(
        min_length=1,
        max_length=SMS_TEXT_MAX,
        description="SMS text of the follow-up",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
    )
    voice_message: str | None = Field(
        default=None, max_length=VOICE_TEXT_MAX, json_schema_extra=string_pattern(NO_CONTROL_PATTERN)
    )

    _texts = field_validator("message", "voice_message")(no_control_characters)


class UpdatePreview(BaseModel):
    recipients: Recipients = Field(description="Residents already reached, who get the follow-up")
    pending: int = Field(description="Start messages still to go out: they carry the latest text instead")
    sms: SmsInfo = Field(description="The follow-up as reached residents get it")
    current: SmsInfo = Field(description="The start message with this follow-up folded in (later recipients)")


class UpdateCreated(BaseModel):
    update: UpdateOut
    alert: AlertOut


class WidenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Target


class WaveCreated(BaseModel):
    wave: WaveOut | None = Field(description="Null when the target adds nobody")
    added: int
    detail: str
    alert: AlertOut


class CloseIn(BaseModel):
    """The closing message (afloopbericht) and how the incident ended. The body of
    before outcomes existed, ``{message}`` alone, is still valid: it means ``outcome: other``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    message: str = Field(
        min_length=1, max_length=SMS_TEXT_MAX, json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN)
    )
    outcome: Outcome = Field(
        default="other",
        description="How the incident ended (for the effectiveness figures); left out it is 'other'",
    )
    outcome_note: str | None = Field(
        default=None,
        max_length=500,
        description="A short note for colleagues, never sent to residents; phone numbers in it are masked",
        json_schema_extra=string_pattern(NO_CONTROL_PATTERN),
    )

    _text = field_validator("message", "outcome_note")(no_control_characters)


class CapQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    msg_type: Literal["Alert", "Update", "Cancel"] | None = None


AlertOut.model_rebuild()
