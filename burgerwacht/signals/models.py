"""API shapes for signals, summaries, gebiedsscan, informatiepositie and reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from burgerwacht.fields import IsoDate, string_pattern
from burgerwacht.patch import PatchModel

Source = Literal["interview", "schouw", "sms", "open311", "handhaving"]
Level = Literal["buurt", "wijk", "gemeente"]
GM = r"^GM\d{4}$"
#: What periods.parse_period accepts (years 2000-2100): 2025, 2025-Q1 (or 2025Q1), 2025-03.
PERIOD = r"^(20\d{2}|2100)(-(0[1-9]|1[0-2])|-?[Qq][1-4])?$"
MONTH = r"^(20\d{2}|2100)-(0[1-9]|1[0-2])$"
_XOR = "Give category or group, not both (both is a 422)."


class LatLon(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=50.5, le=53.8, examples=[52.05545])
    lon: float = Field(ge=3.0, le=7.5, examples=[5.78865])


class SignalIn(BaseModel):
    """A Buurtsignaal from an interview, a street walk (schouw) or enforcement."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        # exactly one of area_code and point (null is absent)
        json_schema_extra={
            "oneOf": [
                {"required": ["area_code"], "properties": {"area_code": {"type": "string"}}},
                {"required": ["point"], "properties": {"point": {"type": "object"}}},
            ]
        },
    )
    area_code: str | None = Field(
        default=None, pattern=r"^(?i:BU\d{8}|WK\d{6}|GM\d{4})$", examples=["BU99990101"]
    )
    point: LatLon | None = Field(
        default=None, description="WGS84; stored exactly, shown to fieldworkers only"
    )
    category: str = Field(min_length=1, max_length=40, examples=["graffiti"])
    severity: int = Field(ge=1, le=5, description="Impact on the feeling of safety, 1 (little) to 5 (great)")
    observed_on: IsoDate | None = Field(default=None, description="Default: today (Europe/Amsterdam)")
    source: Source
    text: str | None = Field(default=None, max_length=4000, description="Fieldworkers/operators only")

    @model_validator(mode="after")
    def _one_place(self) -> SignalIn:
        if (self.area_code is None) == (self.point is None):
            raise ValueError("give exactly one of area_code (a buurt) and point")
        return self


class SignalPatch(PatchModel):
    """Triage by a fieldworker: reclassify, rate, close."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    category: str | None = Field(default=None, min_length=1, max_length=40)
    severity: int | None = Field(default=None, ge=1, le=5)
    status: Literal["open", "closed"] | None = None
    status_notes: str | None = Field(default=None, max_length=1000)
    public_note: str | None = Field(
        default=None,
        max_length=500,
        description="What the reporter reads (Open311 status_notes); phone numbers are masked; "
        "an empty string removes it",
    )


class PointOut(BaseModel):
    lat: float
    lon: float


class SignalOut(BaseModel):
    id: int
    service_request_id: str
    municipality_code: str
    wijk_code: str | None
    buurt_code: str
    buurt_name: str | None = None
    category: str
    group: str | None
    severity: int | None
    observed_on: date
    source: Source
    text: str | None
    point: PointOut | None
    status: Literal["open", "closed"]
    status_notes: str | None
    public_note: str | None = None
    created_at: datetime
    updated_at: datetime


class SignalList(BaseModel):
    items: list[SignalOut]
    next: str | None


class SignalListQuery(BaseModel):
    municipality: str | None = Field(default=None, pattern=GM)
    status: Literal["open", "closed"] | None = None
    category: str | None = Field(default=None, max_length=40)
    buurt: str | None = Field(default=None, pattern=r"^BU\d{8}$")
    from_: IsoDate | None = Field(default=None, alias="from")
    to: IsoDate | None = None
    cursor: str | None = Field(default=None, pattern=r"^\d{1,18}$")
    limit: int = Field(default=50, ge=1, le=500)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    municipality: str = Field(pattern=GM, examples=["GM9999"])
    level: Level = "buurt"
    period: str | None = Field(
        default=None,
        json_schema_extra=string_pattern(PERIOD),
        description="2025 | 2025-Q1 | 2025-03; default the last complete month. "
        "Not with from/to (both is a 422).",
        examples=["2025-03"],
    )
    from_: IsoDate | None = Field(
        default=None,
        alias="from",
        description="With 'to' (one without the other is a 422): one whole month, quarter or year",
    )
    to: IsoDate | None = Field(default=None, description="With 'from': the last day, inclusive")
    category: str | None = Field(default=None, max_length=40, description=_XOR)
    group: str | None = Field(
        default=None, max_length=40, description="A group code, or 'all' for every category. " + _XOR
    )
    compare: Literal["previous", "none"] = "previous"
    format: Literal["json", "csv", "geojson"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SummaryQuery:
        if self.category and self.group:
            raise ValueError("give category or group, not both")
        if (self.from_ is None) != (self.to is None):
            raise ValueError("give both from and to")
        if self.period and self.from_:
            raise ValueError("give period or from/to, not both")
        return self


class SummaryRow(BaseModel):
    area_code: str
    area_name: str
    level: Level
    category: str
    group: str | None
    period: str
    count: int | None = Field(description="Rounded; null when suppressed")
    suppressed: bool
    previous_count: int | None
    change: int | None = Field(description="count - previous_count, from the published figures")
    change_pct: float | None
    share: float | None = Field(description="Share of the municipality's count for this category")
    mean_severity: float | None


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    label: str
    kind: Literal["month", "quarter", "year"]
    from_: date = Field(alias="from")
    to: date


class PrivacyOut(BaseModel):
    k: int
    round_to: int
    protection: int | None = None


class SummaryOut(BaseModel):
    municipality: str
    level: Level
    period: PeriodOut
    previous_period: PeriodOut | None
    privacy: PrivacyOut
    items: list[SummaryRow]
    next: str | None


class TrendQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: str = Field(pattern=GM, examples=["GM9999"])
    area: str | None = Field(
        default=None,
        pattern=r"^(BU\d{8}|WK\d{6}|GM\d{4})$",
        description="A buurt or wijk of the municipality, or the municipality itself (the default)",
        examples=["BU99990101"],
    )
    category: str | None = Field(default=None, max_length=40, description=_XOR)
    group: str | None = Field(
        default=None,
        max_length=40,
        description="A group code, or 'all' (the default) for every category. " + _XOR,
    )
    to: str | None = Field(
        default=None,
        json_schema_extra=string_pattern(MONTH),
        description="The last month, YYYY-MM; default the last complete month",
        examples=["2025-03"],
    )
    months: int = Field(default=12, ge=1, le=36, description="How many months up to and including 'to'")

    @model_validator(mode="after")
    def _one_node(self) -> TrendQuery:
        if self.category and self.group:
            raise ValueError("give category or group, not both")
        return self


class TrendPoint(BaseModel):
    period: str = Field(examples=["2025-03"])
    count: int | None = Field(description="Rounded; null when suppressed")
    suppressed: bool
    mean_severity: float | None


class TrendOut(BaseModel):
    """One area's monthly counts, exactly as the summaries publish them (the same
    protected cubes), so a trend cannot tell more than the summaries do."""

    municipality: str
    area_code: str
    area_name: str
    level: Level
    category: str
    group: str | None
    privacy: PrivacyOut
    points: list[TrendPoint]


class GebiedsscanOut(BaseModel):
    rows: int
    inserted: int
    updated: int
    municipalities: list[str]


class InformatiepositieQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: str = Field(pattern=GM, examples=["GM9999"])
    period: str = Field(json_schema_extra=string_pattern(PERIOD), examples=["2025", "2025-Q1", "2025-03"])
    limit: int = Field(default=20, ge=1, le=200, description="Length of the priority list")


class InformatieRow(BaseModel):
    area_code: str
    area_name: str
    level: Level
    theme: str
    theme_name: str
    categories: list[str]
    signals: int | None
    signals_suppressed: bool
    registered: int
    signal_share: float
    registered_share: float
    mismatch: Literal[
        "possible_underreporting", "not_bothered_or_not_reached", "in_line", "no_signals_or_registrations"
    ]
    score: float


class Priority(BaseModel):
    rank: int
    area_code: str
    area_name: str
    level: Level
    theme: str
    score: float
    mismatch: str
    reason: str


class InformatiepositieOut(BaseModel):
    municipality: str
    period: PeriodOut
    privacy: PrivacyOut
    items: list[InformatieRow]
    priorities: list[Priority]
    next: str | None


class ReportsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: str | None = Field(default=None, pattern=GM)
    cursor: str | None = Field(default=None, pattern=r"^\d{1,18}$")
    limit: int = Field(default=50, ge=1, le=200)


class ReportOut(BaseModel):
    id: int
    municipality: str
    kind: str
    label: str
    period: dict[str, str]
    created_at: datetime
    rows: int
    csv_file: str | None


class ReportList(BaseModel):
    items: list[ReportOut]
    next: str | None


class ReportDetail(ReportOut):
    content: dict[str, Any]
