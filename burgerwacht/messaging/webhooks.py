"""Twilio webhook signatures: verify what arrives, sign what the simulator sends.

The signature covers the URL Twilio requested, so it must be checked against the
configured public URL: behind a TLS-terminating proxy ``request.url`` says
``http://10.0.0.5:8080/...`` while Twilio signed ``https://burgerwacht.example/...``.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

__all__ = ["SIGNATURE_HEADER", "sign", "verify_signature", "webhook_url"]

SIGNATURE_HEADER = "X-Twilio-Signature"


def webhook_url(public_url: str, request: web.Request) -> str:
    """The URL Twilio signed: the public base plus the raw path and query."""
    return public_url.rstrip("/") + request.raw_path


async def verify_signature(request: web.Request, *, auth_token: str, public_url: str) -> MultiDictProxy[str]:
    """Return the form parameters of a genuine Twilio webhook, else raise 403.

    Reads the (form-encoded) body; files are not expected and are rejected by the
    signature anyway.
    """
    signature = request.headers.get(SIGNATURE_HEADER, "")
    form = await request.post()
    params = MultiDictProxy(MultiDict((k, v) for k, v in form.items() if isinstance(v, str)))
    url = webhook_url(public_url, request)
    if not signature or not RequestValidator(auth_token).validate(url, params, signature):
        raise web.HTTPForbidden(reason="invalid Twilio signature")
    return params


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature value Twilio would send for ``params`` posted to ``url``."""
    return RequestValidator(auth_token).compute_signature(url, params)
