"""Configuration: ``burgerwacht/defaults/default.toml`` ← the file in ``BURGERWACHT_CONFIG`` ← environment.

Environment variables are ``BURGERWACHT_<KEY>`` for top-level keys and
``BURGERWACHT_<SECTION>__<KEY>`` for keys in a section. Everything is validated by
pydantic-settings; :func:`load_settings` turns a validation failure into
:class:`ConfigError`, whose message is one line naming the offending key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from burgerwacht.phone import PhoneError, parse_phone
from burgerwacht.resources import DEFAULTS, as_path

DEFAULT_CONFIG = as_path(DEFAULTS / "default.toml")  # shipped in the package (resources.py)
ENV_PREFIX = "BURGERWACHT_"

Positive = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


#: Values from the demo configuration, the simulator and docker-compose's demo profile.
DEMO_SECRETS = {
    "security.secret_key": {"development-only-secret-key-change-me", "demo-secret-key-not-for-production"},
    "twilio.auth_token": {"demo-auth-token"},
    "twilio.account_sid": {"ACdemo0000000000000000000000000000"},
}


class ConfigError(Exception):
    """Bad configuration; ``str()`` is a single line naming the key."""


class Section(BaseModel):
    model_config = {"extra": "forbid"}


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    max_body_bytes: PositiveInt = 1_048_576
    request_timeout: Positive = 30
    # Reverse proxies (CIDRs) whose X-Forwarded-For is believed; empty = the peer is the client.
    trusted_proxies: list[IPvAnyNetwork] = []
    # Per-IP limits count a client's network: IPv4 by this prefix, IPv6 by /64 (one subscriber).
    ipv4_limit_prefix: Annotated[int, Field(ge=8, le=32)] = 24
    ipv6_limit_prefix: Annotated[int, Field(ge=16, le=128)] = 64


class DatabaseSettings(Section):
    pool_min: Annotated[int, Field(ge=0)] = 2
    pool_max: PositiveInt = 20
    command_timeout: Positive = 30
    statement_timeout_ms: PositiveInt = 30_000
    # database_url is a PgBouncer in transaction pooling: no prepared-statement cache
    # (PgBouncer 1.18 cannot carry named statements across server connections) and no
    # statement_timeout startup parameter (PgBouncer refuses it: set it on the role or in
    # PgBouncer's connect_query instead).
    pgbouncer: bool = False
    # PostgreSQL itself, bypassing PgBouncer: the LISTEN of workers and of the web's event
    # hub (which cannot work through transaction pooling), migrations and the CLI. Empty:
    # database_url (behind PgBouncer without it: workers poll, no live events).
    direct_url: str = ""
    # read_database_url: seconds to wait for a connection to the replica, and seconds to
    # read from the primary after the replica failed before trying it again.
    replica_connect_timeout: Positive = 1.0
    replica_retry_seconds: Positive = 5.0

    @field_validator("direct_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if value and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL or empty (database_url)")
        return value


class TwilioSettings(Section):
    account_sid: Annotated[str, Field(pattern=r"^AC[0-9A-Za-z]{32}$")] = "ACdemo0000000000000000000000000000"
    auth_token: Annotated[str, Field(min_length=8)] = "demo-auth-token"  # noqa: S105 - demo simulator
    api_base: AnyHttpUrl = AnyHttpUrl("https://api.twilio.com")
    from_number: Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$")] = "+3197010000000"
    # Sender pool for alert SMS (env: a JSON list); empty = from_number alone. A resident
    # keeps one sender within an alert (alerts/store.py claim).
    from_numbers: list[Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$")]] = []
    # A Messaging Service sends alert SMS instead (MessagingServiceSid, no From; Twilio
    # picks and keeps the sender per recipient, and applies its per-sender limits).
    messaging_service_sid: Annotated[str, Field(pattern=r"^(MG[0-9a-fA-F]{32})?$")] = ""
    # Account limit: SMS per second for the sum of all workers on all machines.
    sms_per_second: Positive = 10.0
    # Per sender of from_numbers (Twilio: 10/s for a long code, 100/s for a short code).
    per_sender_per_second: Positive = 10.0
    calls_per_second: Positive = 1.0
    # Calls in progress at once for the sum of all workers (Twilio's concurrency limit,
    # apart from calls_per_second): a call counts from its create until its final status
    # callback, or until ring timeout + call_time_limit_seconds when that is lost.
    max_concurrent_calls: Annotated[int, Field(ge=1, le=100_000)] = 100
    # Twilio's TimeLimit of an alert call (seconds): no call lasts longer, so a call whose
    # final callback was lost stops counting against max_concurrent_calls after it.
    call_time_limit_seconds: Annotated[int, Field(ge=60, le=14_400)] = 900
    timeout_seconds: Positive = 10.0
    # Connections to the provider per worker: the sends in flight (at most
    # alerts.max_in_flight, see alerts/flow.py) plus the slow ones waiting for their answer
    # (up to timeout_seconds): with 5 % of answers hanging, a worker sending N/s keeps
    # ~N × 0.05 × timeout_seconds of those.
    max_connections: PositiveInt = 1200
    # Start SMS of an alert with a photo as MMS (MediaUrl = the photo on the public page).
    # Off by default: Twilio MMS does not reach Dutch (or most non-US/CA) mobile numbers.
    mms: bool = False

    @model_validator(mode="after")
    def _one_kind_of_sender(self) -> TwilioSettings:
        if self.messaging_service_sid and self.from_numbers:
            raise ValueError("set twilio.from_numbers or twilio.messaging_service_sid, not both")
        return self

    @property
    def senders(self) -> list[str]:
        """The senders of alert SMS: the Messaging Service, or the pool of numbers."""
        if self.messaging_service_sid:
            return [self.messaging_service_sid]
        return list(dict.fromkeys(self.from_numbers)) or [self.from_number]

    @property
    def sms_rate(self) -> float:
        """SMS per second the pool can reach: the account limit, or the senders' sum."""
        if self.messaging_service_sid:
            return self.sms_per_second
        return min(self.sms_per_second, self.per_sender_per_second * len(self.senders))


class SecuritySettings(Section):
    secret_key: Annotated[str, Field(min_length=16)] = "development-only-secret-key-change-me"  # noqa: S105


class AuthSettings(Section):
    token_ttl_days: Annotated[int, Field(ge=0)] = 365


class EnrolmentSettings(Section):
    allowed_countries: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = ["NL"]
    max_addresses: PositiveInt = 5
    code_ttl_minutes: PositiveInt = 10
    code_max_attempts: PositiveInt = 5
    codes_per_phone_per_hour: PositiveInt = 3
    codes_per_ip_per_hour: PositiveInt = 10
    codes_per_prefix_per_hour: PositiveInt = 30
    codes_per_wide_prefix_per_hour: PositiveInt = 100
    codes_per_day: PositiveInt = 5000
    budget_alert_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    # self-service (issue 19)
    pause_default_days: PositiveInt = 7
    pause_max_days: PositiveInt = 60
    move_confirm_minutes: PositiveInt = 30
    visit_default_hours: PositiveInt = 24
    visit_max_hours: PositiveInt = 336
    mijn_session_minutes: PositiveInt = 20


class AlertSettings(Section):
    max_radius_m: PositiveInt = 10_000
    max_polygon_vertices: Annotated[int, Field(ge=4)] = 500
    max_expires_minutes: PositiveInt = 1440
    regular_per_resident_per_day: PositiveInt = 3
    dispatch_batch_size: PositiveInt = 200
    # Deprecated as a fixed bound: the requests in flight adapt to the rate and the
    # provider's latency (alerts/flow.py); this is only the window before the first answer.
    dispatch_concurrency: PositiveInt = 50
    # Upper bound of a worker's requests in flight per channel (also bounded by
    # twilio.max_connections).
    max_in_flight: PositiveInt = 1000
    # A provider request unanswered after this many seconds stops counting against the
    # requests in flight (a hang holds a connection of twilio.max_connections, not a slot).
    slow_send_seconds: Positive = 1.0
    # A claim older than this is taken back (its worker crashed or hangs) and reconciled.
    claim_lease_seconds: Positive = 30.0
    # Seconds a worker may take on SIGTERM to finish or hand back what it holds.
    shutdown_grace_seconds: Positive = 20.0
    # Seconds between queue polls when no NOTIFY arrives (NOTIFY is only a hint).
    poll_seconds: Positive = 0.5
    # An SMS still 'sent' this long after it went out has its status looked up at the
    # provider (its final callback may have been lost, e.g. while the database was away).
    # 3 (+ the job's minute) bounds how long a callback refused during a database outage
    # leaves a delivery 'sent'; most final statuses arrive well within it.
    status_check_after_minutes: PositiveInt = 3
    # A target with more active enrolments than this has its deliveries written in chunks
    # of resident ids: materialise_first with the send, then materialise_chunk at a time by
    # the dispatch workers, so the first messages leave while the rest are being written.
    materialise_at_once: PositiveInt = 20_000
    materialise_first: PositiveInt = 2_000
    materialise_chunk: PositiveInt = 10_000
    # Chunk writers per worker process, each writing a different chunk at once (every
    # worker process adds its own): 2 keeps a 2-core machine's writing parallel while
    # the channel loops send.
    materialise_parallel: PositiveInt = 2
    # Levels whose send needs a second person: the author's send waits (awaiting_approval)
    # until another operator or admin in scope approves it (issue 17).
    approval_levels: list[Literal["regular", "missing_child", "amber_regional", "amber_national"]] = [
        "amber_regional",
        "amber_national",
    ]


class CapSettings(Section):
    """CAP 1.2 import (``burgerwacht/cap``)."""

    # A <circle> of radius 0 (how CAP writes a point) is taken as a circle of this radius.
    min_radius_m: PositiveInt = 100


class AreaSettings(Section):
    """Limits of ``import-areas`` and the area map (README: "Limits")."""

    # Vertices per area (all rings and parts). A larger outline is simplified within
    # simplify_tolerance_m; one that is still larger is refused.
    max_vertices: Annotated[int, Field(ge=4)] = 20_000
    # Metres an outline may move when it is simplified (0 = never simplify, only refuse).
    simplify_tolerance_m: Annotated[float, Field(ge=0)] = 1.0
    # An area file larger than this many bytes, or with more features, is refused unread.
    max_file_bytes: PositiveInt = 256 * 1024 * 1024
    max_features: PositiveInt = 50_000
    # A buurt overlapping another municipality's buurt by more than this many square
    # metres refuses the import (unless --allow-overlap).
    overlap_tolerance_m2: Annotated[float, Field(ge=0)] = 100.0
    # Bytes of WGS84 GeoJSON the web process keeps for GET /api/v1/areas.
    cache_bytes: Annotated[int, Field(ge=0)] = 128 * 1024 * 1024


class PrivacySettings(Section):
    k: Annotated[int, Field(ge=1)] = 5
    round_to: Annotated[int, Field(ge=1)] = 5
    # Cell-key perturbation (docs/signals.md): the probabilities of the noise offsets
    # -D..D added to a published count before rounding (odd length, symmetric).
    noise: list[Annotated[float, Field(ge=0, le=1)]] = [0.1, 0.12, 0.16, 0.24, 0.16, 0.12, 0.1]

    @field_validator("noise")
    @classmethod
    def _ptable(cls, value: list[float]) -> list[float]:
        from burgerwacht.signals.privacy import Noise

        Noise(tuple(value))  # raises ValueError with the reason
        return value

    # The fewest added or removed records that may pin one cell's count exactly: a
    # configuration (k, round_to, noise) that allows fewer is refused. 1 allows noise off.
    min_records_to_pin: Annotated[int, Field(ge=1, le=20)] = 5

    @model_validator(mode="after")
    def _noise_resists_added_records(self) -> PrivacySettings:
        from burgerwacht.signals.privacy import Noise, fewest_records_that_pin

        m = fewest_records_that_pin(Noise(tuple(self.noise)), self.k, self.round_to)
        if m is not None and m < self.min_records_to_pin:
            fits = [
                d
                for d in range(1, 7)
                if (
                    fewest_records_that_pin(
                        Noise(tuple([1 / (2 * d + 1)] * (2 * d + 1))), self.k, self.round_to
                    )
                    or 99
                )
                >= self.min_records_to_pin
            ]
            raise ValueError(
                f"noise with D = {len(self.noise) // 2} (a table of {len(self.noise)}) lets {m} added records "
                f"pin a count at k = {self.k}, round_to = {self.round_to}; min_records_to_pin is "
                f"{self.min_records_to_pin} (docs/signals.md)"
                + (f": a table with D in {fits} fits" if fits else ": no D up to 6 fits; change round_to")
            )
        return self


class ParticipationSettings(Section):
    # The alert preview warns (low-coverage) below this many reached residents per 1,000
    # inhabitants of the target (CBS KWB figures); 0 = never.
    low_coverage_per_1000: Annotated[float, Field(ge=0, le=1000)] = 25.0


class SignalSettings(Section):
    export_dir: Path = Path("exports")
    open311_public_key: str = ""
    open311_requests_per_minute: PositiveInt = 30
    rollup_interval_seconds: PositiveInt = 60
    # A signal observed more than this many days ago is refused (422) unless an admin
    # records it: backdating into old, hidden cells is a differencing tool.
    max_backdate_days: Annotated[int, Field(ge=0)] = 31


class BulletinSettings(Section):
    """Buurt bulletins (terugkoppeling): non-urgent SMS to residents who opted in."""

    max_per_month: PositiveInt = 2  # per resident per calendar month (Europe/Amsterdam)
    max_segments: PositiveInt = 2  # the whole SMS (with its prefix and footer)
    ttl_hours: PositiveInt = 48  # what has not gone out by then (after quiet hours) is dropped


class RetentionSettings(Section):
    tips_days: PositiveInt = 90
    relay_hours: PositiveInt = 72
    deliveries_days: PositiveInt = 365


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(default=True, alias="json")

    model_config = {"extra": "forbid", "populate_by_name": True}

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class SchedulerSettings(Section):
    # Seconds per job name, overriding a job's own period (e.g. {"tips-retention": 600}).
    intervals: dict[str, PositiveInt] = {}
    # Days a job run stays in job_runs (the once-per-period claims; the history of runs).
    keep_runs_days: PositiveInt = 14


class MetricsSettings(Section):
    token: str = ""


class PlainDutchSettings(Section):
    """The plain-Dutch check of an alert's preview (warnings, never a block)."""

    max_sentence_words: PositiveInt = 20
    max_word_letters: PositiveInt = 18
    abbreviations: list[str] = ["sign.", "ca.", "m.b.t.", "i.v.m.", "o.a.", "z.s.m.", "t.h.v.", "bijv."]
    ambiguous_times: list[str] = ["middernacht", "vannacht", "half", "kwart over", "kwart voor"]


class PublicSettings(Section):
    """The public page per alert (``/a/{token}``) and its tip form."""

    # Base of the page links in SMS and in the alert's public_url; empty: public_url.
    short_url: Annotated[str, Field(pattern=r"^(|https?://[^\s/]+(/[^\s]*)?)$")] = ""
    # Days after an alert was closed (or expired) that its page still answers; then 410.
    page_days_after_close: Annotated[int, Field(ge=0)] = 7
    # Seconds a web process reuses a rendered page (a burst after a mass SMS); 0: never.
    page_cache_seconds: Annotated[float, Field(ge=0, le=30)] = 1.0
    # Tips from the page's form per client network per hour, and per alert per minute.
    tips_per_ip_per_hour: PositiveInt = 10
    tips_per_alert_per_minute: PositiveInt = 60


class TipsSettings(Section):
    """The live line to the control room (issue 17): the tip line and digit 2 in an alert
    call first ring the control room of the alert's municipality, then record a tip."""

    # Control-room number per municipality (CBS code → E.164, any written form is
    # normalised); a municipality without one keeps the recording flow alone.
    control_room_numbers: dict[Annotated[str, Field(pattern=r"^GM\d{4}$")], str] = {}
    # Seconds the control room's phone rings before the caller records a tip instead.
    connect_timeout_s: Annotated[int, Field(ge=5, le=60)] = 20
    # Picture messages (issue 17): the media of an inbound MMS are fetched by a background
    # job with the account's credentials, at most media_max_bytes each (the cut-off of
    # the streamed read; at most 5 MB), within media_timeout_s per fetch, retried with
    # a backoff from media_retry_s (doubling) until media_max_attempts, then 'failed'.
    media_max_bytes: Annotated[int, Field(ge=1024, le=5 * 1024 * 1024)] = 5 * 1024 * 1024
    media_timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0
    media_max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    media_retry_s: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @field_validator("control_room_numbers")
    @classmethod
    def _callable_numbers(cls, value: dict[str, str]) -> dict[str, str]:
        numbers = {}
        for code, raw in value.items():
            try:
                phone = parse_phone(raw, ("*",))
            except PhoneError as exc:
                raise ValueError(f"{code}: {exc}") from None
            if not phone.can_call:
                raise ValueError(f"{code}: this number cannot be called")
            numbers[code] = phone.e164
        return numbers


TILE_PLACEHOLDERS = ("{z}", "{x}", "{y}")
# http(s), a host (its first label may be Leaflet's {s} subdomain), a path; none of the
# characters that would break out of the URL or of the CSP the origin goes into
_TILES_URL = re.compile(r"^https?://(\{s\}\.)?[A-Za-z0-9.-]+(:\d{1,5})?/[^\s\"'<>;,\\]*$")


class ConsoleSettings(Section):
    """The base map under the console's maps (Leaflet, vendored): a tile source in Web
    Mercator (EPSG:3857, XYZ/WMTS ``{z}/{x}/{y}``); empty ``tiles_url`` disables it."""

    tiles_url: str = (
        "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png"
    )
    # Shown on the map; plain text (entities such as &copy; are fine, no markup).
    tiles_attribution: Annotated[str, Field(max_length=300, pattern=r"^[^<>]*$")] = (
        "Kaartgegevens &copy; Kadaster"
    )
    # The deepest zoom level the source serves; closer views enlarge its tiles.
    tiles_max_zoom: Annotated[int, Field(ge=0, le=22)] = 19

    @field_validator("tiles_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        if not _TILES_URL.match(value):
            raise ValueError("must be an http(s) URL template such as https://host/path/{z}/{x}/{y}.png")
        missing = [p for p in TILE_PLACEHOLDERS if p not in value]
        if missing:
            raise ValueError(f"the template lacks {', '.join(missing)}")
        unknown = set(re.findall(r"\{[^}]*\}", value)) - {*TILE_PLACEHOLDERS, "{s}", "{r}"}
        if unknown or re.search(r"[{}]", re.sub(r"\{(z|x|y|s|r)\}", "", value)):
            raise ValueError(
                f"unknown placeholder(s) {', '.join(sorted(unknown)) or '{ or }'}; use {{z}}, {{x}}, {{y}}"
            )
        return value

    @property
    def tiles_origin(self) -> str:
        """The tile server's origin for the CSP's img-src ({s} becomes the wildcard *); '' when off."""
        if not self.tiles_url:
            return ""
        scheme, rest = self.tiles_url.split("://", 1)
        host = rest.split("/", 1)[0].replace("{s}", "*")
        return f"{scheme}://{host}"


class Settings(BaseSettings):
    """All configuration of one Burgerwacht process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    database_url: str = ""
    read_database_url: str = ""
    public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8080")
    data_dir: Path = Path(".data")
    environment: Literal["development", "test", "production"] = "development"

    security: SecuritySettings = SecuritySettings()
    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    twilio: TwilioSettings = TwilioSettings()
    auth: AuthSettings = AuthSettings()
    enrolment: EnrolmentSettings = EnrolmentSettings()
    alerts: AlertSettings = AlertSettings()
    cap: CapSettings = CapSettings()
    areas: AreaSettings = AreaSettings()
    privacy: PrivacySettings = PrivacySettings()
    participation: ParticipationSettings = ParticipationSettings()
    signals: SignalSettings = SignalSettings()
    bulletins: BulletinSettings = BulletinSettings()
    retention: RetentionSettings = RetentionSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    plain_dutch: PlainDutchSettings = PlainDutchSettings()
    public: PublicSettings = PublicSettings()
    tips: TipsSettings = TipsSettings()
    console: ConsoleSettings = ConsoleSettings()

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if value and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL or empty (embedded server)")
        return value

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        """Production refuses the demo values of every secret, naming each setting."""
        if self.environment != "production":
            return self
        demo = [
            key
            for key, value in (
                ("security.secret_key", self.security.secret_key),
                ("twilio.auth_token", self.twilio.auth_token),
                ("twilio.account_sid", self.twilio.account_sid),
            )
            if value in DEMO_SECRETS[key]
        ]
        if demo:
            named = ", ".join(f"{key} [{_env_name(tuple(key.split('.')))}]" for key in demo)
            raise ValueError(f"production needs real values, not the demo ones, for: {named}")
        return self

    @property
    def public_base(self) -> str:
        """``public_url`` without a trailing slash, for building webhook URLs."""
        return str(self.public_url).rstrip("/")

    @property
    def short_base(self) -> str:
        """Base of public page links (``public.short_url``, else ``public_url``), no trailing slash."""
        return (self.public.short_url or self.public_base).rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [p for p in (DEFAULT_CONFIG, _config_file()) if p is not None]
        # Earlier sources win: explicit arguments, then environment, then files
        # (the BURGERWACHT_CONFIG file over default.toml).
        return (
            init_settings,
            env_settings,
            *(TomlConfigSettingsSource(settings_cls, toml_file=f) for f in reversed(files)),
        )


def _config_file() -> Path | None:
    name = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if not name:
        return None
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"configuration error: {ENV_PREFIX}CONFIG: file not found: {name}")
    return path


def _env_name(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every offending key, its problem and where to set it."""
    parts = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not isinstance(p, int))
        key = ".".join(str(p) for p in loc) or "(root)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        value = err.get("input")
        shown = "" if isinstance(value, dict) or err["type"] == "extra_forbidden" else f" (got {value!r})"
        if not loc:  # a check across settings names its keys itself
            parts.append(msg.removeprefix("Value error, "))
            continue
        parts.append(f"{key}: {msg}{shown} [{_env_name(loc[:2])}]")
    return "configuration error: " + "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Load and validate settings; raise :class:`ConfigError` with a one-line message."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(f"configuration error: {exc}".replace("\n", " ")) from None
