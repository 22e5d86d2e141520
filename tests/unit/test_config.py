"""Configuration layering and one-line errors naming the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from burgerwacht.config import ConfigError, load_settings


def test_defaults_file_then_env(monkeypatch, tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text('public_url = "https://alerts.example.nl"\n[twilio]\nsms_per_second = 42\n')
    monkeypatch.setenv("BURGERWACHT_CONFIG", str(cfg))
    s = load_settings()
    assert s.public_base == "https://alerts.example.nl"
    assert s.twilio.sms_per_second == 42
    assert s.twilio.calls_per_second == 1.0  # untouched default from default.toml
    monkeypatch.setenv("BURGERWACHT_TWILIO__SMS_PER_SECOND", "7.5")
    monkeypatch.setenv("BURGERWACHT_PUBLIC_URL", "https://other.example.nl/")
    s = load_settings()
    assert s.twilio.sms_per_second == 7.5
    assert s.public_base == "https://other.example.nl"


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("BURGERWACHT_TWILIO__SMS_PER_SECOND", "-1", "twilio.sms_per_second"),
        ("BURGERWACHT_TWILIO__SMS_PER_SECOND", "fast", "twilio.sms_per_second"),
        ("BURGERWACHT_PUBLIC_URL", "not a url", "public_url"),
        ("BURGERWACHT_DATABASE_URL", "mysql://x", "database_url"),
        ("BURGERWACHT_HTTP__PORT", "70000", "http.port"),
        ("BURGERWACHT_TWILIO__FROM_NUMBER", "0612345678", "twilio.from_number"),
    ],
)
def test_bad_values_name_the_key(monkeypatch, env, value, key):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("configuration error: " + key)
    assert env in message


def test_unknown_key_in_file(monkeypatch, tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text("[twilio]\nsms_per_secnd = 5\n")
    monkeypatch.setenv("BURGERWACHT_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=r"twilio.sms_per_secnd: unknown setting"):
        load_settings()


def test_missing_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("BURGERWACHT_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="file not found"):
        load_settings()


def test_cli_stops_with_one_line_and_no_traceback():
    env = {**os.environ, "BURGERWACHT_TWILIO__CALLS_PER_SECOND": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "twilio.calls_per_second" in lines[0]
    assert "Traceback" not in proc.stderr


REAL = {
    "security": {"secret_key": "0123456789abcdef0123456789abcdef"},
    "twilio": {"account_sid": "AC" + "0123456789abcdef" * 2, "auth_token": "f" * 32},
}


@pytest.mark.parametrize(
    ("demo", "setting", "env"),
    [
        (
            {"security": {"secret_key": "development-only-secret-key-change-me"}},
            "security.secret_key",
            "SECURITY__SECRET_KEY",
        ),
        (
            {"security": {"secret_key": "demo-secret-key-not-for-production"}},
            "security.secret_key",
            "SECURITY__SECRET_KEY",
        ),
        ({"twilio": {"auth_token": "demo-auth-token"}}, "twilio.auth_token", "TWILIO__AUTH_TOKEN"),
        (
            {"twilio": {"account_sid": "ACdemo0000000000000000000000000000"}},
            "twilio.account_sid",
            "TWILIO__ACCOUNT_SID",
        ),
    ],
)
def test_production_refuses_demo_secrets_and_names_the_setting(monkeypatch, demo, setting, env):
    monkeypatch.delenv("BURGERWACHT_CONFIG", raising=False)
    values = {section: {**REAL[section], **demo.get(section, {})} for section in REAL}
    load_settings(environment="production", **REAL)  # real values start
    load_settings(environment="development", **values)  # demo values are fine outside production
    with pytest.raises(ConfigError) as exc:
        load_settings(environment="production", **values)
    message = str(exc.value)
    assert setting in message and f"BURGERWACHT_{env}" in message and "\n" not in message
    assert demo[setting.split(".")[0]][setting.split(".")[1]] not in message  # the secret is not echoed


def test_production_lists_every_demo_secret_at_once(monkeypatch):
    monkeypatch.delenv("BURGERWACHT_CONFIG", raising=False)
    with pytest.raises(ConfigError) as exc:
        load_settings(environment="production")
    for setting in ("security.secret_key", "twilio.auth_token", "twilio.account_sid"):
        assert setting in str(exc.value)


def test_sender_pool_from_the_environment(monkeypatch):
    monkeypatch.setenv("BURGERWACHT_TWILIO__FROM_NUMBERS", '["+3197010000011", "+3197010000012"]')
    monkeypatch.setenv("BURGERWACHT_TWILIO__PER_SENDER_PER_SECOND", "10")
    monkeypatch.setenv("BURGERWACHT_TWILIO__SMS_PER_SECOND", "150")
    t = load_settings().twilio
    assert t.senders == ["+3197010000011", "+3197010000012"]
    assert t.sms_rate == 20  # two senders at 10/s cannot reach the account's 150/s
    monkeypatch.delenv("BURGERWACHT_TWILIO__FROM_NUMBERS")
    assert load_settings().twilio.senders == [load_settings().twilio.from_number]  # a pool of one
    monkeypatch.setenv("BURGERWACHT_TWILIO__MESSAGING_SERVICE_SID", "MG" + "0" * 32)
    t = load_settings().twilio
    assert t.senders == ["MG" + "0" * 32] and t.sms_rate == 150  # Twilio applies per-sender limits


def test_a_pool_and_a_messaging_service_together_are_refused(monkeypatch):
    monkeypatch.setenv("BURGERWACHT_TWILIO__FROM_NUMBERS", '["+3197010000011"]')
    monkeypatch.setenv("BURGERWACHT_TWILIO__MESSAGING_SERVICE_SID", "MG" + "0" * 32)
    with pytest.raises(ConfigError, match=r"from_numbers or twilio\.messaging_service_sid"):
        load_settings()
    monkeypatch.setenv("BURGERWACHT_TWILIO__FROM_NUMBERS", '["0612345678"]')
    monkeypatch.delenv("BURGERWACHT_TWILIO__MESSAGING_SERVICE_SID")
    with pytest.raises(ConfigError, match=r"twilio\.from_numbers"):
        load_settings()
