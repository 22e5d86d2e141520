from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

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


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    municipalities: list[str] = Field(min_length=1)
    wijken: list[Annotated[str, Field(pattern=WIJK_PATTERN)]] = Field(
        default_factory=list,
        max_length=200,
        description="WK codes of the one municipality: required for (and only for) a wijkagent",
    )
