from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from burgerwacht.patch import PatchModel
from burgerwacht.phone import PhoneError, parse_phone

Role = Literal["operator", "analyst", "fieldworker", "admin", "wijkagent"]
ROLES: tuple[Role, ...] = ("operator", "analyst", "fieldworker", "admin", "wijkagent")
ALL_MUNICIPALITIES = "*"
MUNICIPALITY_PATTERN = r"^(GM\d{4}|\*)$"
WIJK_PATTERN = r"^WK\d{6}$"


@dataclass(frozen=True)
class StaffUser:
    """The authenticated caller of a staff endpoint."""

    id: int
    name: str
    role: Role
    municipalities: tuple[str, ...]
    #: WK codes a wijkagent is limited to (empty: no wijk limit); see auth/scope.py.
    wijken: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        return f"user:{self.id}"

    @property
    def national(self) -> bool:
        return ALL_MUNICIPALITIES in self.municipalities

    def can_access(self, municipality: str | None) -> bool:
        return self.national or (municipality is not None and municipality in self.municipalities)

    def can_access_all(self, municipalities: Iterable[str]) -> bool:
        return all(self.can_access(m) for m in municipalities)

    def scope(self) -> list[str] | None:
        """Municipality codes to filter queries by; ``None`` means no filter (national)."""
        return None if self.national else list(self.municipalities)


class UserOut(BaseModel):
    id: int
    name: str
    role: Role
    municipalities: list[str]
    wijken: list[str] = Field(default_factory=list, description="WK codes (wijkagent only)")
    created_at: datetime
    disabled_at: datetime | None = None
    control_room_number: str | None = Field(
        default=None, description="The user's own control-room number (E.164) for the live line"
    )


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    municipalities: list[str] = Field(min_length=1)
    wijken: list[Annotated[str, Field(pattern=WIJK_PATTERN)]] = Field(
        default_factory=list,
        max_length=200,
        description="WK codes of the one municipality: required for (and only for) a wijkagent",
    )


CONTROL_ROOM_NUMBER_DOC = (
    "The operator's own control-room number for the live line (issue 17): a caller who "
    "presses 2 in an alert call, or calls the tip line about an alert, is put through to the "
    "operator who sent that alert first, then to the municipality's control room "
    "(tips.control_room_numbers). Any written form (020 123 4567, +31 20 1234567), stored "
    'in E.164; it must be a number that can be called. "" removes it.'
)


class ControlRoomPatch(PatchModel):
    """A staff user's live-line settings."""

    control_room_number: str | None = Field(default=None, max_length=40, description=CONTROL_ROOM_NUMBER_DOC)

    @field_validator("control_room_number")
    @classmethod
    def _callable(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        try:
            phone = parse_phone(value, ("*",))
        except PhoneError as exc:
            raise ValueError(exc.message_en) from None
        if not phone.can_call:
            raise ValueError("this number cannot be called")
        return phone.e164
