"""Issuing and checking bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import asyncpg

from burgerwacht.audit import store as audit
from burgerwacht.auth import store
from burgerwacht.auth.models import ROLES, StaffUser
from burgerwacht.auth.scope import validate_wijken
from burgerwacht.phone import mask

TOKEN_PREFIX = "bw_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def create_user_with_token(
    conn: asyncpg.Connection,
    *,
    name: str,
    role: str,
    municipalities: list[str],
    ttl_days: int,
    actor: str = "cli",
    wijken: list[str] | None = None,
) -> tuple[int, str]:
    """Create a user and its first token; the token is returned once and never stored.
    A wijkagent names wijken (WK codes) of its one municipality; no other role does."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    wijken = sorted(set(wijken or []))
    problem = validate_wijken(role, municipalities, wijken)
    if problem:
        raise ValueError(problem)
    async with conn.transaction():
        user_id = await store.create_user(conn, name, role, municipalities, wijken)
        token = await issue_token(conn, user_id, ttl_days=ttl_days, actor=actor)
        await audit.append(
            conn,
            actor,
            "user.create",
            "staff_user",
            user_id,
            {"role": role, "municipalities": municipalities, **({"wijken": wijken} if wijken else {})},
        )
    return user_id, token


async def issue_token(conn: asyncpg.Connection, user_id: int, *, ttl_days: int, actor: str = "cli") -> str:
    token = new_token()
    expires = datetime.now(UTC) + timedelta(days=ttl_days) if ttl_days else None
    await store.add_token(conn, user_id, hash_token(token), token[:10], expires)
    await audit.append(conn, actor, "token.issue", "staff_user", user_id, {"prefix": token[:10]})
    return token


async def authenticate(pool: asyncpg.Pool, token: str) -> StaffUser | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await store.user_for_token(pool, hash_token(token))
    if row is None:
        return None
    return StaffUser(row["id"], row["name"], row["role"], tuple(row["municipalities"]), tuple(row["wijken"]))


async def set_control_room_number(conn: asyncpg.Connection, actor: str, user_id: int, number: str) -> None:
    """Set (E.164, validated by the caller) or remove ("") a user's control-room number;
    the audit log keeps it masked."""
    async with conn.transaction():
        await store.set_control_room_number(conn, user_id, number or None)
        await audit.append(
            conn,
            actor,
            "user.control_room_number",
            "staff_user",
            user_id,
            {"control_room_number": mask(number) if number else None},
        )
