"""Shapes of the public page's tip form (its constraints are in the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from burgerwacht.alerts.models import no_control_characters
from burgerwacht.fields import VISIBLE_TEXT_PATTERN, string_pattern

TIP_MAX = 1000


class TipFormIn(BaseModel):
    """The form on ``/a/{token}`` (application/x-www-form-urlencoded). A bad text or
    phone number re-shows the page with the message (422); ``website`` is a honeypot:
    people leave it empty, a form filled in by a bot is thanked and dropped."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    text: str = Field(
        min_length=1,
        max_length=TIP_MAX,
        description="What the visitor saw (tab and line breaks allowed, no other control characters)",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
    )
    phone: str = Field(
        default="",
        max_length=32,
        description="Optional phone number for a call back (any valid number, national or +); empty: the "
        "tip is anonymous. Never shown on the page nor logged",
    )
    website: str = Field(default="", max_length=200, description="Honeypot: leave empty")

    _text = field_validator("text")(no_control_characters)


class PageQuery(BaseModel):
    """Query of the page (unknown parameters are ignored: links get tracking tags)."""

    model_config = ConfigDict(extra="ignore")
    lang: str = Field(default="nl", description="en for English; anything else is Dutch")
    bedankt: str | None = Field(default=None, description="1: the thank-you note after a tip")
