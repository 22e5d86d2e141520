"""Bulletin request and answer shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from burgerwacht.alerts.models import no_control_characters
from burgerwacht.fields import VISIBLE_TEXT_PATTERN, string_pattern

MAX_MESSAGE = 300


class BulletinIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    area_code: str = Field(
        pattern=r"^(BU\d{8}|WK\d{6})$", description="A buurt or wijk code", examples=["BU99990101"]
    )
    message: str = Field(
        min_length=1,
        max_length=MAX_MESSAGE,
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
        description="The text residents read (Dutch). With its fixed opening and closing words the SMS "
        "may take at most bulletins.max_segments segments (default 2: 306 GSM-7 characters, or 134 when "
        "a character such as ë or an emoji needs UCS-2); longer is a 422. Phone numbers are masked.",
        examples=["Uw meldingen over zwerfafval bij de speeltuin: de gemeente plaatst extra bakken."],
    )

    _text = field_validator("message")(no_control_characters)


class SmsOut(BaseModel):
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    characters: int


class BulletinOut(BaseModel):
    id: int
    municipality_code: str
    area_code: str
    area_level: Literal["buurt", "wijk"]
    area_name: str | None = None
    message: str = Field(description="As sent: phone numbers masked")
    created_by: str
    created_at: datetime
    recipients: int | None = Field(
        description="Opted-in residents it goes to (now or after their quiet hours): rounded, and null "
        "when fewer than k (privacy.k), as every count staff see about residents"
    )
    deferred: int | None = Field(description="Of those, after their quiet hours (same rule)")
    over_cap: int | None = Field(
        description="Opted in but skipped: over bulletins.max_per_month this calendar month (same rule)"
    )
    suppressed: bool = Field(description="True when any of the three counts is hidden")
    sms: SmsOut | None = None


class BulletinList(BaseModel):
    items: list[BulletinOut]
    next: str | None


class BulletinQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: str | None = Field(default=None, pattern=r"^GM\d{4}$")
    cursor: str | None = Field(default=None, pattern=r"^\d{1,18}$")
    limit: int = Field(default=50, ge=1, le=200)
