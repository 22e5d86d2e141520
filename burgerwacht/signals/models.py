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
    observed_on: IsoDate | None = Field(
        default=None,
        description=(
            "Default: today (Europe/Amsterdam). At most `signals.max_backdate_days` days back (default 31; "
            "older is a 422), except for admins"
        ),
    )
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


class NoiseOut(BaseModel):
    max: int = Field(description="Largest cell-key noise either way, added before rounding")
    variance: float


class PrivacyOut(BaseModel):
    k: int
    round_to: int
    protection: int | None = None
    noise: NoiseOut | None = None


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
    inserted: int = Field(description="Rows for an area, theme and period that had none")
    updated: int = Field(description="Rows that replaced a stored row of exactly the same period")
    replaced: int = Field(description="Stored rows deleted because a line overlapped them (replace=true)")
    municipalities: list[str]


class GebiedsscanQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    replace: bool = Field(
        default=False,
        description="Replace stored rows of the same area and theme whose dates overlap a line "
        "(atomically, with the import); without it such a line is a 422",
    )


class InformatiepositieQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: str = Field(pattern=GM, examples=["GM9999"])
    period: str = Field(json_schema_extra=string_pattern(PERIOD), examples=["2025", "2025-Q1", "2025-03"])
    limit: int = Field(default=20, ge=1, le=200, description="Length of the priority list")
    format: Literal["json", "csv"] | None = Field(default=None, description="csv: the items as CSV")


RegisteredStatus = Literal["published", "suppressed", "coarser_period", "coarser_area", "not_delivered"]
Mismatch = Literal[
    "possible_underreporting",
    "not_bothered_or_not_reached",
    "in_line",
    "no_signals_or_registrations",
    "insufficient_data",
]


class InformatieRow(BaseModel):
    area_code: str
    area_name: str
    level: Level
    theme: str
    theme_name: str
    categories: list[str]
    signals: int | None
    signals_suppressed: bool
    registered: int | None = Field(
        description="Police registrations, protected like the signals (k rule, rounded); null when "
        "suppressed or when the data cannot answer this period or area (registered_status says which)"
    )
    registered_suppressed: bool
    registered_status: RegisteredStatus
    granularity: Literal["month", "quarter", "year"] | None = Field(
        description="With registered_status coarser_period: the period kind the police data comes in"
    )
    area_granularity: Level | None = Field(
        description="With registered_status coarser_area: the area level the police data comes in"
    )
    signal_share: float
    registered_share: float | None
    mismatch: Mismatch = Field(description="From the published figures only")
    score: float
    weight: float


class Priority(BaseModel):
    rank: int
    area_code: str
    area_name: str
    level: Level
    theme: str
    score: float
    mismatch: Mismatch
    reason: str


class Span(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: date = Field(alias="from")
    to: date


class ProgressSide(BaseModel):
    span: Span | None = Field(description="This year's months compared (from January)")
    current: int | None = Field(description="Sum of the published figures of the span")
    baseline: int | None = Field(description="The same months of the baseline year")
    change_pct: float | None
    reason: str | None = Field(
        default=None,
        description="Why a figure is null: suppressed, not_delivered, granularity_<kind>, no_data, "
        "year_not_started",
    )


class ProgressOut(BaseModel):
    theme: str
    theme_name: str
    weight: float
    target_change_pct: float | None
    baseline_year: int
    registrations: ProgressSide
    signals: ProgressSide
    on_track: bool | None = Field(description="registrations.change_pct <= target_change_pct")


class InformatiepositieOut(BaseModel):
    municipality: str
    period: PeriodOut
    privacy: PrivacyOut
    items: list[InformatieRow]
    priorities: list[Priority]
    weights: dict[str, float] = Field(description="Theme weights used: the municipality's, else the defaults")
    progress: list[ProgressOut]
    next: str | None


class PriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    theme: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["woninginbraak"])
    weight: float = Field(ge=0, le=10, allow_inf_nan=False, examples=[2.0])
    target_change_pct: float | None = Field(
        default=None,
        ge=-100,
        le=1000,
        allow_inf_nan=False,
        description="Target change against the baseline year in %, e.g. -10",
        examples=[-10],
    )
    baseline_year: int | None = Field(
        default=None, ge=2000, le=2100, description="Default: the year before the one looked at"
    )


class PrioritiesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[PriorityIn] = Field(max_length=50, description="The whole list; [] returns to the defaults")


class PriorityItemOut(BaseModel):
    theme: str
    theme_name: str
    weight: float
    target_change_pct: float | None
    baseline_year: int | None


class ThemeOut(BaseModel):
    theme: str
    theme_name: str
    default_weight: float


class PrioritiesOut(BaseModel):
    municipality: str
    items: list[PriorityItemOut]
    themes: list[ThemeOut] = Field(description="Every gebiedsscan theme of the configuration")
    default_weights: dict[str, float]
    weights: dict[str, float]
    updated_at: datetime | None


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
