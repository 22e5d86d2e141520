"""API shapes for the effectiveness figures and the joint picture."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from burgerwacht.alerts.models import Level, Outcome
from burgerwacht.fields import IsoDate

GM = r"^GM\d{4}$"
#: The longest range one stats request may cover (whole months, inclusive).
MAX_MONTHS = 24


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    municipality: str = Field(pattern=GM, examples=["GM9999"])
    from_: IsoDate = Field(
        alias="from",
        description="First day; the figures are per whole calendar month (Europe/Amsterdam), so every "
        "month this range touches is reported in full",
        examples=["2026-01-01"],
    )
    to: IsoDate = Field(
        description="Last day, inclusive; at most 24 months after 'from'", examples=["2026-12-31"]
    )
    level: Level | None = Field(default=None, description="Only this alert level")
    format: Literal["json", "csv"] | None = Field(
        default=None, description="csv: the same rows as CSV (as Accept: text/csv)"
    )

    @model_validator(mode="after")
    def _range(self) -> StatsQuery:
        if self.from_ > self.to:
            raise ValueError("'from' must not be after 'to'")
        if months_between(self.from_, self.to) > MAX_MONTHS:
            raise ValueError(f"the range may touch at most {MAX_MONTHS} months")
        return self


def months_between(first: date, last: date) -> int:
    """How many calendar months [first, last] touches."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


class StatsRow(BaseModel):
    level: Level
    month: str = Field(description="YYYY-MM (Europe/Amsterdam) of the alerts' send", examples=["2026-03"])
    alerts: int = Field(description="Alerts sent in the month (exact: alerts are public events)")
    closed: int = Field(description="Of these, closed with an outcome (the base of the outcome shares)")
    reached: int | None = Field(
        description="Residents reached (a sent or delivered message), distinct per alert, summed over the "
        "alerts. Analysts: rounded, null below k"
    )
    updates: int = Field(description="Follow-up messages (vervolgberichten) of these alerts")
    waves: int = Field(description="Widening waves of these alerts")
    tips: int | None = Field(description="Tips linked to these alerts. Analysts: rounded, null below k")
    tips_per_1000: float | None = Field(description="tips per 1,000 reached (from the published figures)")
    first_tip_minutes_median: float | None = Field(
        description="Per alert with a tip: minutes from its send to its first tip; the median over them"
    )
    first_tip_minutes_p90: float | None = Field(
        description="The same, 90th percentile (linear interpolation)"
    )
    first_useful_tip_minutes_median: float | None = Field(
        description="The same for the first tip marked led_to_outcome"
    )
    first_useful_tip_minutes_p90: float | None
    outcomes: dict[Outcome, float] | None = Field(
        description="Share of the closed alerts per outcome (every outcome listed; they sum to 1); null when "
        "none closed (analysts: when fewer than k closed)"
    )
    close_minutes_median: float | None = Field(
        description="Minutes from send to close, median over closed alerts"
    )
    suppressed: list[str] = Field(
        default=[], description="Fields hidden by the privacy rules (analysts only; empty for operators)"
    )


class StatsOut(BaseModel):
    municipality: str
    from_: date = Field(serialization_alias="from", description="First day of the first month reported")
    to: date = Field(description="Last day of the last month reported")
    protected: bool = Field(description="True when the privacy rules were applied (analysts)")
    items: list[StatsRow]


class PictureQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: str = Field(pattern=GM, examples=["GM9999"])
    year: int = Field(ge=2000, le=2100, examples=[2026])


class PictureAlerts(BaseModel):
    area_code: str
    area_name: str
    month: str = Field(examples=["2026-03"])
    level: Level
    alerts: int = Field(description="Alerts sent that month that touched the buurt (exact: public events)")


class PictureBuurt(BaseModel):
    area_code: str
    area_name: str
    wijk_code: str | None
    alerts: int = Field(description="Alerts sent in the year that touched the buurt")
    closed: int = Field(description="Of these, closed with an outcome")
    tips: int | None = Field(description="Tips for these alerts, rounded; null below k")
    outcomes: dict[Outcome, float] | None = Field(
        description="Outcome shares of these alerts; null when fewer than k were closed"
    )
    suppressed: list[str] = []


class PictureOut(BaseModel):
    municipality: str
    year: int
    k: int
    round_to: int
    touches: str = Field(
        description="When an alert counts for a buurt: its target contains at least one address of the buurt"
    )
    alerts: list[PictureAlerts] = Field(description="Per buurt, month and level; only non-zero rows")
    buurten: list[PictureBuurt] = Field(description="Every buurt of the municipality, for the year")
