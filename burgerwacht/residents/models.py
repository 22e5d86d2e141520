"""API shapes for residents and enrolment."""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Channel = Literal["sms", "voice"]
Language = Literal["nl", "en"]


class QuietHours(BaseModel):
    """A nightly window (Europe/Amsterdam) in which regular alerts wait or are skipped."""

    model_config = ConfigDict(extra="forbid")
    start: time = Field(examples=["23:00"])
    end: time = Field(examples=["07:00"])

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    phone: str = Field(min_length=3, max_length=32, examples=["06 12345678"])
    postcode: str = Field(min_length=1, max_length=12, examples=["1234 AB"])
    house_number: int | str = Field(examples=[12, "12a"])
    house_letter: str | None = Field(default=None, max_length=1)
    addition: str | None = Field(default=None, max_length=4)
    label: str = Field(default="thuis", min_length=1, max_length=40, examples=["thuis", "werk"])
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=2)
    quiet_hours: QuietHours | None = None
    language: Language = "nl"
    slow_speech: bool = Field(default=False, description="Calls spoken slowly (SSML prosody rate)")
    repeat_message: bool = Field(default=False, description="Calls say the message twice")
    sms_only: bool = Field(
        default=False,
        description="Never a call (deaf or hard of hearing): channels must be sms, and a failed SMS "
        "never falls back to a call",
    )

    @model_validator(mode="after")
    def _sms_only(self) -> EnrolmentIn:
        if self.sms_only and self.channels is not None and "voice" in self.channels:
            raise ValueError("sms_only: channels cannot include voice")
        return self

    @field_validator("house_number")
    @classmethod
    def _number_text(cls, v: int | str) -> int | str:
        if isinstance(v, str) and len(v) > 12:
            raise ValueError("house number is too long")
        return v

    @field_validator("channels")
    @classmethod
    def _unique(cls, v: list[Channel] | None) -> list[Channel] | None:
        return sorted(set(v)) if v else v


class EnrolmentOut(BaseModel):
    id: UUID
    status: Literal["pending_verification"]
    phone: str = Field(description="Masked: the full number is never echoed.")
    address: str
    channels: list[Channel]
    code_sent_by: Channel
    expires_at: datetime


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^\s*\d{6}\s*$", examples=["123456"])


class ResidentAddressOut(BaseModel):
    label: str
    address: str
    buurt_code: str | None
    channels: list[Channel]
    quiet_hours: QuietHours | None


class ResidentOut(BaseModel):
    id: int
    status: Literal["active", "stopped"]
    phone: str = Field(description="Masked")
    language: Language
    addresses: list[ResidentAddressOut]


class ErasureOut(BaseModel):
    erased: bool
    resident_id: int
