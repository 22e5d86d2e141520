"""Request model of the council report (the answer is HTML or CSV, not JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SafetyReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: str = Field(pattern=r"^GM\d{4}$", examples=["GM9999"])
    year: int = Field(ge=2000, le=2100, examples=[2025])
    quarter: int | None = Field(default=None, ge=1, le=4, description="Leave out for the whole year")
    format: Literal["html", "csv"] | None = Field(
        default=None, description="Default HTML; CSV also with Accept: text/csv"
    )
