"""The one check every provider webhook starts with."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from burgerwacht import metrics
from burgerwacht.messaging import verify_signature
from burgerwacht.web.keys import SETTINGS


async def signed_form(request: web.Request) -> MultiDictProxy[str]:
    """The form of a webhook signed by the provider for ``public_url`` + path; 403 (and a
    metric, labelled by the path below /twilio/) otherwise, before anything is done."""
    s = request.app[SETTINGS]
    try:
        return await verify_signature(request, auth_token=s.twilio.auth_token, public_url=s.public_base)
    except web.HTTPForbidden:
        kind = request.path.removeprefix("/twilio/").split("/")[0] or "?"
        metrics.WEBHOOKS.labels(kind, "forbidden").inc()
        raise
