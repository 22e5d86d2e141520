"""API shapes for residents and enrolment."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from burgerwacht.patch import PatchModel

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
    exercise: bool = Field(
        default=False, description="An exercise participant: exercise alerts (mode exercise) reach only these"
    )


class ResidentPatch(PatchModel):
    """What an admin may change on a resident."""

    model_config = ConfigDict(extra="forbid")
    exercise: bool | None = Field(
        default=None, description="Take part in exercises: exercise alerts reach only these residents"
    )


class ErasureOut(BaseModel):
    erased: bool
    resident_id: int


# ------------------------------------------------------------------ /mijn (issue 19)

Weekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday: 1 = Monday (ma) … 7 = Sunday (zo)")]


class TimeWindow(BaseModel):
    """When an address is targeted (Europe/Amsterdam), e.g. werk: ma–vr 08:00–18:00. An
    end before the start runs past midnight. Without windows an address is always on."""

    model_config = ConfigDict(extra="forbid")
    days: list[Weekday] = Field(min_length=1, max_length=7, examples=[[1, 2, 3, 4, 5]])
    start: time = Field(examples=["08:00"])
    end: time = Field(examples=["18:00"])

    @field_validator("days")
    @classmethod
    def _unique_days(cls, v: list[int]) -> list[int]:
        return sorted(set(v))

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def stored(self) -> dict[str, object]:
        return {"days": self.days, "start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


class MineAddressOut(BaseModel):
    number: int = Field(
        description="1-based, as ADRESSEN lists them; the path parameter of the address routes"
    )
    label: str
    address: str
    channels: list[Channel]
    quiet_hours: QuietHours | None
    time_windows: list[TimeWindow]
    visit_until: datetime | None = Field(description="A visit (BEZOEK) ends by itself then; null: lasting")


class MineOut(BaseModel):
    phone: str = Field(description="Masked")
    status: Literal["active", "stopped"]
    language: Language
    can_sms: bool
    paused_until: datetime | None
    pause_all: bool
    bulletins_opt_in: bool
    slow_speech: bool
    repeat_message: bool
    sms_only: bool
    addresses: list[MineAddressOut]
    max_addresses: int
    pause_max_days: int


class MinePatch(PatchModel):
    """A resident's own settings."""

    model_config = ConfigDict(extra="forbid")
    language: Language | None = None
    pause_days: int | None = Field(
        default=None,
        ge=0,
        le=366,
        description="Pause for this many days from now (cut to enrolment.pause_max_days); 0 ends it",
    )
    pause_all: bool | None = Field(default=None, description="The pause holds back missing-person alerts too")
    bulletins_opt_in: bool | None = None
    slow_speech: bool | None = None
    repeat_message: bool | None = None
    sms_only: bool | None = None


class MineAddressPatch(PatchModel):
    """One address's settings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    label: str | None = Field(default=None, min_length=1, max_length=40)
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=2)
    quiet_hours: QuietHours | None = None
    time_windows: list[TimeWindow] | None = Field(
        default=None, max_length=14, description="Replaces the windows; [] removes them (always on)"
    )


class MineAddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    postcode: str = Field(min_length=1, max_length=12, examples=["1234 AB"])
    house_number: str = Field(min_length=1, max_length=12, examples=["12", "12a"])
    label: str = Field(default="adres", min_length=1, max_length=40)
