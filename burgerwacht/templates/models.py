"""Template request and answer shapes, and the alert body that names a template.

The texts obey the limits of an alert's (``AlertIn``): same lengths, same text patterns,
same channels and levels; they may hold ``{placeholders}`` (see ``placeholders.py``).
"""

from __future__ import annotations

import operator
from datetime import datetime
from functools import reduce
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model, field_validator
from pydantic.fields import FieldInfo

from burgerwacht.alerts.models import (
    SMS_TEXT_MAX,
    TITLE_MAX,
    VOICE_TEXT_MAX,
    AlertIn,
    Channel,
    Level,
    no_control_characters,
)
from burgerwacht.alerts.targets import TARGETS, CircleTarget
from burgerwacht.fields import NO_CONTROL_PATTERN, VISIBLE_TEXT_PATTERN, string_pattern
from burgerwacht.patch import PatchModel
from burgerwacht.templates.placeholders import NAME_PATTERN, TemplateSyntaxError, names

MUNICIPALITY = r"^GM\d{4}$"
MAX_NAME = 80
MAX_FIELD_VALUE = 200
MAX_FIELDS = 50
#: A placeholder value is one line: no control characters at all (no line breaks either).
FIELD_VALUE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"

PLACEHOLDER_HELP = (
    "May hold placeholders {name} (name: a-z, 0-9 and _, not first a digit, at most 40 characters), "
    "filled from fields when an alert is made from the template; {{ and }} are literal braces. "
    "A malformed brace is a 422."
)


def _placeholders_ok(value: str | None) -> str | None:
    try:
        names(value)
    except TemplateSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return value


def _empty_is_none(value: str | None) -> str | None:
    return value or None


def _name(**kw: Any) -> Any:
    return Field(
        min_length=1,
        max_length=MAX_NAME,
        description="Unique per municipality (and among the national templates), whatever its case",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
        examples=["Vermist kind"],
        **kw,
    )


def _title(**kw: Any) -> Any:
    return Field(
        min_length=1,
        max_length=TITLE_MAX,
        description=f"As an alert's title. {PLACEHOLDER_HELP}",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
        **kw,
    )


def _message(**kw: Any) -> Any:
    return Field(
        min_length=1,
        max_length=SMS_TEXT_MAX,
        description=f"As an alert's SMS text (the reference is put in front). {PLACEHOLDER_HELP}",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
        **kw,
    )


def _voice(**kw: Any) -> Any:
    return Field(
        max_length=VOICE_TEXT_MAX,
        description=f"Text for calls (else the message is read). {PLACEHOLDER_HELP}",
        json_schema_extra=string_pattern(NO_CONTROL_PATTERN),
        **kw,
    )


def _expires(**kw: Any) -> Any:
    return Field(
        gt=0, description="Lifetime of an alert made from it; at most alerts.max_expires_minutes", **kw
    )


def _radius(**kw: Any) -> Any:
    return Field(
        gt=0,
        allow_inf_nan=False,
        description="Radius for a circle target given without radius_m; at most alerts.max_radius_m",
        **kw,
    )


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = _name()
    municipality: str | None = Field(
        pattern=MUNICIPALITY,
        description="The municipality (GM code) whose operators use it; null: a national template "
        "for every municipality (admins only)",
        examples=["GM9999"],
    )
    level: Level
    title: str = _title()
    message: str = _message()
    voice_message: str | None = _voice(default=None)
    channels: list[Channel] = Field(min_length=1, max_length=2)
    expires_in_minutes: int = _expires()
    radius_m: float | None = _radius(default=None)

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, v: list[Channel]) -> list[Channel]:
        return sorted(set(v))

    _texts = field_validator("name", "title", "message", "voice_message")(no_control_characters)
    _syntax = field_validator("title", "message", "voice_message")(_placeholders_ok)
    _voice_empty = field_validator("voice_message")(_empty_is_none)


class TemplatePatch(PatchModel):
    """A change to a template."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str | None = _name(default=None)
    municipality: str | None = Field(
        default=None,
        pattern=MUNICIPALITY,
        description="Move it to another municipality in your scope (only admins move national templates)",
    )
    level: Level | None = None
    title: str | None = _title(default=None)
    message: str | None = _message(default=None)
    voice_message: str | None = _voice(default=None)
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=2)
    expires_in_minutes: int | None = _expires(default=None)
    radius_m: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Radius for a circle target given without radius_m; 0 removes it; at most "
        "alerts.max_radius_m",
    )

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, v: list[Channel] | None) -> list[Channel] | None:
        return sorted(set(v)) if v is not None else None

    _texts = field_validator("name", "title", "message", "voice_message")(no_control_characters)
    _syntax = field_validator("title", "message", "voice_message")(_placeholders_ok)


TemplatePatch.model_fields[
    "voice_message"
].description = f"Text for calls; an empty text removes it. {PLACEHOLDER_HELP}"
TemplatePatch.model_rebuild(force=True)


class TemplateOut(BaseModel):
    id: int
    name: str
    municipality: str | None = Field(description="GM code; null for a national template")
    level: Level
    title: str
    message: str
    voice_message: str | None
    channels: list[Channel]
    expires_in_minutes: int
    radius_m: float | None
    placeholders: list[str] = Field(
        description="The placeholder names in title, message and voice_message, sorted (read-only)"
    )
    created_at: datetime
    updated_at: datetime


class TemplateList(BaseModel):
    items: list[TemplateOut]
    next: str | None = Field(default=None, description="Always null: every template in scope is listed")


# ------------------------------------------------------------------ alerts from a template

FieldValue = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_FIELD_VALUE,
        pattern=FIELD_VALUE_PATTERN,
        description="The text put in for the placeholder: one line, no control characters",
    ),
]


class TemplateCircleTarget(CircleTarget):
    """A circle whose radius may come from the template."""

    radius_m: float | None = Field(  # type: ignore[assignment]
        default=None,
        gt=0,
        description="Metres; left out: the template's radius_m (a 422 when it has none); the maximum "
        "is configuration (alerts.max_radius_m)",
    )


#: A target of an alert from a template: as AlertIn's, but a circle may leave out radius_m.
TemplateTarget = Annotated[
    reduce(operator.or_, {**TARGETS, "circle": TemplateCircleTarget}.values()),
    Field(discriminator="type"),
]


def _optional(info: FieldInfo) -> tuple[Any, FieldInfo]:
    """An AlertIn field as optional (null or left out: the template's value)."""
    copy = FieldInfo.merge_field_infos(info, default=None)
    copy.default_factory = None
    return info.annotation | None, copy  # type: ignore[operator]


def _from_template_fields() -> dict[str, Any]:
    out: dict[str, Any] = {
        name: _optional(info) for name, info in AlertIn.model_fields.items() if name != "target"
    }
    out["target"] = (TemplateTarget, Field(description=AlertIn.model_fields["target"].description))
    out["template_id"] = (
        int,
        Field(
            ge=1,
            le=2**63 - 1,
            description="The template (in your scope) that supplies level, title, message, voice_message, "
            "channels and expires_in_minutes; any of these given here overrides the template's",
        ),
    )
    out["fields"] = (
        dict[Annotated[str, Field(pattern=f"^{NAME_PATTERN}$")], FieldValue],
        Field(
            default_factory=dict,
            max_length=MAX_FIELDS,
            description="A value for every placeholder of the template's texts that are used (a missing "
            "one is a 422 naming it, a name the template lacks too); the filled texts must then pass "
            "the usual alert limits",
            json_schema_extra={"additionalProperties": False},
        ),
    )
    return out


AlertFromTemplate = create_model(  # type: ignore[call-overload]
    "AlertFromTemplate",
    __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
    __doc__="A draft alert made from a template: target (and family_consent for missing-person "
    "levels) plus template_id and fields. A circle target may leave out radius_m when the template "
    "has radius_m.",
    **_from_template_fields(),
)


class AlertCreate(RootModel[AlertIn | AlertFromTemplate]):  # type: ignore[valid-type]
    """The body of ``POST /api/v1/alerts`` (JSON): a full alert, or one made from a template."""


TEMPLATE_KEYS = frozenset(("template_id", "fields"))
