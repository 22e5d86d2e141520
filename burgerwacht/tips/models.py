"""API shapes for tips."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from burgerwacht.fields import IsoDateTime
from burgerwacht.patch import PatchModel

TipStatus = Literal["new", "read", "useful", "not_useful"]
STATUS_RANK = {"new": 0, "read": 1, "useful": 2, "not_useful": 2}


MediaStatus = Literal["pending", "stored", "not_kept", "failed", "erased"]


class TipMediaOut(BaseModel):
    """A photo that came with the tip (a picture message's MediaUrl{n}, or the public
    page form's photo as n = 0)."""

    n: int = Field(ge=0, le=9, description="Counts from 0, as Twilio's MediaUrl0")
    status: MediaStatus = Field(
        description="pending: still being fetched from the provider; stored: the photo is at url; "
        "not_kept: refused (type other than JPEG/PNG/WebP, larger than tips.media_max_bytes, not a "
        "readable photo, or a URL off the provider's media host); failed: the fetch failed "
        "tips.media_max_attempts times; erased: erased with the tip"
    )
    url: str | None = Field(
        default=None, description="GET /api/v1/tips/{id}/media/{n} (a JPEG) when stored; else null"
    )
    width: int | None = None
    height: int | None = None
    bytes: int | None = Field(default=None, description="Size of the stored JPEG")
    reason: str | None = Field(default=None, description="Why it was not kept or failed")


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
    media: list[TipMediaOut] = Field(
        default_factory=list, description="Photos with the tip (picture messages, the public page's form)"
    )


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
