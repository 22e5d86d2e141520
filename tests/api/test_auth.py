"""Staff access: 401 without a valid token, 403 outside role or scope, revocation, expiry."""

from __future__ import annotations

import subprocess
import sys

from burgerwacht.web.errors import PROBLEM_JSON


async def test_no_token_is_401(client):
    resp = await client.get("/api/v1/me")
    assert resp.status == 401
    assert resp.content_type == PROBLEM_JSON
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_bad_token_is_401(client):
    for header in ("Bearer bw_nonsense", "Basic dXNlcjpwYXNz", "Bearer ", "bw_x"):
        resp = await client.get("/api/v1/me", headers={"Authorization": header})
        assert resp.status == 401, header


async def test_valid_token_identifies_the_user(client, staff):
    headers = await staff("operator", "GM9999", "GM0363", name="Centralist A")
    resp = await client.get("/api/v1/me", headers=headers)
    assert resp.status == 200
    me = await resp.json()
    assert me["name"] == "Centralist A" and me["role"] == "operator"
    assert me["municipalities"] == ["GM9999", "GM0363"]


async def test_wrong_role_is_403(client, staff):
    headers = await staff("analyst", "GM9999")
    resp = await client.get("/api/v1/users", headers=headers)
    assert resp.status == 403
    assert (await resp.json())["type"].endswith("/forbidden-role")


async def test_outside_scope_is_403(client, staff):
    admin = await staff("admin", "GM9999")
    resp = await client.post(
        "/api/v1/users", json={"name": "x", "role": "operator", "municipalities": ["GM0363"]}, headers=admin
    )
    assert resp.status == 403
    assert "GM0363" in (await resp.json())["detail"]
    resp = await client.post(
        "/api/v1/users", json={"name": "x", "role": "operator", "municipalities": ["GM9999"]}, headers=admin
    )
    assert resp.status == 201
    token = (await resp.json())["token"]
    resp = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200


async def test_tokens_are_stored_hashed_and_can_be_revoked(client, staff, db):
    headers = await staff("operator", "GM9999")
    token = headers["Authorization"].split()[1]
    stored = await db.fetch("SELECT token_hash, prefix FROM staff_tokens")
    assert all(token.encode() not in bytes(r["token_hash"]) for r in stored)
    assert all(len(r["prefix"]) == 10 for r in stored)
    await db.execute("UPDATE staff_tokens SET revoked_at = now()")
    resp = await client.get("/api/v1/me", headers=headers)
    assert resp.status == 401


async def test_expired_token_is_401(client, staff, db):
    headers = await staff("operator", "GM9999")
    await db.execute("UPDATE staff_tokens SET expires_at = now() - interval '1 second'")
    resp = await client.get("/api/v1/me", headers=headers)
    assert resp.status == 401
    assert "expired" in (await resp.json())["detail"]


def test_cli_user_create_prints_token_last_and_revoke_works(db_url):
    env = {"BURGERWACHT_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    create = subprocess.run(
        [
            sys.executable,
            "-m",
            "burgerwacht",
            "user",
            "create",
            "--name",
            "Ops",
            "--role",
            "operator",
            "--municipality",
            "GM9999",
            "--municipality",
            "GM0363",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert create.returncode == 0, create.stderr
    token = create.stdout.strip().splitlines()[-1]
    assert token.startswith("bw_") and len(token) > 40
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "burgerwacht",
            "user",
            "create",
            "--name",
            "X",
            "--role",
            "operator",
            "--municipality",
            "Utrecht",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "GM0000" in bad.stderr
    revoke = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "user", "revoke", "--token-prefix", token[:10]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoke.returncode == 0 and "revoked 1" in revoke.stdout
