"""A Twilio-compatible simulator for the demo, the tests and the benchmarks."""

from burgerwacht.sandbox.app import SANDBOX_STATE, create_sandbox_app, run_sandbox
from burgerwacht.sandbox.config import SandboxConfig, ScenarioError, apply_scenario
from burgerwacht.sandbox.state import SandboxState

__all__ = [
    "SANDBOX_STATE",
    "SandboxConfig",
    "SandboxState",
    "ScenarioError",
    "apply_scenario",
    "create_sandbox_app",
    "run_sandbox",
]
