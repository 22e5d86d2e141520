"""Staff routes: who am I, and user management for admins."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from burgerwacht.auth import service, store
from burgerwacht.auth.models import ROLES, ControlRoomPatch, NewUser, Role, UserOut
from burgerwacht.auth.scope import validate_wijken
from burgerwacht.web.api import Api, check_scope, current_user
from burgerwacht.web.errors import Problem
from burgerwacht.web.keys import POOL, SETTINGS

api = Api()
ANY_STAFF = ROLES


class Me(BaseModel):
    id: int
    name: str
    role: Role
    municipalities: list[str]
    wijken: list[str] = Field(default_factory=list, description="WK codes (wijkagent only)")
    control_room_number: str | None = Field(
        default=None, description="Your control-room number for the live line (E.164), set with PATCH"
    )


class NewUserOut(BaseModel):
    user: UserOut
    token: str = Field(description="Shown once; store it safely.")


class UserList(BaseModel):
    items: list[UserOut]
    next: str | None = None


@api.get(
    "/api/v1/me",
    summary="The caller's identity, role and scope",
    tags=["staff"],
    roles=ANY_STAFF,
    response=Me,
)
async def me(request: web.Request):
    u = current_user(request)
    async with request.app[POOL].acquire() as conn:
        row = await store.user(conn, u.id)
    return Me(
        id=u.id,
        name=u.name,
        role=u.role,
        municipalities=list(u.municipalities),
        wijken=list(u.wijken),
        control_room_number=row["control_room_number"] if row else None,
    )


LIVE_LINE_ROLES = {"operator", "admin"}  # those who send or approve alerts


@api.patch(
    "/api/v1/me",
    summary="Set your own control-room number for the live line (operators and admins)",
    tags=["staff"],
    roles=LIVE_LINE_ROLES,
    body=ControlRoomPatch,
    response=Me,
    responses={422: "Not a number that can be called"},
)
async def patch_me(request: web.Request, body: ControlRoomPatch):
    u = current_user(request)
    if body.control_room_number is not None:
        async with request.app[POOL].acquire() as conn:
            await service.set_control_room_number(conn, u.actor, u.id, body.control_room_number)
    return await me(request)


@api.patch(
    "/api/v1/users/{user_id:\\d+}",
    summary="Set a staff user's control-room number for the live line (admin, users in scope)",
    tags=["staff"],
    roles={"admin"},
    body=ControlRoomPatch,
    response=UserOut,
    responses={404: "Unknown user, or outside your scope", 422: "Not a number that can be called"},
)
async def patch_user(request: web.Request, body: ControlRoomPatch):
    admin = current_user(request)
    raw = request.match_info["user_id"]
    user_id = int(raw) if len(raw) <= 18 else 0
    async with request.app[POOL].acquire() as conn:
        row = await store.user(conn, user_id)
        if row is None or not (admin.national or set(row["municipalities"]) <= set(admin.municipalities)):
            raise Problem(404, f"no user {raw}", slug="not-found")
        if body.control_room_number is not None:
            await service.set_control_room_number(conn, admin.actor, user_id, body.control_room_number)
            row = await store.user(conn, user_id)
    return UserOut(**dict(row))


@api.get("/api/v1/users", summary="List staff users", tags=["staff"], roles={"admin"}, response=UserList)
async def list_users(request: web.Request):
    user = current_user(request)
    async with request.app[POOL].acquire() as conn:
        rows = await store.list_users(conn)
    items = [
        UserOut(**dict(r))
        for r in rows
        if user.national or set(r["municipalities"]) <= set(user.municipalities)
    ]
    return UserList(items=items)


@api.post(
    "/api/v1/users",
    summary="Create a staff user and its first token",
    tags=["staff"],
    roles={"admin"},
    body=NewUser,
    response=NewUserOut,
    status=201,
)
async def create_user(request: web.Request, body: NewUser):
    admin = current_user(request)
    check_scope(admin, body.municipalities)
    for code in body.municipalities:
        if code != "*" and not (
            len(code) == 6 and code.startswith("GM") and code[2:].isascii() and code[2:].isdigit()
        ):
            raise Problem(422, f"not a CBS municipality code: {code}", slug="validation-error")
    problem = validate_wijken(body.role, body.municipalities, body.wijken)
    if problem:
        raise Problem(422, problem, slug="validation-error")
    async with request.app[POOL].acquire() as conn:
        user_id, token = await service.create_user_with_token(
            conn,
            name=body.name,
            role=body.role,
            municipalities=body.municipalities,
            ttl_days=request.app[SETTINGS].auth.token_ttl_days,
            actor=admin.actor,
            wijken=body.wijken,
        )
        row = next(r for r in await store.list_users(conn) if r["id"] == user_id)
    return NewUserOut(user=UserOut(**dict(row)), token=token)
