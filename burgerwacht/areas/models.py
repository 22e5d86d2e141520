"""API shapes for areas (GeoJSON out)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["gemeente", "wijk", "buurt"]


class AreasQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: str = Field(pattern=r"^GM\d{4}$", examples=["GM9999"])
    level: Level | None = None


class AreaProperties(BaseModel):
    code: str
    level: Level
    name: str
    municipality_code: str
    district_code: str | None
    year: int | None
    addresses: int


class AreaFeatureOut(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, WGS84 (RFC 7946)")
    properties: AreaProperties


class AreaCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeatureOut]
