"""API shapes for tips."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from burgerwacht.fields import IsoDateTime
from burgerwacht.patch import PatchModel

TipStatus = Literal["new", "read", "useful", "not_useful"]
STATUS_RANK = {"new": 0, "read": 1, "useful": 2, "not_useful": 2}


class TipOut(BaseModel):
    id: int
    alert_id: int | None
    reference: str | None = Field(default=None, description="The linked alert's reference")
    candidate_alerts: list[int] | None = Field(
        default=None, description="Several alerts could fit; the sender was asked which"
    )
    channel: Literal["sms", "voice", "web"] = Field(description="web: the form on the alert's public page")
    text: str | None
    recording_url: str | None
    recording_seconds: int | None = None
    anonymous: bool
    phone: str | None = Field(default=None, description="Only on non-anonymous tips, for calling back")
    status: TipStatus
    note: str | None = None
    led_to_outcome: bool = Field(default=False, description="Marked as having led to the alert's outcome")
    received_at: datetime
    erased: bool = False


class TipList(BaseModel):
    items: list[TipOut]
    next: str | None = None


class TipQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert: int | None = Field(default=None, ge=1, le=2**63 - 1)
    status: TipStatus | None = None
    since: IsoDateTime | None = None
    limit: int = Field(default=50, ge=1, le=200)
    before: int | None = Field(default=None, ge=1, le=2**63 - 1, description="Cursor: continue below this id")


class TipPatch(PatchModel):
    """Triage of a tip by an operator."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    status: TipStatus | None = None
    note: str | None = Field(default=None, max_length=2000)
    led_to_outcome: bool | None = Field(
        default=None,
        description="This tip led to the alert's outcome (a find, an arrest); only for a tip linked to an "
        "alert. Counts in the effectiveness figures (first useful tip)",
    )


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    message: str = Field(min_length=1, max_length=480)


class ReplyOut(BaseModel):
    tip_id: int
    sent: bool
    segments: int
