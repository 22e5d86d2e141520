"""Keyed hashing and symmetric encryption from ``security.secret_key``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken


def keyed_hash(secret: str, *parts: str) -> bytes:
    """HMAC-SHA256 over the parts; for one-time codes (never stored in clear)."""
    return hmac.new(secret.encode(), "\x1f".join(parts).encode(), hashlib.sha256).digest()


@cache
def _fernet(secret: str, purpose: str) -> Fernet:
    key = hashlib.sha256(f"{purpose}\x1f{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str, purpose: str, plaintext: str) -> str:
    return _fernet(secret, purpose).encrypt(plaintext.encode()).decode()


def decrypt(secret: str, purpose: str, token: str) -> str | None:
    try:
        return _fernet(secret, purpose).decrypt(token.encode()).decode()
    except InvalidToken:
        return None
