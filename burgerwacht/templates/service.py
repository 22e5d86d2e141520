"""Alert templates: who may see and manage which, their checks, the starter set, and
turning ``POST /api/v1/alerts`` with ``template_id`` and ``fields`` into a normal alert
body.

**Scope.** A template belongs to a municipality (GM code) or is national
(``municipality`` null: for every municipality). Operators see their municipalities'
templates and the national ones and manage their municipalities' (a national one is
read-only to them: 403); admins see and manage all. A template outside the caller's
view is a 404.

**An alert from a template.** The template supplies level, title, message,
voice_message, channels and expires_in_minutes; each of these given in the request
overrides the template's (and is taken literally, not filled). The placeholders of the
template texts that are used must all have a value in ``fields`` (a missing one is a 422
naming it), and ``fields`` may name only placeholders the template has. ``target`` stays
required: a circle given without ``radius_m`` takes the template's ``radius_m``. The
result is validated as any alert body (``AlertIn``): a filled text over the limits, or a
missing-person level without ``family_consent``, is the usual 422.
"""

from __future__ import annotations

import tomllib
from typing import Any

import asyncpg
from pydantic import BaseModel, ValidationError

from burgerwacht.alerts.models import AlertIn
from burgerwacht.audit import store as audit
from burgerwacht.auth.models import StaffUser
from burgerwacht.config import Settings
from burgerwacht.errors import DomainError
from burgerwacht.resources import PACKAGE
from burgerwacht.templates import placeholders, store
from burgerwacht.templates.models import TEMPLATE_KEYS, AlertFromTemplate, TemplateIn, TemplateOut
from burgerwacht.web.errors import validation_problem

TEXTS = ("title", "message", "voice_message")
#: What a template supplies to an alert (the request may override each).
SUPPLIED = ("level", "title", "message", "voice_message", "channels", "expires_in_minutes")
STARTERS = "starters.toml"


# ------------------------------------------------------------------ scope


def visible(user: StaffUser, row: asyncpg.Record) -> bool:
    m = row["municipality_code"]
    return user.role == "admin" or m is None or user.can_access(m)


def _may_manage(user: StaffUser, municipality: str | None) -> None:
    if user.role == "admin":
        return
    if municipality is None:
        raise DomainError(
            403, "forbidden-scope", "national templates (municipality null) are managed by admins"
        )
    if not user.can_access(municipality):
        raise DomainError(403, "forbidden-scope", f"outside your scope: {municipality}", field="municipality")


async def load_for(conn: asyncpg.Connection, user: StaffUser, template_id: int, *, lock: bool = False):
    row = await store.template(conn, template_id, lock=lock)
    if row is None or not visible(user, row):
        raise DomainError(404, "not-found", f"no template {template_id}")
    return row


# ------------------------------------------------------------------ views and checks


def placeholders_of(row: Any) -> list[str]:
    return sorted(set().union(*(placeholders.names(row[t]) for t in TEXTS)))


def to_out(row: asyncpg.Record) -> TemplateOut:
    return TemplateOut(
        id=row["id"],
        name=row["name"],
        municipality=row["municipality_code"],
        level=row["level"],
        title=row["title"],
        message=row["message"],
        voice_message=row["voice_message"],
        channels=list(row["channels"]),
        expires_in_minutes=row["expires_in_minutes"],
        radius_m=row["radius_m"],
        placeholders=placeholders_of(row),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _check_limits(settings: Settings, body: TemplateIn) -> None:
    limits = settings.alerts
    if body.expires_in_minutes > limits.max_expires_minutes:
        raise DomainError(
            422,
            "expiry-too-long",
            f"expires_in_minutes: at most {limits.max_expires_minutes}",
            field="expires_in_minutes",
        )
    if body.radius_m is not None and body.radius_m > limits.max_radius_m:
        raise DomainError(
            422, "radius-too-large", f"radius_m: at most {limits.max_radius_m} m", field="radius_m"
        )


def _values(body: TemplateIn) -> dict[str, Any]:
    values = body.model_dump()
    values["municipality_code"] = values.pop("municipality")
    return values


def _name_taken(body: TemplateIn) -> DomainError:
    where = f"municipality {body.municipality}" if body.municipality else "the national templates"
    return DomainError(
        409, "name-taken", f"name: {where} already has a template named {body.name!r}", field="name"
    )


# ------------------------------------------------------------------ create, change, delete


async def create(
    conn: asyncpg.Connection, settings: Settings, user: StaffUser, body: TemplateIn
) -> TemplateOut:
    """Store a template (in the caller's transaction)."""
    _may_manage(user, body.municipality)
    _check_limits(settings, body)
    try:
        row = await store.insert(conn, _values(body), user.actor)
    except store.NameTaken:
        raise _name_taken(body) from None
    assert row is not None
    await audit.append(
        conn,
        user.actor,
        "template.create",
        "template",
        row["id"],
        {"name": body.name, "municipality": body.municipality},
    )
    return to_out(row)


async def change(
    conn: asyncpg.Connection, settings: Settings, user: StaffUser, template_id: int, changes: dict[str, Any]
) -> TemplateOut:
    """Apply a partial change; the whole result is checked as a new template would be."""
    row = await load_for(conn, user, template_id, lock=True)
    _may_manage(user, row["municipality_code"])
    current = {k: row[k] for k in store.FIELDS if k != "municipality_code"}
    current["municipality"] = row["municipality_code"]
    current["channels"] = list(row["channels"])
    if changes.get("voice_message") == "":
        changes["voice_message"] = None
    if changes.get("radius_m") == 0:
        changes["radius_m"] = None
    try:
        body = TemplateIn.model_validate({**current, **changes})
    except ValidationError as exc:
        raise validation_problem(exc, location="body") from None
    _may_manage(user, body.municipality)
    _check_limits(settings, body)
    try:
        new = await store.update(conn, template_id, _values(body))
    except store.NameTaken:
        raise _name_taken(body) from None
    await audit.append(
        conn, user.actor, "template.update", "template", template_id, {"fields": sorted(changes)}
    )
    return to_out(new)


async def delete(conn: asyncpg.Connection, user: StaffUser, template_id: int) -> None:
    """Alerts made from it keep their texts; their template_id becomes null."""
    row = await load_for(conn, user, template_id, lock=True)
    _may_manage(user, row["municipality_code"])
    await store.delete(conn, template_id)
    await audit.append(conn, user.actor, "template.delete", "template", template_id, {"name": row["name"]})


# ------------------------------------------------------------------ alerts from a template


def _validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, location="body") from None


async def alert_body(pool: asyncpg.Pool, user: StaffUser, data: Any) -> tuple[AlertIn, int | None]:
    """The alert a ``POST /api/v1/alerts`` JSON body describes, and the template it names
    (None without ``template_id``: the body is validated as before)."""
    if not (isinstance(data, dict) and "template_id" in data):
        return _validate(AlertIn, data), None
    request = _validate(AlertFromTemplate, data)
    async with pool.acquire() as conn:
        row = await store.template(conn, request.template_id)
    if row is None or not visible(user, row):
        raise DomainError(
            404, "not-found", f"template_id: no template {request.template_id}", field="template_id"
        )
    return _validate(AlertIn, fill(row, data, request.fields)), row["id"]


def fill(row: Any, data: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """A normal alert body: the template's values with the placeholders of the texts it
    supplies filled, then the request's own values (null: the template's) over them."""
    given = {k: v for k, v in data.items() if k not in TEMPLATE_KEYS and v is not None}
    used = [t for t in TEXTS if t not in given and row[t] is not None]
    required = set().union(*(placeholders.names(row[t]) for t in used))
    known = set(placeholders_of(row))
    ref = f"template {row['id']}"
    errors = [
        {"loc": f"body.fields.{name}", "msg": f"fields.{name} is required by {ref}", "type": "missing"}
        for name in sorted(required - fields.keys())
    ]
    has = ", ".join(sorted(known)) or "none"
    errors += [
        {
            "loc": f"body.fields.{name}",
            "msg": f"fields.{name}: {ref} has no placeholder {{{name}}} (it has: {has})",
            "type": "unknown-placeholder",
        }
        for name in sorted(fields.keys() - known)
    ]
    if errors:
        detail = "; ".join(e["msg"] for e in errors)
        raise DomainError(422, "template-fields", detail, title="Validation failed", errors=errors)
    body: dict[str, Any] = {k: row[k] for k in SUPPLIED if row[k] is not None}
    body["channels"] = list(row["channels"])
    for t in used:
        body[t] = placeholders.fill(row[t], fields)
    body.update(given)
    target = body.get("target")
    if (
        isinstance(target, dict)
        and target.get("type") == "circle"
        and target.get("radius_m") is None
        and row["radius_m"] is not None
    ):
        body["target"] = {**target, "radius_m": row["radius_m"]}
    return body


# ------------------------------------------------------------------ the starter set


def starters() -> list[TemplateIn]:
    """The starter set in plain Dutch (``starters.toml``), each checked as a template."""
    text = (PACKAGE / "templates" / STARTERS).read_text(encoding="utf-8")
    return [TemplateIn.model_validate({"municipality": None, **t}) for t in tomllib.loads(text)["template"]]


async def load_starters(
    conn: asyncpg.Connection, municipality: str | None = None, actor: str = "system"
) -> tuple[int, int]:
    """Store the starter templates that are missing (by name), national or for one
    municipality; templates already there (edited or not) are left alone. Returns
    (created, already there)."""
    created = 0
    sets = starters()
    async with conn.transaction():
        for t in sets:
            values = _values(t.model_copy(update={"municipality": municipality}))
            row = await store.insert(conn, values, actor, if_missing=True)
            if row is not None:
                created += 1
                await audit.append(
                    conn, actor, "template.create", "template", row["id"], {"name": t.name, "starter": True}
                )
    return created, len(sets) - created
