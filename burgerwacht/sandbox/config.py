"""Simulator configuration: the scenario a test, demo or benchmark runs against.

Everything can be changed at runtime through ``POST /sandbox/scenario`` so one running
simulator serves many test cases; :func:`apply_scenario` validates and merges.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SandboxConfig", "ScenarioError", "apply_scenario", "config_to_json"]


@dataclass
class SandboxConfig:
    """How the simulated Twilio account behaves.

    Number sets hold E.164 numbers. Besides them, Twilio's documented magic test
    numbers behave as on Twilio's test credentials (``+15005550001`` invalid,
    ``+15005550004`` opted out, ``+15005550009`` not mobile).
    """

    account_sid: str = "ACdemo0000000000000000000000000000"
    auth_token: str = "demo-auth-token"  # noqa: S105 - the demo configuration's token
    #: Burgerwacht's public URL: inbound SMS go to {service_url}/twilio/sms, inbound
    #: calls to {service_url}/twilio/voice/tipline.
    service_url: str | None = None
    #: The service's own number (the To of injected inbound traffic).
    phone_number: str = "+3197010000000"
    seed: int = 0
    # --- status callbacks -----------------------------------------------------------
    #: Post status callbacks at all (messages and calls; a call's TwiML is still fetched).
    callbacks: bool = True
    #: Seconds between a message's status callbacks.
    callback_delay: float = 0.0
    #: Seconds between the API answer and a message's first status callback (Twilio's
    #: 'sent' usually follows the create by a second or more).
    callback_first_delay: float = 0.0
    reorder_rate: float = 0.0
    #: Post each message's callbacks in a random order (not only the last two swapped).
    shuffle_callbacks: bool = False
    duplicate_rate: float = 0.0
    #: How many times a duplicated callback is posted in all (Twilio retries can
    #: deliver one callback more than twice).
    duplicate_copies: int = 2
    #: Also post ``queued`` and ``sending`` (Twilio does so for Messaging Services).
    full_status_callbacks: bool = False
    callback_concurrency: int = 32
    callback_timeout: float = 10.0
    # --- REST faults ----------------------------------------------------------------
    #: Account limits (a one-second burst), answered 429/20429 with a Retry-After.
    sms_per_second: float | None = None
    calls_per_second: float | None = None
    #: Per sender (the From number) SMS limit, as Twilio's 10/s per long code; counted
    #: apart (``rate_limited_sender``) from the account limit (``rate_limited_account``).
    sms_per_sender_per_second: float | None = None
    #: Share of creates answered 500. By default nothing was created; with
    #: ``error_after_share`` that share of them is answered 500 *after* the message or
    #: call was created (Twilio can do this: the client must reconcile, not resend).
    error_rate: float = 0.0
    error_after_share: float = 0.0
    #: Share of creates that hang for ``hang_seconds`` (past the client's timeout);
    #: ``hang_after_share`` of them after the message or call was created.
    timeout_rate: float = 0.0
    hang_after_share: float = 0.5
    hang_seconds: float = 30.0
    latency: float = 0.0
    #: Bursts of 429: of every ``rate_limit_burst_every`` creates (messages and calls
    #: counted together) the first ``rate_limit_burst_length`` are answered 429/20429
    #: and nothing is created, whatever the token buckets say. 0 disables.
    rate_limit_burst_every: int = 0
    rate_limit_burst_length: int = 0
    # --- per-number behaviour -------------------------------------------------------
    invalid_numbers: set[str] = field(default_factory=set)  # 400 / 21211
    not_mobile_numbers: set[str] = field(default_factory=set)  # 400 / 21614
    opted_out_numbers: set[str] = field(default_factory=set)  # 400 / 21610
    landline_numbers: set[str] = field(default_factory=set)  # SMS undelivered / 30006
    unreachable_numbers: set[str] = field(default_factory=set)  # SMS undelivered / 30003
    #: Any other delivery error per number, e.g. {"+316...": 30005}.
    delivery_errors: dict[str, int] = field(default_factory=dict)
    # --- calls ------------------------------------------------------------------------
    machine_numbers: set[str] = field(default_factory=set)  # AnsweredBy machine_*
    busy_numbers: set[str] = field(default_factory=set)
    no_answer_numbers: set[str] = field(default_factory=set)
    #: Keys pressed per number, consumed by <Gather> in order, e.g. {"+316...": "2"}.
    call_digits: dict[str, str] = field(default_factory=dict)
    #: Seconds a <Dial>led number that answers stays connected (DialCallDuration). A
    #: dialled number answers unless it is in busy_numbers (busy), no_answer_numbers or
    #: unreachable_numbers (no-answer after the Dial's timeout, in simulated time) or
    #: invalid_numbers (failed).
    dial_talk_seconds: int = 30
    #: Seconds of audio a <Record> captures (0: silence, no recording).
    record_seconds: int = 5
    max_call_steps: int = 20
    #: Outbound calls the simulator runs at once (a resource of the simulator itself).
    call_concurrency: int = 64
    #: The account's concurrency limit: outbound calls in progress at once (from the
    #: create until the call ends). Twilio queues calls over its limit; the simulator
    #: refuses them (429/20429, counted as ``calls_over_concurrency``) so a test sees
    #: any excess at once. ``/sandbox/stats`` reports ``calls.in_progress`` and the most
    #: seen, ``calls.max_in_progress``, whatever the limit.
    max_concurrent_calls: int | None = None
    #: Real seconds every outbound call lasts before it ends (answered or not), so calls
    #: overlap in time as real ones do; 0: a call ends as soon as its TwiML is done.
    call_seconds: float = 0.0


class ScenarioError(ValueError):
    """A scenario update names an unknown field or has a wrong type."""


_FIELDS = {f.name: f for f in dataclasses.fields(SandboxConfig)}
_HINTS = typing.get_type_hints(SandboxConfig)


def _coerce(name: str, value: Any) -> Any:
    """Convert a JSON value to the field's type (lists become sets, ints floats)."""
    hint = _HINTS[name]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    optional = origin in (typing.Union, types.UnionType) and type(None) in args
    if value is None:
        if optional:
            return None
        raise ScenarioError(f"{name} may not be null")
    if optional:
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is set:
        if not isinstance(value, list | set | tuple) or not all(isinstance(v, str) for v in value):
            raise ScenarioError(f"{name} must be a list of strings")
        return set(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ScenarioError(f"{name} must be an object")
        value_type = typing.get_args(hint)[1]
        try:
            return {str(k): value_type(v) for k, v in value.items()}
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{name}: {exc}") from exc
    if hint is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{name} must be a boolean")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{name} must be a number")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{name} must be a string")
        return value
    return value


def apply_scenario(config: SandboxConfig, changes: dict[str, Any]) -> SandboxConfig:
    """A copy of ``config`` with ``changes`` (JSON field values) applied.

    Each named field is replaced as a whole (sets and dicts too), so a test states
    the complete scenario it wants.
    """
    unknown = sorted(set(changes) - set(_FIELDS))
    if unknown:
        raise ScenarioError(f"unknown scenario fields: {', '.join(unknown)}")
    updates = {name: _coerce(name, value) for name, value in changes.items()}
    for name in (
        "reorder_rate",
        "duplicate_rate",
        "error_rate",
        "error_after_share",
        "timeout_rate",
        "hang_after_share",
    ):
        rate = updates.get(name, getattr(config, name))
        if not 0.0 <= rate <= 1.0:
            raise ScenarioError(f"{name} must be between 0 and 1")
    for name in ("callback_concurrency", "call_concurrency", "max_call_steps", "max_concurrent_calls"):
        value = updates.get(name, getattr(config, name))
        if value is not None and value < 1:
            raise ScenarioError(f"{name} must be at least 1")
    for name in (
        "callback_delay",
        "callback_first_delay",
        "hang_seconds",
        "latency",
        "rate_limit_burst_every",
        "rate_limit_burst_length",
        "duplicate_copies",
        "dial_talk_seconds",
        "call_seconds",
    ):
        if updates.get(name, getattr(config, name)) < 0:
            raise ScenarioError(f"{name} must not be negative")
    return dataclasses.replace(config, **updates)


def config_to_json(config: SandboxConfig) -> dict[str, Any]:
    """JSON-ready form (sets as sorted lists)."""
    result: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(config, name)
        result[name] = sorted(value) if isinstance(value, set) else value
    return result
