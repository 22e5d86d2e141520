"""API shapes for participation coverage and the KWB import."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from burgerwacht.signals.models import NoiseOut

GM = r"^GM\d{4}$"


class ParticipationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: str = Field(pattern=GM, examples=["GM9999"])
    level: Literal["buurt", "wijk"] = "buurt"
    format: Literal["json", "geojson"] | None = Field(
        default=None, description="geojson: a FeatureCollection (also with Accept: application/geo+json)"
    )


class ParticipationRow(BaseModel):
    area_code: str
    area_name: str
    level: Literal["buurt", "wijk"]
    enrolled: int | None = Field(
        description="Active residents enrolled at an address in the area (each once per buurt); "
        "perturbed, rounded, null when suppressed"
    )
    sms: int | None = Field(description="Of whom reachable by SMS (same protection)")
    voice: int | None = Field(description="Of whom reachable by voice call (same protection)")
    inhabitants: int | None = Field(description="CBS KWB 'a_inw' (null: no figure imported)")
    households: int | None = Field(description="CBS KWB 'a_hh' (null: no figure imported)")
    per_1000: float | None = Field(
        description="enrolled per 1,000 inhabitants; null when suppressed or unknown"
    )
    suppressed: bool = Field(description="enrolled is hidden (k rule or complementary suppression)")


class ParticipationPrivacy(BaseModel):
    """The signals' rules (burgerwacht/signals/privacy.py): cell-key noise from the
    p-table ``privacy.noise``, published only when count plus noise reaches k + max,
    rounding, complementary suppression with an audit keeping ``protection`` + 1
    possible values for every hidden small count."""

    k: int
    round_to: int
    protection: int
    noise: NoiseOut


class ParticipationOut(BaseModel):
    municipality: str
    level: Literal["buurt", "wijk"]
    privacy: ParticipationPrivacy
    items: list[ParticipationRow]


class KwbResult(BaseModel):
    rows: int
    inserted: int
    updated: int
    known_areas: int = Field(description="Rows whose code is an area imported here")
    municipalities: list[str]
