"""The test service's fixed credentials and its settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from burgerwacht.config import Settings, load_settings

TEST_SID = "AC" + "test" + "0" * 28


TEST_TOKEN = "test-auth-token-0123456789"


SERVICE_NUMBER = "+3197010000001"


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (keeps ?host= for sockets)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def make_settings(db_url: str, service_port: int, sandbox_port: int, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": db_url,
        "public_url": f"http://127.0.0.1:{service_port}",
        "environment": "test",
        "twilio": {
            "account_sid": TEST_SID,
            "auth_token": TEST_TOKEN,
            "api_base": f"http://127.0.0.1:{sandbox_port}",
            "from_number": SERVICE_NUMBER,
            "sms_per_second": 1000.0,
            "per_sender_per_second": 1000.0,  # the pool of one must not hold the account back
            "calls_per_second": 1000.0,
            "timeout_seconds": 2.0,
        },
        "logging": {"level": "INFO", "json": True},
        # no base map: the browser tests refuse every request off the machine (a test
        # that wants tiles serves them locally and sets console.tiles_url itself)
        "console": {"tiles_url": ""},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return load_settings(**base)
