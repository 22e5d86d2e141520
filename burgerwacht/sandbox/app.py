"""The Twilio-compatible simulator as an aiohttp application.

It speaks Twilio's REST API (``/2010-04-01/...``) to the provider boundary and Twilio's
signed webhooks to the service, so the demo, the tests and the benchmarks exercise the
same code paths as production. ``/sandbox/*`` controls and inspects it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from burgerwacht.sandbox.config import SandboxConfig
from burgerwacht.sandbox.control import ControlApi
from burgerwacht.sandbox.media import MediaApi
from burgerwacht.sandbox.rest import RestApi
from burgerwacht.sandbox.sender import WebhookSender
from burgerwacht.sandbox.state import SandboxState
from burgerwacht.sandbox.voice import CallRunner

__all__ = ["SANDBOX_STATE", "create_sandbox_app", "run_sandbox"]

log = logging.getLogger(__name__)

SANDBOX_STATE = web.AppKey("sandbox_state", SandboxState)
_SENDER = web.AppKey("sandbox_sender", WebhookSender)
_CALLS = web.AppKey("sandbox_calls", CallRunner)


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Start the webhook sender pool with the app; stop calls and senders on exit."""
    await app[_SENDER].start()
    yield
    await app[_CALLS].stop()
    await app[_SENDER].stop()


async def _release_hanging(app: web.Application) -> None:
    """Let requests stalled by the timeout scenario finish so shutdown is quick."""
    app[SANDBOX_STATE].closing.set()


def create_sandbox_app(config: SandboxConfig) -> web.Application:
    """Build the simulator for ``config`` (the startup scenario, restored by reset)."""
    # room for injected picture messages (base64 media in the JSON of /sandbox/inbound/sms)
    app = web.Application(client_max_size=32 * 1024 * 1024)
    state = SandboxState(config)
    sender = WebhookSender(state)
    calls = CallRunner(state, sender)
    app[SANDBOX_STATE] = state
    app[_SENDER] = sender
    app[_CALLS] = calls
    app.router.add_routes(RestApi(state, sender, calls).routes())
    app.router.add_routes(ControlApi(state, sender, calls).routes())
    app.router.add_routes(MediaApi(state).routes())
    app.cleanup_ctx.append(_background)
    app.on_shutdown.append(_release_hanging)
    return app


def run_sandbox(config: SandboxConfig, host: str, port: int) -> None:
    """Serve the simulator until interrupted (``burgerwacht sandbox``)."""
    url = f"http://{host}:{port}"

    def announce(*_: object) -> None:
        print(f"Twilio sandbox listening on {url} (account {config.account_sid})", flush=True)

    web.run_app(
        create_sandbox_app(config),
        host=host,
        port=port,
        print=announce,
        access_log=None,
        shutdown_timeout=5.0,
    )
