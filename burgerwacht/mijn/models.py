"""API shapes of the /mijn sign-in (the settings are ``residents.models.Mine*``)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from burgerwacht.residents.models import Language


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    phone: str = Field(min_length=3, max_length=32, examples=["06 12345678"])
    language: Language = Field(
        default="nl", description="Language of the answers (the SMS is in the resident's)"
    )


class LoginOut(BaseModel):
    id: UUID
    phone: str = Field(description="Masked")
    expires_at: datetime
    detail: str = Field(description="What happens now, in the requested language")


class LoginVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^\s*\d{6}\s*$", examples=["123456"])


class SessionOut(BaseModel):
    expires_at: datetime


class ErasedOut(BaseModel):
    erased: bool


class SessionState(BaseModel):
    signed_in: bool
    expires_at: datetime | None = None
